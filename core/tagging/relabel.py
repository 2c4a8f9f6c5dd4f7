"""Corrections applied to the library: recording a change (``correct``, ``confirm``, ``accept``), undoing,
redoing and reverting it, and teaching by proposals.

A change changes exactly the photos it names: their corrections are recorded (keyed by content hash, so
duplicates of the same bytes follow) and their effective label is recomputed from their stored top-k and
the corrections in force (``refresh_effective_labels``, with ``core.tagging.labels.resolve_label``). No
other photo is re-labelled: a change that teaches a landmark (set, new, confirm) only *proposes* it for
look-alike model-labelled photos (``core.tagging.proposals``), and a proposal changes nothing until
``accept`` applies it as one more change. Undo marks a change undone (its corrections stay stored, out of
force) and recomputes its photos from their stored top-k, so every label and confidence comes back
exactly; redo clears the mark. Each function runs inside the caller's single write transaction, so a
correction interrupted at any point (even by ``kill -9``) leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.domain import (
    NO_LANDMARK,
    AcceptReport,
    Change,
    ChangeKind,
    InvalidRequestError,
    LabelSource,
    NotFoundError,
    PhotoStatus,
    PhotoSummary,
    ProposalState,
)
from core.store import corrections as store_corrections
from core.store import landmarks as store_landmarks
from core.store import proposals as store_proposals
from core.store import results as store_results
from core.store.corrections import KIND_LABEL, KIND_NOT_LANDMARK, KIND_REJECT, ChangeRecord, load_corrections
from core.store.engine import Connection
from core.store.location import photo_location
from core.store.photos import correction_targets, photo_ids_with_hashes, photo_summaries
from core.store.search import match_landmarks
from core.store.similarity import EmbeddingIndex
from core.store.timestamps import utc_now
from core.tagging.labels import resolve_gps_label, resolve_label
from core.tagging.proposals import propose

__all__ = [
    "refresh_effective_labels",
    "landmark_key",
    "correct",
    "confirm",
    "accept",
    "import_labels",
    "dismiss",
    "more_like",
    "undo",
    "redo",
    "history",
    "suggestions",
]

Coords = Mapping[str, tuple[float | None, float | None]]

#: Change kinds whose photos teach their landmark (and so make proposals).
TEACHING_KINDS = (ChangeKind.SET_LANDMARK, ChangeKind.NEW_LANDMARK, ChangeKind.CONFIRM)


# ------------------------------------------------------------------------------------ re-labelling
def refresh_effective_labels(conn: Connection, photo_ids: Sequence[int], threshold: float, coords: Coords) -> list[int]:
    """Recompute the stored effective label of photos from their stored top-k and the corrections.

    GPS, pending and failed photos keep their status; only their label fields follow a manual label (a GPS photo
    without one takes the landmark its position was placed at, unless it was rejected: ``resolve_gps_label``).
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
        label: str | None
        source: str | None
        conf: float | None
        if r.status in (PhotoStatus.TAGGED, PhotoStatus.NO_LANDMARK):
            res = resolve_label(preds.get(r.id), None, threshold, c)
            status = res.status
            label, source, conf = res.label, res.label_source, res.confidence
        elif r.status == PhotoStatus.GPS:  # the person's label, else the landmark its position was placed at
            status = r.status
            label, source, conf = resolve_gps_label(r.place_landmark, c)
        else:  # pending / failed: only a manual label applies
            status = r.status
            if c is not None and c.manual is not None:
                res = resolve_label(None, None, threshold, c)
                label, source, conf = res.label, res.label_source, res.confidence
            elif r.label_source == LabelSource.MANUAL:
                label, source, conf = None, None, None
            else:
                label, source, conf = r.label, r.label_source, r.confidence
        if (status, label, source, conf) == (r.status, r.label, r.label_source, r.confidence):
            continue
        loc = photo_location(r.gps_latitude, r.gps_longitude, label, coords)
        store_results.set_effective_label(conn, r.id, status, label, source, conf, loc)
        changed.append(r.id)
    return changed


def _refresh_hashes(conn: Connection, hashes: Sequence[str], threshold: float) -> list[int]:
    """Recompute the photos with these contents; returns their ids."""
    ids = photo_ids_with_hashes(conn, hashes)
    refresh_effective_labels(conn, ids, threshold, store_landmarks.landmark_coords(conn))
    return ids


def _plural(n: int) -> str:
    return f"{n} photo{'s' if n != 1 else ''}"


# ------------------------------------------------------------------------------------ landmarks
def landmark_key(conn: Connection, landmark: str) -> str:
    """The key of ``landmark`` (a key, or a display name matching one exactly, any case).

    Raises:
        NotFoundError: no such landmark; the message lists close matches (the typo-tolerant name search of
            ``core.store.search.match_landmarks``): "unknown landmark 'Colloseum'; did you mean: Colosseum?".
    """
    if store_landmarks.landmark_exists(conn, landmark):
        return landmark
    key = store_landmarks.key_for_name(conn, " ".join(landmark.split()))
    if key is not None:
        return key
    close = match_landmarks(conn, landmark)[:5]
    if close:
        raise NotFoundError(f"unknown landmark {landmark!r}; did you mean: {', '.join(close)}?")
    raise NotFoundError(f"unknown landmark {landmark!r} (no landmark has a similar name; create it as a new one)")


# ------------------------------------------------------------------------------------ changes
def _record_change(
    conn: Connection,
    kind: str,
    key: str | None,
    ids: list[int],
    desc: str,
    corr_rows: list[tuple[str, str, str | None]],
    now: str,
    created: str | None = None,
    created_name: str | None = None,
) -> int:
    """One new applied change: ends the redo stack, stores the change and its corrections."""
    store_corrections.drop_redo_stack(conn)
    change_id = store_corrections.add_change(conn, kind, key, ids, desc, created, now, created_name)
    store_corrections.add_corrections(conn, corr_rows, change_id, now)
    return change_id


def _teach(
    conn: Connection, recognizer: Any, index: EmbeddingIndex, change_id: int, landmarks: Sequence[str], now: str
) -> int:
    """Proposals from the taught photos of ``landmarks`` after change ``change_id``; returns how many."""
    if recognizer is None:
        return 0
    n = 0
    for key in dict.fromkeys(landmarks):
        if key and key != NO_LANDMARK:
            n += len(
                propose(
                    conn, recognizer, index, key, request=store_proposals.REQUEST_TEACH, now=now, change_id=change_id
                )
            )
    return n


def _change(conn: Connection, change_id: int) -> Change:
    rec = store_corrections.get_change(conn, change_id)
    if rec is None:  # pragma: no cover - written in this transaction
        raise NotFoundError(f"no change with id {change_id}")
    return rec.to_change(store_proposals.open_counts(conn, [change_id]).get(change_id, 0))


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

    Only the selected photos (and duplicates of their bytes) change. Setting a landmark (existing or new)
    then proposes it for look-alike model-labelled photos (``Change.proposals``).

    Args:
        conn: write connection. recognizer: the ``Recognizer`` for the proposals, or ``None`` (no proposals).
        index: cached embeddings. threshold: the bundle's no-landmark threshold. photo_ids: distinct ids.
    Returns:
        the ``Change``.
    Raises:
        NotFoundError: an unknown photo id or landmark (with close matches). InvalidRequestError: nothing to
            reject, empty name.
    """
    ids = list(photo_ids)
    now = utc_now()
    rows = correction_targets(conn, ids)
    missing = set(ids) - {r.id for r in rows}
    if missing:
        raise NotFoundError(f"no photo with id {min(missing)}")
    created = created_name = None
    corr_rows: list[tuple[str, str, str | None]]
    if reject:
        kind = ChangeKind.REJECT
        key = landmark_key(conn, landmark) if landmark is not None else None
        targets = [(r.content_hash, key or r.label) for r in rows]
        if any(t is None for _, t in targets):
            raise InvalidRequestError("nothing to reject: a photo has no landmark label")
        labels = {t for _, t in targets}
        key = next(iter(labels)) if len(labels) == 1 else None
        corr_rows = [(h, KIND_REJECT, t) for h, t in targets]
    elif not_landmark:
        kind, key = ChangeKind.NOT_LANDMARK, None
        corr_rows = [(r.content_hash, KIND_NOT_LANDMARK, None) for r in rows]
    elif new_name:
        name = " ".join(new_name.split())
        existing = store_landmarks.key_for_name(conn, name)
        if existing is not None:
            kind, key = ChangeKind.SET_LANDMARK, existing
        else:
            try:
                key = store_landmarks.create_user_landmark(conn, name, now)
            except ValueError as exc:
                raise InvalidRequestError(str(exc)) from None
            kind, created, created_name = ChangeKind.NEW_LANDMARK, key, name
        corr_rows = [(r.content_hash, KIND_LABEL, key) for r in rows]
    else:
        if landmark is None:
            raise InvalidRequestError("choose exactly one of: a landmark, a new landmark name, not a landmark, reject")
        kind, key = ChangeKind.SET_LANDMARK, landmark_key(conn, landmark)
        corr_rows = [(r.content_hash, KIND_LABEL, key) for r in rows]
    lname = store_landmarks.landmark_name(conn, key) if key else None
    what = {ChangeKind.REJECT: f"rejected {lname or 'the model labels'}", ChangeKind.NOT_LANDMARK: "not a landmark"}
    desc = f"{_plural(len(ids))} {what.get(kind, f'→ {lname}')}"
    change_id = _record_change(conn, kind, key, ids, desc, corr_rows, now, created, created_name)
    _refresh_hashes(conn, [h for h, _, _ in corr_rows], threshold)
    if kind in TEACHING_KINDS and key is not None:
        _teach(conn, recognizer, index, change_id, [key], now)
    return _change(conn, change_id)


def confirm(conn: Connection, recognizer: Any, index: EmbeddingIndex, threshold: float, photo_ids: list[int]) -> Change:
    """Make the selected photos' current labels the person's (``Library.confirm``): a landmark label becomes a
    manual label of that landmark, "no landmark" a manual "not a landmark". The photos are then locked (never
    re-scored, never proposed) and are exported by ``export_corrections``; confirmed landmarks teach.

    Raises:
        NotFoundError: an unknown photo id. InvalidRequestError: a photo has nothing to confirm (pending,
            failed, or a GPS photo without a label).
    """
    ids = list(photo_ids)
    now = utc_now()
    rows = correction_targets(conn, ids)
    missing = set(ids) - {r.id for r in rows}
    if missing:
        raise NotFoundError(f"no photo with id {min(missing)}")
    summaries = photo_summaries(conn, ids)
    corr_rows: list[tuple[str, str, str | None]] = []
    labels: list[str] = []
    for r in rows:
        s = summaries[r.id]
        if s.status == PhotoStatus.NO_LANDMARK:
            corr_rows.append((r.content_hash, KIND_NOT_LANDMARK, None))
        elif s.label is not None:
            corr_rows.append((r.content_hash, KIND_LABEL, s.label))
            labels.append(s.label)
        else:
            raise InvalidRequestError(f"nothing to confirm: photo {r.id} has no label yet ({s.status})")
    distinct = sorted(set(labels))
    key = distinct[0] if len(distinct) == 1 and len(labels) == len(rows) else None
    lname = store_landmarks.landmark_name(conn, key) if key else None
    if key is not None:
        what = f"confirmed as {lname or key}"
    elif not labels:
        what = "confirmed as not a landmark"
    else:
        what = "confirmed"
    change_id = _record_change(conn, ChangeKind.CONFIRM, key, ids, f"{_plural(len(ids))} {what}", corr_rows, now)
    _refresh_hashes(conn, [h for h, _, _ in corr_rows], threshold)
    _teach(conn, recognizer, index, change_id, distinct, now)
    return _change(conn, change_id)


def accept(conn: Connection, threshold: float, proposal_ids: Sequence[int]) -> AcceptReport:
    """Apply open proposals as one change (kind ``accept``): each photo takes its proposed label as the
    person's. Proposals whose photo left the library are skipped and counted; so are proposals that are not
    open, unknown ids, and photos the person labelled meanwhile.

    Raises:
        InvalidRequestError: no proposal ids.
    """
    ids = [int(i) for i in dict.fromkeys(proposal_ids)]
    if not ids:
        raise InvalidRequestError("no proposals selected")
    rows = store_proposals.proposal_rows(conn, ids)
    summaries = photo_summaries(conn, [r.photo_id for r in rows.values()])
    accepted: list[Any] = []
    deleted: list[int] = []
    other: list[int] = []
    seen_photos: set[int] = set()
    for pid in ids:
        r = rows.get(pid)
        if r is None or r.state != ProposalState.OPEN:
            other.append(pid)
        elif r.photo_id not in summaries:
            deleted.append(pid)
        elif summaries[r.photo_id].label_source == LabelSource.MANUAL or r.photo_id in seen_photos:
            other.append(pid)
        else:
            accepted.append(r)
            seen_photos.add(r.photo_id)
    change = None
    if accepted:
        now = utc_now()
        targets = correction_targets(conn, [r.photo_id for r in accepted])
        hash_of = {t.id: t.content_hash for t in targets}
        corr_rows = [
            (hash_of[r.photo_id], KIND_NOT_LANDMARK, None)
            if r.new_label == NO_LANDMARK
            else (hash_of[r.photo_id], KIND_LABEL, r.new_label)
            for r in accepted
        ]
        new_labels = sorted({r.new_label for r in accepted})
        key = new_labels[0] if len(new_labels) == 1 and new_labels[0] != NO_LANDMARK else None
        lname = store_landmarks.landmark_name(conn, key) if key else None
        desc = f"{_plural(len(accepted))} → {lname or 'proposed labels'} (accepted proposals)"
        photo_ids = [r.photo_id for r in accepted]
        change_id = _record_change(conn, ChangeKind.ACCEPT, key, photo_ids, desc, corr_rows, now)
        _refresh_hashes(conn, [h for h, _, _ in corr_rows], threshold)
        store_proposals.set_state(conn, [r.id for r in accepted], ProposalState.ACCEPTED, change_id)
        change = _change(conn, change_id)
    parts = [change.description] if change is not None else ["nothing accepted"]
    if deleted:
        parts.append(f"{len(deleted)} skipped: the photo was deleted")
    if other:
        parts.append(f"{len(other)} skipped: not open any more, or the photo was labelled meanwhile")
    return AcceptReport(change, tuple(r.id for r in accepted), tuple(deleted), tuple(other), "; ".join(parts))


def import_labels(conn: Connection, threshold: float, labels: Mapping[int, str]) -> Change | None:
    """Make ``{photo id: landmark key}`` the person's labels as one change (kind ``import``: labels read from XMP
    sidecars). Nothing is taught from them (no proposals). Unknown photo ids are skipped.

    Returns:
        the ``Change``, or ``None`` when no photo is left to label.
    """
    targets = correction_targets(conn, list(labels))
    if not targets:
        return None
    now = utc_now()
    corr_rows: list[tuple[str, str, str | None]] = [(t.content_hash, KIND_LABEL, labels[t.id]) for t in targets]
    keys = sorted({labels[t.id] for t in targets})
    key = keys[0] if len(keys) == 1 else None
    lname = store_landmarks.landmark_name(conn, key) if key else None
    desc = f"{_plural(len(targets))} → {lname or 'labels'} (from XMP sidecars)"
    ids = [t.id for t in targets]
    change_id = _record_change(conn, ChangeKind.IMPORT, key, ids, desc, corr_rows, now)
    _refresh_hashes(conn, [h for h, _, _ in corr_rows], threshold)
    return _change(conn, change_id)


def dismiss(conn: Connection, proposal_ids: Sequence[int]) -> int:
    """Dismiss open proposals (never proposed again for that label); returns how many were open."""
    rows = store_proposals.proposal_rows(conn, proposal_ids)
    open_ids = [i for i, r in rows.items() if r.state == ProposalState.OPEN]
    store_proposals.set_state(conn, open_ids, ProposalState.DISMISSED)
    return len(open_ids)


def more_like(conn: Connection, recognizer: Any, index: EmbeddingIndex, photo_ids: Sequence[int]) -> list[int]:
    """ "Find more like this": propose each selected photo's landmark for photos like it, model-labelled ones
    only, even those the model is sure about or where the person dismissed it before.

    Returns:
        ids of the proposals made.
    Raises:
        NotFoundError: an unknown photo id. InvalidRequestError: a selected photo has no landmark label or no
            embedding (GPS, pending, failed).
    """
    ids = [int(i) for i in dict.fromkeys(photo_ids)]
    if not ids:
        raise InvalidRequestError("no photos selected")
    summaries = photo_summaries(conn, ids)
    missing = set(ids) - set(summaries)
    if missing:
        raise NotFoundError(f"no photo with id {min(missing)}")
    found, vecs = index.vectors_for(conn, recognizer.model_version, ids)
    row_of = {pid: n for n, pid in enumerate(found)}
    by_label: dict[str, list[int]] = {}
    for i in ids:
        s = summaries[i]
        if s.label is None:
            raise InvalidRequestError(f"photo {i} shows no landmark: nothing to find more of")
        if i not in row_of:
            raise InvalidRequestError(f"photo {i} has no embedding yet (it was not tagged by the current model)")
        by_label.setdefault(s.label, []).append(row_of[i])
    now = utc_now()
    made: list[int] = []
    for key, rows in by_label.items():
        made += propose(
            conn,
            recognizer,
            index,
            key,
            request=store_proposals.REQUEST_MORE_LIKE,
            now=now,
            taught=vecs[rows].astype("float32"),
            sure=None,
        )
    return made


def _undo_record(conn: Connection, rec: ChangeRecord, threshold: float) -> None:
    hashes = store_corrections.correction_hashes(conn, rec.id)
    store_corrections.mark_undone(conn, rec.id)
    _refresh_hashes(conn, hashes, threshold)
    store_proposals.withdraw_open(conn, rec.id)
    if rec.kind == ChangeKind.ACCEPT:
        store_proposals.reopen_accepted(conn, rec.id)
    if rec.created_landmark:
        store_landmarks.delete_user_landmark_if_unused(conn, rec.created_landmark)


def undo(conn: Connection, threshold: float, change_id: int | None) -> Change | None:
    """Undo a change (``None``: the newest one not undone yet); with an id this is ``Library.revert``.

    Its corrections go out of force, its photos go back to what the remaining corrections and their stored
    top-k give (exactly the label and confidence they had, when no later change touched them), its open
    proposals are withdrawn, proposals it accepted are open again, and a landmark it created is deleted
    when nothing uses it. The change can be redone until a new change is made.
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
    _undo_record(conn, rec, threshold)
    return _change(conn, rec.id)


def redo(conn: Connection, recognizer: Any, index: EmbeddingIndex, threshold: float) -> Change | None:
    """Re-apply the most recently undone change (``Library.redo``); a landmark it created is created again,
    proposals it accepted are accepted again, and a teaching change proposes again.

    Returns:
        the redone ``Change``, or ``None`` when there is nothing to redo.
    """
    rec = store_corrections.next_redo(conn)
    if rec is None:
        return None
    now = utc_now()
    if rec.created_landmark and not store_landmarks.landmark_exists(conn, rec.created_landmark):
        store_landmarks.create_user_landmark(
            conn, rec.created_landmark_name or rec.created_landmark, now, key=rec.created_landmark
        )
    store_corrections.mark_redone(conn, rec.id)
    _refresh_hashes(conn, store_corrections.correction_hashes(conn, rec.id), threshold)
    if rec.kind == ChangeKind.ACCEPT:
        store_proposals.reaccept(conn, rec.id)
    elif rec.kind in TEACHING_KINDS:
        summaries = photo_summaries(conn, list(rec.photo_ids))
        _teach(conn, recognizer, index, rec.id, sorted({s.label for s in summaries.values() if s.label}), now)
    return _change(conn, rec.id)


def history(conn: Connection, limit: int | None = None) -> list[Change]:
    """Every change, newest first (``Library.history``)."""
    recs = store_corrections.list_changes(conn, limit)
    counts = store_proposals.open_counts(conn, [r.id for r in recs])
    return [r.to_change(counts.get(r.id, 0)) for r in recs]


def suggestions(conn: Connection, change_id: int) -> list[PhotoSummary]:
    """The photos of a change's open proposals, best first (``Library.suggestions``).

    Raises:
        NotFoundError: no change with that id.
    """
    if store_corrections.get_change(conn, change_id) is None:
        raise NotFoundError(f"no change with id {change_id}")
    out: dict[int, PhotoSummary] = {}
    for p in store_proposals.list_proposals(conn, change_id=change_id):
        out.setdefault(p.photo.id, p.photo)
    return list(out.values())
