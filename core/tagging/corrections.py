"""Corrections: the user's word on a photo's landmark, and how it combines with the model's.

A correction is keyed by the photo's content hash (SHA-256 of its bytes), so it survives moves,
renames and re-tagging with a new model. Kinds (table ``corrections``):

* ``label`` — the photo shows landmark ``label`` (an existing key or a user-created landmark);
* ``not_landmark`` — the photo shows no landmark;
* ``reject`` — the model's ``label`` is wrong for this photo (a tombstone: re-tagging never gives
  that label back; the next candidate of the top-k is used instead).

The latest ``label``/``not_landmark`` correction of a hash is its manual label; a manual label always
beats the model. ``resolve_label`` is the single rule that turns (model top-k, corrections) into the
stored effective label, used by the tagging pipeline and by re-scoring.

Manually labelled photos form the recognizer's *user gallery*
(``Recognizer.set_user_gallery(embeddings, labels)``): their stored embeddings with their labels
(``scoring.NO_LANDMARK`` for "not a landmark"), so look-alike photos are re-scored from their stored
embeddings (``Recognizer.score_embeddings``) without running the CNN.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import Connection, text

from core.domain import NO_LANDMARK, LabelSource, PhotoStatus

__all__ = [
    "KIND_LABEL",
    "KIND_NOT_LANDMARK",
    "KIND_REJECT",
    "CorrectionState",
    "Resolved",
    "resolve_label",
    "load_corrections",
    "user_gallery",
    "new_landmark_key",
    "utc_now",
]

KIND_LABEL = "label"
KIND_NOT_LANDMARK = "not_landmark"
KIND_REJECT = "reject"

#: Confidence stored with a manual label (the user is sure).
MANUAL_CONFIDENCE = 1.0


def utc_now() -> str:
    """Current UTC time, ISO-8601 text (the database's ``*_at`` columns)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class CorrectionState:
    """The corrections in force for one content hash.

    Attributes:
        manual: manual label: a landmark key, ``scoring.NO_LANDMARK``, or ``None`` (none).
        rejected: landmark keys the user rejected for this photo.
    """

    manual: str | None = None
    rejected: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Resolved:
    """The effective label of a photo (what ``photos`` stores).

    Attributes:
        status: ``tagged`` or ``no_landmark``.
        label: landmark key or ``None``.
        label_source: ``"manual"`` or ``"model"``.
        confidence: in [0, 1]; 1.0 for manual labels.
    """

    status: str
    label: str | None
    label_source: str
    confidence: float


def resolve_label(
    top_k: Sequence[tuple[str, float]] | None,
    is_landmark: bool | None,
    threshold: float,
    corrections: CorrectionState | None,
) -> Resolved:
    """Combine the model's prediction with the user's corrections.

    Args:
        top_k: ``((key, confidence), ...)`` descending, or ``None`` when the model has not run.
        is_landmark: the recognizer's own decision for ``top_k[0]`` (used when nothing is rejected).
        threshold: the bundle's no-landmark threshold (confidence in [0, 1]).
        corrections: the photo's corrections, or ``None``.
    Returns:
        the ``Resolved`` label. Rule: manual label first; otherwise the first top-k entry that was
        not rejected is the label when it is not ``NO_LANDMARK`` and its confidence reaches
        ``threshold``; otherwise "no landmark".
    """
    c = corrections or CorrectionState()
    if c.manual == NO_LANDMARK:
        return Resolved(PhotoStatus.NO_LANDMARK, None, LabelSource.MANUAL, MANUAL_CONFIDENCE)
    if c.manual is not None:
        return Resolved(PhotoStatus.TAGGED, c.manual, LabelSource.MANUAL, MANUAL_CONFIDENCE)
    top_k = list(top_k or [])
    if not top_k:
        return Resolved(PhotoStatus.NO_LANDMARK, None, LabelSource.MODEL, 0.0)
    if not c.rejected and is_landmark is not None:
        key, conf = top_k[0]
        if is_landmark:
            return Resolved(PhotoStatus.TAGGED, key, LabelSource.MODEL, float(conf))
        return Resolved(PhotoStatus.NO_LANDMARK, None, LabelSource.MODEL, float(conf))
    candidates = [(k, v) for k, v in top_k if k not in c.rejected]
    if not candidates:
        return Resolved(PhotoStatus.NO_LANDMARK, None, LabelSource.MODEL, 0.0)
    key, conf = candidates[0]
    if key != NO_LANDMARK and conf >= threshold:
        return Resolved(PhotoStatus.TAGGED, key, LabelSource.MODEL, float(conf))
    return Resolved(PhotoStatus.NO_LANDMARK, None, LabelSource.MODEL, float(conf))


def load_corrections(conn: Connection, hashes: Iterable[str] | None = None) -> dict[str, CorrectionState]:
    """Corrections in force, per content hash (all hashes when ``hashes`` is ``None``).

    Corrections of undone changes are deleted by undo, so every row here is in force; among
    ``label``/``not_landmark`` rows the newest (largest id) wins.
    """
    out: dict[str, CorrectionState] = {}
    if hashes is not None:
        hashes = list(dict.fromkeys(hashes))
        if not hashes:
            return out
        rows = []
        for start in range(0, len(hashes), 500):
            chunk = hashes[start : start + 500]
            marks = ",".join(f":h{i}" for i in range(len(chunk)))
            rows += conn.execute(
                text(f"SELECT content_hash, kind, label FROM corrections WHERE content_hash IN ({marks}) ORDER BY id"),
                {f"h{i}": h for i, h in enumerate(chunk)},
            ).all()
    else:
        rows = conn.execute(text("SELECT content_hash, kind, label FROM corrections ORDER BY id")).all()
    for h, kind, label in rows:
        st = out.setdefault(h, CorrectionState())
        if kind == KIND_LABEL:
            st.manual = label
        elif kind == KIND_NOT_LANDMARK:
            st.manual = NO_LANDMARK
        elif kind == KIND_REJECT and label:
            st.rejected.add(label)
    return out


def user_gallery(conn: Connection, model_version: str) -> tuple[np.ndarray, list[str], list[int]]:
    """The user gallery: embeddings of manually labelled photos made by ``model_version``.

    Returns:
        ``(embeddings (M, D) float32, labels (M,) keys or NO_LANDMARK, photo_ids (M,))``; M may be 0
        (then embeddings has shape ``(0, 0)``).
    """
    rows = conn.execute(
        text(
            "SELECT p.id, p.label, p.status, e.dim, e.vector FROM photos p JOIN embeddings e ON e.photo_id = p.id "
            "WHERE p.label_source = 'manual' AND e.model_version = :mv ORDER BY p.id"
        ),
        {"mv": model_version},
    ).all()
    if not rows:
        return np.zeros((0, 0), np.float32), [], []
    emb = np.stack([np.frombuffer(r.vector, dtype=np.float16, count=r.dim) for r in rows]).astype(np.float32)
    labels = [r.label if r.label is not None else NO_LANDMARK for r in rows]
    return emb, labels, [r.id for r in rows]


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
    existing = set(existing)
    key, n = f"user:{slug}", 2
    while key in existing:
        key, n = f"user:{slug}_{n}", n + 1
    return key


def dumps_ids(ids: Iterable[int]) -> str:
    """JSON list of ints (``changes.photo_ids``, ``changes.suggested``)."""
    return json.dumps([int(i) for i in ids])


def loads_ids(raw: str | None) -> tuple[int, ...]:
    """Inverse of ``dumps_ids``."""
    return tuple(int(i) for i in json.loads(raw or "[]"))


def landmark_coords(conn: Connection) -> Mapping[str, tuple[float | None, float | None]]:
    """``{key: (latitude, longitude)}`` of every landmark in the catalog table (degrees)."""
    return {k: (lat, lon) for k, lat, lon in conn.execute(text("SELECT key, latitude, longitude FROM landmarks"))}


# ------------------------------------------------------------------------------------ store updates
def refresh_effective_labels(
    conn: Connection,
    photo_ids: Sequence[int],
    threshold: float,
    coords: Mapping[str, tuple[float | None, float | None]],
) -> list[int]:
    """Recompute the stored effective label of photos from their stored top-k and the corrections.

    GPS, pending and failed photos keep their status; only their label fields follow a manual label.
    Returns:
        ids whose label, status or source changed.
    """
    from core.store.location import photo_location

    if not photo_ids:
        return []
    changed: list[int] = []
    ids = [int(i) for i in dict.fromkeys(photo_ids)]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        in_ids = ",".join(str(i) for i in chunk)
        rows = conn.execute(
            text(
                f"SELECT id, content_hash, status, label, label_source, confidence, gps_latitude, gps_longitude "
                f"FROM photos WHERE id IN ({in_ids})"
            )
        ).all()
        preds: dict[int, list[tuple[str, float]]] = {}
        for pid, label, conf in conn.execute(
            text(
                f"SELECT photo_id, label, confidence FROM predictions WHERE photo_id IN ({in_ids}) "
                f"ORDER BY photo_id, rank"
            )
        ):
            preds.setdefault(pid, []).append((label, conf))
        corr = load_corrections(conn, [r.content_hash for r in rows])
        for r in rows:
            c = corr.get(r.content_hash)
            if r.status in (PhotoStatus.TAGGED, PhotoStatus.NO_LANDMARK):
                res = resolve_label(preds.get(r.id), None, threshold, c)
                status = res.status
                label, source, conf = res.label, res.label_source, res.confidence
            else:  # gps / pending / failed: only a manual label applies
                status = r.status
                if c is not None and c.manual is not None:
                    res = resolve_label(None, None, threshold, c)
                    label, source, conf = res.label, res.label_source, res.confidence
                elif r.label_source == LabelSource.MANUAL or r.status == PhotoStatus.GPS:
                    label, source, conf = None, None, None
                else:
                    label, source, conf = r.label, r.label_source, r.confidence
            if (status, label, source, conf) == (r.status, r.label, r.label_source, r.confidence):
                continue
            lat, lon, src = photo_location(r.gps_latitude, r.gps_longitude, label, coords)
            conn.execute(
                text(
                    "UPDATE photos SET status = :st, label = :label, label_source = :ls, confidence = :conf, "
                    "latitude = :lat, longitude = :lon, location_source = :src WHERE id = :id"
                ),
                {
                    "st": status,
                    "label": label,
                    "ls": source,
                    "conf": conf,
                    "lat": lat,
                    "lon": lon,
                    "src": src,
                    "id": r.id,
                },
            )
            changed.append(r.id)
    return changed


def rescore_model_labels(
    conn: Connection,
    recognizer,
    index,
    threshold: float,
    coords: Mapping[str, tuple[float | None, float | None]],
    names: Mapping[str, str] | None = None,
) -> list[tuple[int, str | None]]:
    """Refresh the user gallery and re-score every model-labelled photo from its stored embedding.

    Args:
        conn: write connection.
        recognizer: ``core.recognition.recognizer.Recognizer`` (``set_user_gallery``, ``score_embeddings``,
            ``model_version``).
        index: ``core.store.search.EmbeddingIndex`` (cached embeddings).
        threshold: the bundle's no-landmark threshold.
        names: display names of user-created landmark keys (for ``label_name``).
    Returns:
        ``(photo_id, new label)`` for photos whose effective model label or status changed.
    """
    from core.store.location import photo_location

    mv = recognizer.model_version
    emb, labels, _ids = user_gallery(conn, mv)
    if len(labels):
        recognizer.set_user_gallery(emb, labels, names=dict(names or {}))
    else:
        recognizer.set_user_gallery(None, [])
    rows = conn.execute(
        text(
            "SELECT id, content_hash, status, label, confidence, gps_latitude, gps_longitude FROM photos "
            "WHERE status IN ('tagged', 'no_landmark') AND (label_source IS NULL OR label_source = 'model') "
            "AND model_version = :mv"
        ),
        {"mv": mv},
    ).all()
    if not rows:
        return []
    by_id = {r.id: r for r in rows}
    m = index.matrix(conn, mv)
    found = [i for i in by_id if i in m.row_of]
    changed: list[tuple[int, str | None]] = []
    chunk = 8192  # rows per score_embeddings call: bounds the float32 copy to chunk × D × 4 bytes
    for start in range(0, len(found), chunk):
        part = found[start : start + chunk]
        preds = recognizer.score_embeddings(m.vectors[[m.row_of[i] for i in part]])
        corr = load_corrections(conn, [by_id[i].content_hash for i in part])
        for pid, p in zip(part, preds):
            r = by_id[pid]
            res = resolve_label(p.top_k, p.is_landmark, threshold, corr.get(r.content_hash))
            if res.status == r.status and res.label == r.label and abs(res.confidence - (r.confidence or 0.0)) < 1e-4:
                continue
            lat, lon, src = photo_location(r.gps_latitude, r.gps_longitude, res.label, coords)
            conn.execute(
                text(
                    "UPDATE photos SET status = :st, label = :label, label_source = :ls, confidence = :conf, "
                    "latitude = :lat, longitude = :lon, location_source = :src WHERE id = :id"
                ),
                {
                    "st": res.status,
                    "label": res.label,
                    "ls": res.label_source,
                    "conf": res.confidence,
                    "lat": lat,
                    "lon": lon,
                    "src": src,
                    "id": pid,
                },
            )
            conn.execute(text("DELETE FROM predictions WHERE photo_id = :id"), {"id": pid})
            conn.execute(
                text(
                    "INSERT INTO predictions (photo_id, rank, label, confidence, model_version) "
                    "VALUES (:id, :rank, :label, :conf, :mv)"
                ),
                [{"id": pid, "rank": i, "label": k, "conf": float(c), "mv": mv} for i, (k, c) in enumerate(p.top_k)],
            )
            if res.status != r.status or res.label != r.label:
                changed.append((pid, res.label))
    return changed
