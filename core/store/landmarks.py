"""The ``landmarks`` table: the model's classes (source ``model``, synced at open) and the landmarks users
created with corrections (source ``user``, keys ``user:<Name>``); names, coordinates, look-ups.

The FTS5 name index ``landmarks_fts`` follows this table by triggers (revision 0001); name search is in
``core.store.search``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, delete, func, literal, or_, select, union_all
from sqlalchemy.dialects.sqlite import insert

from core.store.models import changes, corrections, landmarks, photos

__all__ = [
    "LandmarkRow",
    "model_landmarks_to_sync",
    "upsert_model_landmarks",
    "landmark_coords",
    "landmark_names",
    "user_landmark_names",
    "landmark_exists",
    "key_for_name",
    "landmark_name",
    "new_landmark_key",
    "create_user_landmark",
    "delete_user_landmark_if_unused",
]

#: ``(name, latitude, longitude, country)`` of a landmark (degrees WGS84, or ``None``).
LandmarkRow = tuple[str, float | None, float | None, str | None]


def model_landmarks_to_sync(conn: Connection, wanted: Mapping[str, LandmarkRow]) -> dict[str, LandmarkRow]:
    """The entries of ``wanted`` (``{key: (name, latitude, longitude, country)}`` of the model's classes) that
    the table lacks, holds with other values, or holds as a user landmark."""
    have = {
        r.key: (r.name, r.latitude, r.longitude, r.country, r.source)
        for r in conn.execute(
            select(
                landmarks.c.key,
                landmarks.c.name,
                landmarks.c.latitude,
                landmarks.c.longitude,
                landmarks.c.country,
                landmarks.c.source,
            )
        )
    }
    return {k: v for k, v in wanted.items() if have.get(k, (None,) * 5)[:4] != v or have[k][4] != "model"}


def upsert_model_landmarks(conn: Connection, rows: Mapping[str, LandmarkRow], now: str) -> None:
    """Insert or overwrite model landmarks ``{key: (name, latitude, longitude, country)}`` (source ``model``;
    ``created_at`` = ``now`` for new rows)."""
    for key, (name, lat, lon, country) in rows.items():
        stmt = insert(landmarks).values(
            key=key, name=name, latitude=lat, longitude=lon, country=country, source="model", created_at=now
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["key"],
                set_={
                    "name": stmt.excluded.name,
                    "latitude": stmt.excluded.latitude,
                    "longitude": stmt.excluded.longitude,
                    "country": stmt.excluded.country,
                    "source": "model",
                },
            )
        )


def landmark_coords(conn: Connection) -> dict[str, tuple[float | None, float | None]]:
    """``{key: (latitude, longitude)}`` of every landmark (degrees WGS84, ``None`` when unknown)."""
    return {
        k: (lat, lon)
        for k, lat, lon in conn.execute(select(landmarks.c.key, landmarks.c.latitude, landmarks.c.longitude))
    }


def landmark_names(conn: Connection) -> list[tuple[str, str]]:
    """``(key, display name)`` of every landmark, by name (case-insensitive)."""
    stmt = select(landmarks.c.key, landmarks.c.name).order_by(landmarks.c.name.collate("NOCASE"))
    return [(k, n) for k, n in conn.execute(stmt)]


def user_landmark_names(conn: Connection) -> dict[str, str]:
    """``{key: display name}`` of the user-created landmarks."""
    stmt = select(landmarks.c.key, landmarks.c.name).where(landmarks.c.source == "user")
    return {k: n for k, n in conn.execute(stmt)}


def landmark_exists(conn: Connection, key: str) -> bool:
    """True when ``key`` is a landmark key."""
    return conn.execute(select(literal(1)).where(landmarks.c.key == key)).first() is not None


def key_for_name(conn: Connection, name: str) -> str | None:
    """Key of a landmark whose display name equals ``name`` ignoring case, or ``None``."""
    return conn.execute(select(landmarks.c.key).where(func.lower(landmarks.c.name) == func.lower(name))).scalar()


def landmark_name(conn: Connection, key: str) -> str | None:
    """Display name of landmark ``key``, or ``None`` when there is none."""
    return conn.execute(select(landmarks.c.name).where(landmarks.c.key == key)).scalar()


_SLUG = re.compile(r"[^A-Za-z0-9]+")


def new_landmark_key(name: str, existing: Iterable[str]) -> str:
    """A stable, unique key for a user-created landmark: ``"user:<Ascii_Name>"`` (+ ``_2``, ``_3`` …).

    Raises:
        ValueError: ``name`` is empty after trimming.
    """
    name = " ".join(name.split())
    if not name:
        raise ValueError("a new landmark needs a name")
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = _SLUG.sub("_", ascii_name).strip("_") or "landmark"
    taken = set(existing)
    key, n = f"user:{slug}", 2
    while key in taken:
        key, n = f"user:{slug}_{n}", n + 1
    return key


def create_user_landmark(conn: Connection, name: str, now: str, key: str | None = None) -> str:
    """Insert a user landmark named ``name`` (already trimmed) and return its key: ``key`` when given (redo
    of the change that created it), else a new one (``new_landmark_key``).

    Raises:
        ValueError: ``name`` is empty.
    """
    if key is None:
        key = new_landmark_key(name, [k for (k,) in conn.execute(select(landmarks.c.key))])
    conn.execute(insert(landmarks).values(key=key, name=name, source="user", created_at=now))
    return key


def delete_user_landmark_if_unused(conn: Connection, key: str) -> bool:
    """Delete user landmark ``key`` unless a photo label or a correction in force (not of an undone change)
    still uses it; True when a row was deleted."""
    in_force = or_(changes.c.undone.is_(None), changes.c.undone == 0)
    used = conn.execute(
        union_all(
            select(literal(1)).where(photos.c.label == key),
            select(literal(1))
            .select_from(corrections.outerjoin(changes, changes.c.id == corrections.c.change_id))
            .where(corrections.c.label == key, in_force),
        ).limit(1)
    ).first()
    if used is not None:
        return False
    return conn.execute(delete(landmarks).where(landmarks.c.key == key, landmarks.c.source == "user")).rowcount > 0
