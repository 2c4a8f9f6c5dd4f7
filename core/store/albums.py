"""Albums: one per landmark (photo count + cover photo), then the special albums.

Special albums: Unrecognized (status no_landmark), Has GPS (status gps), Needs review (model label
with confidence below the review threshold, default 0.5), Failed, and Not tagged yet (only while
photos are pending).

Counts come from the ``label_counts`` / ``status_counts`` tables that triggers keep exact (revision
0003), so listing albums does not scan 100 000 photos; a landmark album's cover is its most confident
photo (one probe of the ``(label, confidence)`` index); a special album's cover is its newest photo.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from core.domain import Album, AlbumKind, AlbumRef

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
    # Counts come from label_counts / status_counts (kept by triggers); each cover is one probe of the
    # (label, confidence) index: the most confident photo of the album.
    rows = conn.execute(
        text(
            "SELECT c.label, c.n, (SELECT p.id FROM photos p WHERE p.label = c.label "
            "  ORDER BY p.confidence DESC LIMIT 1) AS cover, l.name, l.country, l.latitude, l.longitude, l.source "
            "FROM label_counts c LEFT JOIN landmarks l ON l.key = c.label WHERE c.n > 0"
        )
    ).all()
    rows.sort(key=lambda r: (-r.n, (r.name or r.label).lower()))
    for r in rows:
        out.append(
            Album(
                ref=AlbumRef(AlbumKind.LANDMARK, r.label),
                title=r.name or r.label,
                count=r.n,
                cover_photo_id=r.cover,
                country=r.country,
                latitude=r.latitude,
                longitude=r.longitude,
                user_created=(r.source == "user"),
            )
        )
    by_status = {s: n for s, n in conn.execute(text("SELECT status, n FROM status_counts"))}
    review = conn.execute(
        text("SELECT COUNT(*) FROM photos WHERE status = 'tagged' AND label_source = 'model' AND confidence < :t"),
        {"t": float(review_threshold)},
    ).scalar()
    special = [
        (AlbumKind.UNRECOGNIZED, by_status.get("no_landmark", 0)),
        (AlbumKind.HAS_GPS, by_status.get("gps", 0)),
        (AlbumKind.NEEDS_REVIEW, review),
        (AlbumKind.FAILED, by_status.get("failed", 0)),
    ]
    if by_status.get("pending", 0):
        special.append((AlbumKind.PENDING, by_status["pending"]))
    for kind, n in special:
        cover = None
        if n:
            where, params = _SPECIAL_WHERE[kind], {"t": float(review_threshold)}
            cover = conn.execute(text(f"SELECT MAX(id) FROM photos WHERE {where}"), params).scalar()
        out.append(Album(ref=AlbumRef(kind), title=SPECIAL_TITLES[kind], count=int(n or 0), cover_photo_id=cover))
    return out


_SPECIAL_WHERE = {
    AlbumKind.UNRECOGNIZED: "status = 'no_landmark'",
    AlbumKind.HAS_GPS: "status = 'gps'",
    AlbumKind.NEEDS_REVIEW: "status = 'tagged' AND label_source = 'model' AND confidence < :t",
    AlbumKind.FAILED: "status = 'failed'",
    AlbumKind.PENDING: "status = 'pending'",
}
