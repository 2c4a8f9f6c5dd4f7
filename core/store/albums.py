"""Albums: one per landmark (photo count + cover photo), then the special albums.

Special albums: Unrecognized (status no_landmark), Has GPS (status gps), Needs review (model label
with confidence below the review threshold, default 0.5), Failed, and Not tagged yet (only while
photos are pending).

A landmark album holds confident labels only: photos whose label is the person's (confidence 1.0) or
whose model confidence reaches the review threshold; below it a photo lives in *Needs review* with its
best guess (``Album.unsure`` counts them per landmark; ``Library.photos(..., include_unsure=True)`` shows
them in the album too). Counts come from the ``label_counts`` / ``status_counts`` tables that triggers
keep exact (revision 0003) minus one count of the ``(label, confidence)`` index range below the threshold
per landmark, so listing albums does not scan 100 000 photos; a landmark album's cover is its most
confident photo (one probe of the same index); a special album's cover is its newest photo.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from core.domain import Album, AlbumKind, AlbumRef, LabelSource, PhotoStatus
from core.store.models import label_counts, landmarks, photos, status_counts

__all__ = ["list_albums", "needs_review_count", "SPECIAL_TITLES", "DEFAULT_REVIEW_THRESHOLD"]

#: Model confidence (calibrated, [0, 1]) below which a model label goes to "Needs review".
DEFAULT_REVIEW_THRESHOLD = 0.5

SPECIAL_TITLES = {
    AlbumKind.UNRECOGNIZED: "Unrecognized",
    AlbumKind.HAS_GPS: "Has GPS",
    AlbumKind.NEEDS_REVIEW: "Needs review",
    AlbumKind.FAILED: "Failed",
    AlbumKind.PENDING: "Not tagged yet",
}


def _needs_review(review_threshold: float) -> ColumnElement[Any]:
    """Condition on ``photos``: a model label with confidence below ``review_threshold``."""
    return (
        (photos.c.status == PhotoStatus.TAGGED)
        & (photos.c.label_source == LabelSource.MODEL)
        & (photos.c.confidence < float(review_threshold))
    )


def _special_where(kind: str, review_threshold: float) -> ColumnElement[Any]:
    """Condition on ``photos`` for a special album."""
    if kind == AlbumKind.NEEDS_REVIEW:
        return _needs_review(review_threshold)
    status = {
        AlbumKind.UNRECOGNIZED: PhotoStatus.NO_LANDMARK,
        AlbumKind.HAS_GPS: PhotoStatus.GPS,
        AlbumKind.FAILED: PhotoStatus.FAILED,
        AlbumKind.PENDING: PhotoStatus.PENDING,
    }[kind]
    return photos.c.status == status


def needs_review_count(conn: Connection, review_threshold: float = DEFAULT_REVIEW_THRESHOLD) -> int:
    """Number of photos in "Needs review" (counted from the ``(status, label_source, confidence)`` index)."""
    return int(
        conn.execute(select(func.count()).select_from(photos).where(_needs_review(review_threshold))).scalar_one()
    )


def list_albums(conn: Connection, review_threshold: float = DEFAULT_REVIEW_THRESHOLD) -> list[Album]:
    """All albums: landmarks with at least one confident photo (most first, then by name; ``count`` = confident
    photos, ``unsure`` = the landmark's photos in Needs review), then the special albums (always listed,
    except "Not tagged yet" which only appears while non-empty).

    A person's label has confidence 1.0 (``core.tagging.labels.MANUAL_CONFIDENCE``) and the threshold is at
    most 1, so "below the threshold" is one ``(label, confidence)`` index range per landmark."""
    out: list[Album] = []
    # Counts come from label_counts / status_counts (kept by triggers); each cover is one probe of the
    # (label, confidence) index: the most confident photo of the album.
    unsure = (
        select(func.count())
        .select_from(photos)
        .where(photos.c.label == label_counts.c.label, photos.c.confidence < float(review_threshold))
        .scalar_subquery()
    )
    cover = (
        select(photos.c.id)
        .where(photos.c.label == label_counts.c.label)
        .order_by(photos.c.confidence.desc())
        .limit(1)
        .scalar_subquery()
    )
    stmt = (
        select(
            label_counts.c.label,
            label_counts.c.n,
            unsure.label("unsure"),
            cover.label("cover"),
            landmarks.c.name,
            landmarks.c.country,
            landmarks.c.latitude,
            landmarks.c.longitude,
            landmarks.c.source,
        )
        .select_from(label_counts.outerjoin(landmarks, landmarks.c.key == label_counts.c.label))
        .where(label_counts.c.n > 0)
    )
    rows = [r for r in conn.execute(stmt).all() if r.n - r.unsure > 0]
    rows.sort(key=lambda r: (-(r.n - r.unsure), (r.name or r.label).lower()))
    for r in rows:
        out.append(
            Album(
                ref=AlbumRef(AlbumKind.LANDMARK, r.label),
                title=r.name or r.label,
                count=r.n - r.unsure,
                unsure=int(r.unsure),
                cover_photo_id=r.cover,
                country=r.country,
                latitude=r.latitude,
                longitude=r.longitude,
                user_created=(r.source == "user"),
            )
        )
    by_status = {s: n for s, n in conn.execute(select(status_counts.c.status, status_counts.c.n))}
    review = needs_review_count(conn, review_threshold)
    special = [
        (AlbumKind.UNRECOGNIZED, by_status.get(PhotoStatus.NO_LANDMARK, 0)),
        (AlbumKind.HAS_GPS, by_status.get(PhotoStatus.GPS, 0)),
        (AlbumKind.NEEDS_REVIEW, review),
        (AlbumKind.FAILED, by_status.get(PhotoStatus.FAILED, 0)),
    ]
    if by_status.get(PhotoStatus.PENDING, 0):
        special.append((AlbumKind.PENDING, by_status[PhotoStatus.PENDING]))
    for kind, n in special:
        cover_id = None
        if n:
            cover_id = conn.execute(
                select(func.max(photos.c.id)).where(_special_where(kind, review_threshold))
            ).scalar()
        out.append(Album(ref=AlbumRef(kind), title=SPECIAL_TITLES[kind], count=int(n or 0), cover_photo_id=cover_id))
    return out
