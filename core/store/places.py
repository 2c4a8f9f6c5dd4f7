"""Places of photos with EXIF GPS (revision 0005): the rows ``core.tagging.places`` reads and writes, the list of
places, and matching a place name typed in a search.

``photos.city`` / ``photos.country`` hold the populated place of a GPS photo's position, ``photos.place_landmark``
the catalog landmark it lies at (or ``NULL``), ``photos.placed_at`` when that was computed (``NULL``: still to
do). Which landmark and place a position gets is decided by ``core.tagging.places``; this module only stores it.

Place names typed in a search (``match_places``) are compared folded: case-insensitive and without accents
(``"hue"`` finds ``"Huế"``, ``"koln"`` finds ``"Köln"``), as a whole name, a prefix of a name or of one of its
words, or within 1 edit (4–5 characters) or 2 edits (longer) of a name or a word (``core.store.search.levenshtein``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from core.domain import PhotoStatus
from core.store.models import photos

__all__ = [
    "CHUNK_ROWS",
    "unplaced_gps_photos",
    "set_places",
    "forget_places",
    "place_counts",
    "place_names",
    "fold",
    "match_places",
]

#: Photos placed per query / write batch.
CHUNK_ROWS = 500

_UNPLACED = (
    select(photos.c.id, photos.c.gps_latitude, photos.c.gps_longitude)
    .where(photos.c.status == PhotoStatus.GPS, photos.c.placed_at.is_(None))
    .order_by(photos.c.id)
    .limit(bindparam("b_limit"))
)
_SET_PLACE = (
    update(photos)
    .where(photos.c.id == bindparam("b_id"))
    .values(
        city=bindparam("b_city"),
        country=bindparam("b_country"),
        place_landmark=bindparam("b_landmark"),
        placed_at=bindparam("b_now"),
    )
)


def unplaced_gps_photos(conn: Connection, limit: int = CHUNK_ROWS) -> list[Any]:
    """``(id, gps_latitude, gps_longitude)`` of up to ``limit`` GPS photos not placed yet, by id
    (read along the ``(status, placed_at)`` index)."""
    return list(conn.execute(_UNPLACED, {"b_limit": int(limit)}))


def set_places(conn: Connection, rows: Sequence[tuple[int, str | None, str | None, str | None]], now: str) -> None:
    """Store ``(photo id, city, country, landmark key)`` for each row, with ``placed_at = now`` (ISO-8601 UTC)."""
    if rows:
        conn.execute(
            _SET_PLACE,
            [{"b_id": i, "b_city": c, "b_country": k, "b_landmark": lm, "b_now": now} for i, c, k, lm in rows],
        )


def forget_places(conn: Connection) -> int:
    """Mark every GPS photo as not placed (the catalog's landmarks changed); the next scan places them again.
    Their labels stay until then. Returns how many photos were marked."""
    stmt = update(photos).where(photos.c.status == PhotoStatus.GPS, photos.c.placed_at.is_not(None))
    return int(conn.execute(stmt.values(placed_at=None)).rowcount)


def place_counts(conn: Connection) -> list[tuple[str | None, str | None, int]]:
    """``(country, city, photos)`` of every place photos were taken at, most photos first (then by country and
    city); photos with a country but no city count under ``(country, None)``."""
    n = func.count().label("n")
    stmt = (
        select(photos.c.country, photos.c.city, n)
        .where(photos.c.country.is_not(None) | photos.c.city.is_not(None))
        .group_by(photos.c.country, photos.c.city)
    )
    rows = [(r.country, r.city, int(r.n)) for r in conn.execute(stmt)]
    rows.sort(key=lambda r: (-r[2], (r[0] or "").lower(), (r[1] or "").lower()))
    return rows


def place_names(conn: Connection) -> tuple[list[str], list[str]]:
    """``(cities, countries)``: the distinct place names stored for photos (read from their indexes)."""
    cities = [c for (c,) in conn.execute(select(photos.c.city).distinct().where(photos.c.city.is_not(None)))]
    countries = [c for (c,) in conn.execute(select(photos.c.country).distinct().where(photos.c.country.is_not(None)))]
    return cities, countries


def fold(text: str) -> str:
    """``text`` for comparing place names: accents removed (NFKD, combining marks dropped), case-folded, spaces
    collapsed (``"  Huế "`` → ``"hue"``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


def _typo_budget(n: int) -> int:
    return 0 if n < 4 else (1 if n <= 5 else 2)


def _matches(query: str, name: str) -> int | None:
    """How well folded ``query`` matches folded ``name``: 0 equal, 1 a prefix of it or of one of its words,
    2 + edits within the typo budget; ``None`` no match."""
    from core.store.search import levenshtein

    if query == name:
        return 0
    words = name.replace(",", " ").replace("-", " ").split()
    if name.startswith(query) or any(w.startswith(query) for w in words):
        return 1
    budget = _typo_budget(len(query))
    if budget == 0:
        return None
    best = min(levenshtein(query, s, budget) for s in [name, *words])
    return 2 + best if best <= budget else None


def match_places(names: Sequence[str], query: str) -> list[str]:
    """The names in ``names`` (cities or countries) that match ``query`` (see the module docstring), best first.

    Exact and prefix matches are returned when there are any; otherwise the names within the typo budget.
    """
    q = fold(query)
    if not q:
        return []
    scored = []
    for name in names:
        m = _matches(q, fold(name))
        if m is not None:
            scored.append((m, name))
    if not scored:
        return []
    if min(m for m, _ in scored) <= 1:
        scored = [s for s in scored if s[0] <= 1]
    return [name for _, name in sorted(scored, key=lambda s: (s[0], s[1]))]
