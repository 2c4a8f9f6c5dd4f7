"""Labels of photos: the model's results (status, effective label, top-k predictions, embedding) and the
effective labels that corrections and re-scoring change.

The effective label fields of a ``photos`` row are ``status``, ``label``, ``label_source`` (model|manual|gps),
``confidence`` and the location derived from the label (``latitude``/``longitude``/``location_source``).
Which label is effective is decided by ``core.tagging.labels.resolve_label``; this module only reads and
writes the rows. A model result is written only while the photo's file still has the bytes that were tagged (its
``fingerprint``), so a photo whose file changed meanwhile is left alone (it is tagged again).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, delete, insert, or_, select, update

from core.domain import LabelSource, PhotoStatus
from core.store.models import embeddings, photos, predictions
from core.store.photos import UNSEEN_MTIME_NS, valid_text

if TYPE_CHECKING:  # numpy is imported where it is used: opening a library for `albums` never needs it
    import numpy as np

__all__ = [
    "Location",
    "mark_failed",
    "tag_target",
    "save_model_result",
    "set_gps_label",
    "set_gps_labels",
    "label_rows",
    "predictions_of",
    "model_labelled_rows",
    "set_effective_label",
    "replace_predictions",
]

#: ``(latitude, longitude, location_source)`` as ``core.store.location.photo_location`` returns it.
Location = tuple[float | None, float | None, str | None]

_CHUNK = 500

# Statements built once: they run per photo while tagging.
# A photo needs a model result while it is pending or its result came from another model version; a result
# for a photo another process has tagged meanwhile is not written again (each result is committed once).
_NEEDS_RESULT = or_(
    photos.c.status == PhotoStatus.PENDING,
    photos.c.model_version.is_(None),
    photos.c.model_version != bindparam("b_mv"),
)
_FAILED_VALUES: dict[str, Any] = {
    "status": PhotoStatus.FAILED,
    "failure_reason": bindparam("b_reason"),
    "model_version": bindparam("b_mv"),
    "tagged_at": bindparam("b_now"),
}
_FAILED_WHERE = (
    photos.c.id == bindparam("b_id"),
    photos.c.fingerprint.is_(bindparam("b_fp")),
    photos.c.status != PhotoStatus.GPS,
    _NEEDS_RESULT,
)
_FAILED = update(photos).where(*_FAILED_WHERE).values(**_FAILED_VALUES)
_FAILED_MISSING = update(photos).where(*_FAILED_WHERE).values(**_FAILED_VALUES, mtime_ns=UNSEEN_MTIME_NS)
_TARGET = select(photos.c.gps_latitude, photos.c.gps_longitude, photos.c.status).where(
    photos.c.id == bindparam("b_id"), photos.c.fingerprint.is_(bindparam("b_fp")), _NEEDS_RESULT
)
_LABEL_VALUES: dict[str, Any] = {
    "status": bindparam("b_status"),
    "label": bindparam("b_label"),
    "label_source": bindparam("b_label_source"),
    "confidence": bindparam("b_confidence"),
    "latitude": bindparam("b_latitude"),
    "longitude": bindparam("b_longitude"),
    "location_source": bindparam("b_location_source"),
}
_MODEL_RESULT = (
    update(photos)
    .where(photos.c.id == bindparam("b_id"))
    .values(
        failure_reason=None,
        model_version=bindparam("b_mv"),
        inference_count=photos.c.inference_count + 1,
        tagged_at=bindparam("b_now"),
        **_LABEL_VALUES,
    )
)
_EFFECTIVE_LABEL = update(photos).where(photos.c.id == bindparam("b_id")).values(**_LABEL_VALUES)
_DELETE_PREDICTIONS = delete(predictions).where(predictions.c.photo_id == bindparam("b_id"))
_INSERT_PREDICTIONS = insert(predictions)
_PUT_EMBEDDING = insert(embeddings).prefix_with("OR REPLACE")


def _label_params(
    status: str, label: str | None, label_source: str | None, confidence: float | None, loc: Location
) -> dict[str, Any]:
    return {
        "b_status": status,
        "b_label": label,
        "b_label_source": label_source,
        "b_confidence": confidence,
        "b_latitude": loc[0],
        "b_longitude": loc[1],
        "b_location_source": loc[2],
    }


# ------------------------------------------------------------------------------- model results
def mark_failed(
    conn: Connection,
    photo_id: int,
    fingerprint: str | None,
    reason: str,
    model_version: str,
    now: str,
    *,
    file_missing: bool = False,
) -> int:
    """Set a photo ``failed`` with a readable ``reason`` (not a GPS photo, only while its file's fingerprint is
    still ``fingerprint`` (``None``: a row scanned before revision 0007) and it still needs a result from
    ``model_version``).

    Args:
        file_missing: the file was not there; its ``mtime_ns`` becomes ``UNSEEN_MTIME_NS`` so that the next scan
            that finds the file again retries it.
    Returns:
        the number of rows written (0 or 1).
    """
    params = {
        "b_reason": valid_text(reason),
        "b_mv": model_version,
        "b_now": now,
        "b_id": photo_id,
        "b_fp": fingerprint,
    }
    return int(conn.execute(_FAILED_MISSING if file_missing else _FAILED, params).rowcount)


def tag_target(conn: Connection, photo_id: int, fingerprint: str | None, model_version: str) -> Any | None:
    """``(gps_latitude, gps_longitude, status)`` of a photo while its file's fingerprint is still ``fingerprint`` and
    it still needs a result from ``model_version``; ``None`` when the file changed or left the library meanwhile, or
    another process stored this model's result already."""
    return conn.execute(_TARGET, {"b_id": photo_id, "b_fp": fingerprint, "b_mv": model_version}).first()


def save_model_result(
    conn: Connection,
    photo_id: int,
    *,
    status: str,
    label: str | None,
    label_source: str,
    confidence: float,
    loc: Location,
    model_version: str,
    now: str,
    top_k: Sequence[tuple[str, float]],
    embedding: np.ndarray,
) -> None:
    """Write one model result: the effective label, ``inference_count + 1``, the top-k predictions (rank 0
    first) and the embedding (stored as ``(D,)`` float16 bytes).

    Args:
        status, label, label_source, confidence: the effective label (``core.tagging.labels.Resolved``).
        loc: the location that goes with it. model_version: the recognizer's. now: ``tagged_at`` (ISO-8601 UTC).
        top_k: ``((key, confidence), ...)`` descending. embedding: ``(D,)`` float, unit norm.
    """
    conn.execute(
        _MODEL_RESULT,
        {
            **_label_params(status, label, label_source, confidence, loc),
            "b_mv": model_version,
            "b_now": now,
            "b_id": photo_id,
        },
    )
    import numpy as np

    replace_predictions(conn, photo_id, top_k, model_version)
    emb = np.asarray(embedding, dtype=np.float16)
    conn.execute(
        _PUT_EMBEDDING,
        {"photo_id": photo_id, "model_version": model_version, "dim": int(emb.shape[0]), "vector": emb.tobytes()},
    )


def replace_predictions(
    conn: Connection, photo_id: int, top_k: Sequence[tuple[str, float]], model_version: str
) -> None:
    """Replace a photo's stored top-k predictions (``((key, confidence), ...)`` descending, rank 0 first)."""
    conn.execute(_DELETE_PREDICTIONS, {"b_id": photo_id})
    rows = [
        {"photo_id": photo_id, "rank": i, "label": k, "confidence": float(c), "model_version": model_version}
        for i, (k, c) in enumerate(top_k)
    ]
    if rows:
        conn.execute(_INSERT_PREDICTIONS, rows)


# ----------------------------------------------------------------------------- effective labels
def set_gps_label(
    conn: Connection, photo_id: int, label: str | None, label_source: str | None, confidence: float | None
) -> None:
    """Write the label fields of a GPS photo (``core.tagging.labels.resolve_gps_label``); its status and location
    (its EXIF GPS) stay as they are. A photo that is not a GPS photo (any more) is left alone."""
    conn.execute(
        update(photos)
        .where(photos.c.id == int(photo_id), photos.c.status == PhotoStatus.GPS)
        .values(label=label, label_source=label_source, confidence=confidence)
    )


_GPS_LABEL = (
    update(photos)
    .where(photos.c.id == bindparam("b_id"), photos.c.status == PhotoStatus.GPS)
    .values(label=bindparam("b_label"), label_source=bindparam("b_source"), confidence=bindparam("b_confidence"))
)


def set_gps_labels(conn: Connection, rows: Sequence[tuple[int, str | None, str | None, float | None]]) -> None:
    """``set_gps_label`` of many photos in one statement: ``(photo id, label, label_source, confidence)`` rows."""
    if rows:
        conn.execute(
            _GPS_LABEL,
            [{"b_id": int(i), "b_label": lab, "b_source": src, "b_confidence": c} for i, lab, src, c in rows],
        )


def label_rows(conn: Connection, photo_ids: Sequence[int]) -> list[Any]:
    """``(id, status, label, label_source, confidence, gps_latitude, gps_longitude, place_landmark)``
    of the photos with these ids (chunks of 500 ids, each by id; unknown ids are left out)."""
    stmt = select(
        photos.c.id,
        photos.c.status,
        photos.c.label,
        photos.c.label_source,
        photos.c.confidence,
        photos.c.gps_latitude,
        photos.c.gps_longitude,
        photos.c.place_landmark,
    ).where(photos.c.id.in_(bindparam("b_ids", expanding=True)))
    ids = [int(i) for i in photo_ids]
    out: list[Any] = []
    for start in range(0, len(ids), _CHUNK):
        out += conn.execute(stmt, {"b_ids": ids[start : start + _CHUNK]}).all()
    return out


def predictions_of(conn: Connection, photo_ids: Sequence[int]) -> dict[int, list[tuple[str, float]]]:
    """``{photo id: [(key, confidence), ...] by rank}`` of the stored predictions of these photos."""
    stmt = (
        select(predictions.c.photo_id, predictions.c.label, predictions.c.confidence)
        .where(predictions.c.photo_id.in_(bindparam("b_ids", expanding=True)))
        .order_by(predictions.c.photo_id, predictions.c.rank)
    )
    ids = [int(i) for i in photo_ids]
    out: dict[int, list[tuple[str, float]]] = {}
    for start in range(0, len(ids), _CHUNK):
        for pid, label, conf in conn.execute(stmt, {"b_ids": ids[start : start + _CHUNK]}):
            out.setdefault(pid, []).append((label, conf))
    return out


def model_labelled_rows(conn: Connection, model_version: str) -> list[Any]:
    """``(id, status, label, confidence, gps_latitude, gps_longitude)`` of the tagged /
    no-landmark photos whose effective label comes from ``model_version`` (not from a manual label)."""
    stmt = select(
        photos.c.id,
        photos.c.status,
        photos.c.label,
        photos.c.confidence,
        photos.c.gps_latitude,
        photos.c.gps_longitude,
    ).where(
        photos.c.status.in_([PhotoStatus.TAGGED, PhotoStatus.NO_LANDMARK]),
        photos.c.label_source.is_(None) | (photos.c.label_source == LabelSource.MODEL),
        photos.c.model_version == model_version,
    )
    return list(conn.execute(stmt).all())


def set_effective_label(
    conn: Connection,
    photo_id: int,
    status: str,
    label: str | None,
    label_source: str | None,
    confidence: float | None,
    loc: Location,
) -> None:
    """Write a photo's effective label fields and the location that goes with them."""
    conn.execute(_EFFECTIVE_LABEL, {**_label_params(status, label, label_source, confidence, loc), "b_id": photo_id})
