"""Library-wide numbers for a status line and ``landmark-tagger stats``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from core.store.albums import needs_review_count
from core.store.models import corrections, embeddings, folders, landmarks, photos
from core.store.photos import status_counts

__all__ = ["library_counts"]


def library_counts(conn: Connection, review_threshold: float) -> dict[str, Any]:
    """Counts over the whole library.

    Returns:
        ``photos`` (total), ``by_status`` ({status: n}), ``folders``, ``landmarks`` (distinct labels in use),
        ``user_landmarks``, ``corrections``, ``manual_labels``, ``embeddings``, ``needs_review`` (model
        labels with confidence below ``review_threshold``).
    """

    def count(*where: Any, of: Any = None, table: Any = photos) -> int:
        stmt = select(func.count(of) if of is not None else func.count()).select_from(table)
        return int(conn.execute(stmt.where(*where)).scalar_one())

    counts = status_counts(conn)
    return {
        "photos": sum(counts.values()),
        "by_status": counts,
        "folders": count(table=folders),
        "landmarks": count(photos.c.label.is_not(None), of=photos.c.label.distinct()),
        "user_landmarks": count(landmarks.c.source == "user", table=landmarks),
        "corrections": count(table=corrections),
        "manual_labels": count(photos.c.label_source == "manual"),
        "embeddings": count(table=embeddings),
        "needs_review": needs_review_count(conn, review_threshold),
    }
