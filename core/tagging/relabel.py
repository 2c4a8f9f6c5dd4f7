"""Corrections applied to the library: recording a change (``correct``), undoing it (``undo``), and
re-labelling the photos it affects.

After every change the corrected photos (and their duplicates, same content hash) get their effective label
recomputed from their stored top-k and the corrections (``refresh_effective_labels``), and every other
model-labelled photo is re-scored from its stored embedding with the manually labelled photos as the
recognizer's *user gallery* (``rescore_model_labels``: ``Recognizer.set_user_gallery`` +
``Recognizer.score_embeddings``, no CNN run). The rows are read and written through ``core.store``; the
labelling rule is ``core.tagging.labels.resolve_label``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.domain import (
    Change,
    InvalidRequestError,
    LabelSource,
    NotFoundError,
    PhotoStatus,
    PhotoSummary,
)
from core.store import corrections as store_corrections
from core.store import landmarks as store_landmarks
from core.store import results as store_results
from core.store.corrections import KIND_LABEL, KIND_NOT_LANDMARK, KIND_REJECT, ChangeRecord, load_corrections
from core.store.engine import Connection
from core.store.location import photo_location
from core.store.photos import correction_targets, photo_ids_with_hashes, photo_summaries
from core.store.similarity import EmbeddingIndex
from core.store.timestamps import parse_time, utc_now
from core.tagging.labels import resolve_label

__all__ = ["refresh_effective_labels", "rescore_model_labels", "correct", "undo", "suggestions"]

Coords = Mapping[str, tuple[float | None, float | None]]


# ------------------------------------------------------------------------------------ re-labelling
def refresh_effective_labels(conn: Connection, photo_ids: Sequence[int], threshold: float, coords: Coords) -> list[int]:
    """Recompute the stored effective label of photos from their stored top-k and the corrections.

    GPS, pending and failed photos keep their status; only their label fields follow a manual label.
    Args:
        conn: write connection. photo_ids: the photos. threshold: the bundle's no-landmark threshold.
        coords: ``{key: (latitude, longitude)}`` of the landmarks (estimated locations).
    Returns:
        ids whose label, status or source changed.
    """
    if not photo_ids:
        return []
    ids = [int(i) for i in dict.fromkeys(photo_ids)]
    rows = store_results.label_rows(conn, ids)
    preds = store_results.predictions_of(conn, ids)
    corr = load_corrections(conn, [r.content_hash for r in rows])
    changed: list[int] = []
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
        loc = photo_location(r.gps_latitude, r.gps_longitude, label, coords)
        store_results.set_effective_label(conn, r.id, status, label, source, conf, loc)
        changed.append(r.id)
    return changed


def rescore_model_labels(
    conn: Connection,
    recognizer: Any,
    index: EmbeddingIndex,
    threshold: float,
    coords: Coords,
    names: Mapping[str, str] | None = None,
) -> list[tuple[int, str | None]]:
    """Refresh the user gallery and re-score every model-labelled photo from its stored embedding.

    Args:
        conn: write connection.
        recognizer: ``core.recognition.recognizer.Recognizer`` (``set_user_gallery``, ``score_embeddings``,
            ``model_version``).
        index: the cached embeddings (``core.store.similarity.EmbeddingIndex``).
        threshold: the bundle's no-landmark threshold.
        coords: ``{key: (latitude, longitude)}`` of the landmarks.
        names: display names of user-created landmark keys (for ``label_name``).
    Returns:
        ``(photo_id, new label)`` for photos whose effective model label or status changed.
    """
    mv = recognizer.model_version
    emb, labels, _ids = store_corrections.user_gallery(conn, mv)
    if len(labels):
        recognizer.set_user_gallery(emb, labels, names=dict(names or {}))
    else:
        recognizer.set_user_gallery(None, [])
    rows = store_results.model_labelled_rows(conn, mv)
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
            loc = photo_location(r.gps_latitude, r.gps_longitude, res.label, coords)
            store_results.set_effective_label(conn, pid, res.status, res.label, res.label_source, res.confidence, loc)
            store_results.replace_predictions(conn, pid, p.top_k, mv)
            if res.status != r.status or res.label != r.label:
                changed.append((pid, res.label))
    return changed


def _after_corrections(
    conn: Connection,
    recognizer: Any,
    index: EmbeddingIndex,
    threshold: float,
    hashes: list[str],
    ids: list[int],
    key: str | None,
    kind: str,
) -> list[int]:
    """Refresh the corrected photos (and their duplicates), re-score the rest; return the photos
    whose model label moved to ``key`` (or to "no landmark" for not_landmark)."""
    coords = store_landmarks.landmark_coords(conn)
    dup = photo_ids_with_hashes(conn, hashes)
    refresh_effective_labels(conn, dup, threshold, coords)
    changed = rescore_model_labels(
        conn, recognizer, index, threshold, coords, store_landmarks.user_landmark_names(conn)
    )
    exclude = set(ids) | set(dup)
    if kind == "not_landmark":
        return [pid for pid, lab in changed if lab is None and pid not in exclude]
    if kind == "reject" or key is None:
        return []
    return [pid for pid, lab in changed if lab == key and pid not in exclude]


# ------------------------------------------------------------------------------------ changes
def _landmark_key(conn: Connection, landmark: str) -> str:
    """The key of ``landmark`` (a key, or a display name matching one exactly, any case).

    Raises:
        NotFoundError: no such landmark.
    """
    if store_landmarks.landmark_exists(conn, landmark):
        return landmark
    key = store_landmarks.key_for_name(conn, " ".join(landmark.split()))
    if key is None:
        raise NotFoundError(f"unknown landmark {landmark!r} (use new_name= to create it)")
    return key


def correct(
    conn: Connection,
    recognizer: Any,
    index: EmbeddingIndex,
    threshold: float,
    photo_ids: list[int],
    *,
    landmark: str | None = None,
    new_name: str | None = None,
    not_landmark: bool = False,
    reject: bool = False,
) -> Change:
    """Record one correction of ``photo_ids`` (see ``Library.relabel``; exactly one option was chosen).

    Args:
        conn: write connection. recognizer: the ``Recognizer`` (re-scoring). index: cached embeddings.
        threshold: the bundle's no-landmark threshold. photo_ids: distinct ids, not empty.
    Returns:
        the ``Change``; its ``rescored`` counts the other photos that took its label.
    Raises:
        NotFoundError: an unknown photo id or landmark. InvalidRequestError: nothing to reject, empty name.
    """
    ids = list(photo_ids)
    now = utc_now()
    rows = correction_targets(conn, ids)
    missing = set(ids) - {r.id for r in rows}
    if missing:
        raise NotFoundError(f"no photo with id {min(missing)}")
    created = None
    corr_rows: list[tuple[str, str, str | None]]
    if reject:
        kind = "reject"
        key = _landmark_key(conn, landmark) if landmark is not None else None
        targets = [(r.content_hash, key or r.label) for r in rows]
        if any(t is None for _, t in targets):
            raise InvalidRequestError("nothing to reject: a photo has no landmark label")
        labels = {t for _, t in targets}
        key = next(iter(labels)) if len(labels) == 1 else None
        corr_rows = [(h, KIND_REJECT, t) for h, t in targets]
    elif not_landmark:
        kind, key = "not_landmark", None
        corr_rows = [(r.content_hash, KIND_NOT_LANDMARK, None) for r in rows]
    elif new_name:
        name = " ".join(new_name.split())
        existing = store_landmarks.key_for_name(conn, name)
        if existing is not None:
            kind, key = "set_landmark", existing
        else:
            try:
                key = store_landmarks.create_user_landmark(conn, name, now)
            except ValueError as exc:
                raise InvalidRequestError(str(exc)) from None
            kind, created = "new_landmark", key
        corr_rows = [(r.content_hash, KIND_LABEL, key) for r in rows]
    else:
        if landmark is None:
            raise InvalidRequestError("choose exactly one of: a landmark, a new landmark name, not a landmark, reject")
        kind, key = "set_landmark", _landmark_key(conn, landmark)
        corr_rows = [(r.content_hash, KIND_LABEL, key) for r in rows]
    lname = store_landmarks.landmark_name(conn, key) if key else None
    n = len(ids)
    what = {"reject": f"rejected {lname or 'the model labels'}", "not_landmark": "not a landmark"}.get(
        kind, f"→ {lname}"
    )
    desc = f"{n} photo{'s' if n != 1 else ''} {what}"
    change_id = store_corrections.add_change(conn, kind, key, ids, desc, created, now)
    store_corrections.add_corrections(conn, corr_rows, change_id, now)
    suggested = _after_corrections(
        conn, recognizer, index, threshold, [h for h, _, _ in corr_rows], ids, key if kind != "reject" else None, kind
    )
    store_corrections.set_suggested(conn, change_id, suggested)
    return Change(
        id=change_id,
        kind=kind,
        photo_ids=tuple(ids),
        landmark=key,
        created_at=parse_time(now),
        description=desc,
        rescored=len(suggested),
    )


def undo(
    conn: Connection, recognizer: Any, index: EmbeddingIndex, threshold: float, change_id: int | None
) -> Change | None:
    """Undo a change (``None``: the newest one not undone yet); see ``Library.undo``.

    Returns:
        the undone ``Change``, or ``None`` when there was nothing to undo.
    Raises:
        NotFoundError: no change with that id. InvalidRequestError: it was already undone.
    """
    rec: ChangeRecord | None
    if change_id is None:
        rec = store_corrections.last_change(conn)
        if rec is None:
            return None
    else:
        rec = store_corrections.get_change(conn, change_id)
        if rec is None:
            raise NotFoundError(f"no change with id {change_id}")
        if rec.undone:
            raise InvalidRequestError(f"that change was already undone ({rec.description})")
    hashes = store_corrections.correction_hashes(conn, rec.id)
    store_corrections.delete_corrections(conn, rec.id)
    store_corrections.mark_undone(conn, rec.id)
    _after_corrections(conn, recognizer, index, threshold, hashes, list(rec.photo_ids), None, rec.kind)
    if rec.created_landmark:
        store_landmarks.delete_user_landmark_if_unused(conn, rec.created_landmark)
    return rec.to_change()


def suggestions(conn: Connection, change_id: int) -> list[PhotoSummary]:
    """Other photos that took a change's label when it re-scored the library (still holding it); for a
    not-a-landmark change, the photos it moved to "no landmark".

    Raises:
        NotFoundError: no change with that id.
    """
    rec = store_corrections.get_change(conn, change_id)
    if rec is None:
        raise NotFoundError(f"no change with id {change_id}")
    ids = list(rec.suggested)
    summaries = photo_summaries(conn, ids)
    out = []
    for i in ids:
        s = summaries.get(i)
        if s is None or s.label_source == LabelSource.MANUAL:
            continue
        if (rec.kind == "not_landmark" and s.status == PhotoStatus.NO_LANDMARK) or (
            rec.landmark and s.label == rec.landmark
        ):
            out.append(s)
    return out
