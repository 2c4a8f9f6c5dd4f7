"""Albums: one per landmark (photo count + cover photo), then the special albums.

Special albums: Unrecognized (status no_landmark), Has GPS (status gps), Needs review (model label
with confidence below the review threshold, default 0.5), Failed, and Not tagged yet (only while
photos are pending).

The landmark albums come from one ``GROUP BY label`` over the ``(label, confidence)`` index; the
cover is the photo with the highest confidence (SQLite returns the row of ``MAX()`` for bare
columns: https://sqlite.org/lang_select.html#bareagg).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from core.library_types import Album, AlbumKind, AlbumRef

__all__ = ["list_albums", "SPECIAL_TITLES", "DEFAULT_REVIEW_THRESHOLD"]

#: Model confidence (calibrated, [0, 1]) below which a model label goes to "Needs review".
DEFAULT_REVIEW_THRESHOLD = 0.5

SPECIAL_TITLES = {
    AlbumKind.UNRECOGNIZED: "Unrecognized",
    AlbumKind.HAS_GPS: "Has GPS",
    AlbumKind.NEEDS_REVIEW: "Needs review",
    AlbumKind.FAILED: "Failed",
    AlbumKind.PENDING: "Not tagged yet",
}


def list_albums(conn: Connection, review_threshold: float = DEFAULT_REVIEW_THRESHOLD) -> list[Album]:
    """All albums: landmarks with at least one photo (most photos first, then by name), then the
    special albums (always listed, except "Not tagged yet" which only appears while non-empty)."""
    out: list[Album] = []
    rows = conn.execute(text(
        "SELECT g.label, g.n, g.cover, l.name, l.country, l.latitude, l.longitude, l.source FROM "
        "(SELECT label, COUNT(*) AS n, id AS cover, MAX(confidence) FROM photos WHERE label IS NOT NULL "
        " GROUP BY label) g LEFT JOIN landmarks l ON l.key = g.label")).all()
    rows.sort(key=lambda r: (-r.n, (r.name or r.label).lower()))
    for r in rows:
        out.append(Album(ref=AlbumRef(AlbumKind.LANDMARK, r.label), title=r.name or r.label, count=r.n,
                         cover_photo_id=r.cover, country=r.country, latitude=r.latitude, longitude=r.longitude,
                         user_created=(r.source == "user")))
    by_status = {s: (n, cover) for s, n, cover in conn.execute(
        text("SELECT status, COUNT(*), MAX(id) FROM photos GROUP BY status"))}
    review = conn.execute(text(
        "SELECT COUNT(*), MAX(id) FROM photos WHERE status = 'tagged' AND label_source = 'model' "
        "AND confidence < :t"), {"t": float(review_threshold)}).first()
    special = [
        (AlbumKind.UNRECOGNIZED, by_status.get("no_landmark", (0, None))),
        (AlbumKind.HAS_GPS, by_status.get("gps", (0, None))),
        (AlbumKind.NEEDS_REVIEW, (review[0], review[1])),
        (AlbumKind.FAILED, by_status.get("failed", (0, None))),
    ]
    pending = by_status.get("pending", (0, None))
    if pending[0]:
        special.append((AlbumKind.PENDING, pending))
    for kind, (n, cover) in special:
        out.append(Album(ref=AlbumRef(kind), title=SPECIAL_TITLES[kind], count=int(n or 0),
                         cover_photo_id=cover if n else None))
    return out
