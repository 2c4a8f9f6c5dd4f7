"""Corrections applied to the library: recording a change (``correct``, ``confirm``, ``accept``, ``import_labels``),
undoing, redoing and reverting it, teaching by proposals, and finishing a change a crash interrupted.

A change changes exactly the photos it names: their corrections are recorded (keyed by the photo's id, so they
follow the photo when its bytes change or it moves) and their effective label is recomputed from their stored top-k
and the corrections in force (``refresh_effective_labels``, with ``core.tagging.labels.resolve_label``). No other
photo is re-labelled — a byte-identical copy elsewhere is another photo: a change that teaches a landmark (set, new,
confirm) only *proposes* it for look-alike model-labelled photos (``core.tagging.proposals``), and a proposal changes
nothing until ``accept`` applies it as one more change. Undo marks a change undone (its corrections stay stored, out
of force) and recomputes its photos from their stored top-k, so every label and confidence comes back exactly; redo
clears the mark.

Short write transactions (issue 14.5: relabelling an album of thousands of photos in a library of 100 000 must never
hold the write lock long enough to freeze the GUI). What only reads comes first, in a read transaction: checking the
request and the proposals a teaching change makes (``core.tagging.proposals.claims``, a pass over every stored
embedding: seconds at 100 000 photos). The writes are then cut into small steps (store the change, its corrections
``ROWS_STEP`` at a time, the labels of ``REFRESH_STEP`` photos, …) and a transaction commits once it has worked
``WRITE_BUDGET_S`` (``run_steps``), so another connection (the GUI) never waits much longer than that for the lock.
A change that fits in one transaction — most do — is one transaction: all or nothing, even after ``kill -9``. A
longer one says in ``changes.pending`` how far it got: while its corrections are being stored (``record``) they are
out of force and the change is not in the history; one commit then puts them all in force (``refresh``), the labels
of its photos follow in later transactions and its proposals last. ``finish_interrupted`` (when a library is opened)
deletes a change a crash left in ``record`` and brings the labels of one left in ``refresh`` in line, so nothing is
left half done. Undo and redo work the same way (``refresh`` from their first commit).
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timezone
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
from core.store.corrections import (
    KIND_LABEL,
    KIND_NOT_LANDMARK,
    KIND_REJECT,
    PENDING_RECORD,
    PENDING_REFRESH,
    ChangeRecord,
    load_corrections,
)
from core.store.engine import Connection
from core.store.location import photo_location
from core.store.photos import correction_targets, photo_summaries
from core.store.search import match_landmarks
from core.store.similarity import EmbeddingIndex
from core.store.timestamps import utc_now
from core.tagging.labels import resolve_gps_label, resolve_label
from core.tagging.proposals import claims

__all__ = [
    "WRITE_BUDGET_S",
    "REFRESH_STEP",
    "ROWS_STEP",
    "RECORD_TIMEOUT_S",
    "WriteTxn",
    "run_steps",
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
    "finish_interrupted",
    "history",
    "suggestions",
]

Coords = Mapping[str, tuple[float | None, float | None]]

#: A factory of write transactions: ``with write() as conn`` runs ``BEGIN IMMEDIATE`` … ``COMMIT``
#: (``core.store.engine.Database.write``, ``core.library.Library._write``).
WriteTxn = Callable[[], AbstractContextManager[Connection]]
Step = Callable[[Connection], None]

#: Seconds of work after which a write transaction of a change commits (the next step starts a new one). The
#: longest wait of another connection is about this plus one step (bench/bench_identity.py: < 100 ms).
WRITE_BUDGET_S = 0.03
#: Photos whose labels one step recomputes (~0.2-0.4 ms each, more on a busy machine).
REFRESH_STEP = 25
#: Rows (corrections, proposals, proposal states) one step writes (~5-15 ms).
ROWS_STEP = 200
#: A change found still being recorded when a library is opened is deleted when it is older than this (seconds);
#: a younger one may be another program's, being recorded right now.
RECORD_TIMEOUT_S = 60.0

#: Change kinds whose photos teach their landmark (and so make proposals).
TEACHING_KINDS = (ChangeKind.SET_LANDMARK, ChangeKind.NEW_LANDMARK, ChangeKind.CONFIRM)


def run_steps(write: WriteTxn, steps: Iterable[Step], budget_s: float | None = None) -> None:
    """Run ``steps`` (each a small write taking a connection) in as few write transactions as the time budget
    allows: a transaction commits once its steps took ``budget_s`` (default ``WRITE_BUDGET_S``) seconds, and the next
    step opens a new one. ``steps`` may be a generator: a step is made only when the previous one has run.

    Raises:
        whatever a step or the database raises; the transaction it happened in is rolled back, the ones before stay
        committed.
    """
    budget = WRITE_BUDGET_S if budget_s is None else float(budget_s)
    it: Iterator[Step] = iter(steps)
    step = next(it, None)
    while step is not None:
        with write() as conn:
            t0 = time.perf_counter()
            while step is not None:
                step(conn)
                step = next(it, None)
                if time.perf_counter() - t0 >= budget:
                    break


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
    corr = load_corrections(conn, ids)
    changed: list[int] = []
    for r in rows:
        c = corr.get(r.id)
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


def _refresh_steps(photo_ids: Sequence[int], threshold: float) -> Iterator[Step]:
    """Steps recomputing the labels of ``photo_ids``, ``REFRESH_STEP`` photos each."""
    ids = sorted({int(i) for i in photo_ids})
    coords: list[Coords] = []

    def refresh(conn: Connection, part: list[int]) -> None:
        if not coords:
            coords.append(store_landmarks.landmark_coords(conn))
        refresh_effective_labels(conn, part, threshold, coords[0])

    for start in range(0, len(ids), REFRESH_STEP):
        yield functools.partial(refresh, part=ids[start : start + REFRESH_STEP])


def _rows_steps(rows: Sequence[Any], write_rows: Callable[..., Any]) -> Iterator[Step]:
    """Steps writing ``rows`` ``ROWS_STEP`` at a time with ``write_rows(conn, part=...)``."""
    for start in range(0, len(rows), ROWS_STEP):
        yield functools.partial(write_rows, part=rows[start : start + ROWS_STEP])


def _until_done(write_some: Callable[[Connection, int], int]) -> Iterator[Step]:
    """Steps calling ``write_some(conn, ROWS_STEP)`` (it writes at most that many rows and says how many) until a
    call writes fewer."""
    more = [True]

    def step(conn: Connection) -> None:
        more[0] = write_some(conn, ROWS_STEP) >= ROWS_STEP

    while more[0]:
        yield step


def _proposal_steps(rec: ChangeRecord, undone: bool) -> Iterator[Step]:
    """The proposals of an undone change go (its open ones are withdrawn, those it accepted are open again), those of
    a redone ``accept`` are accepted again; in steps of ``ROWS_STEP``, each a no-op once done (so a recovery may run
    them again)."""
    if undone:
        yield from _until_done(lambda conn, n: store_proposals.withdraw_open(conn, rec.id, n))
        if rec.kind == ChangeKind.ACCEPT:
            yield from _until_done(lambda conn, n: store_proposals.reopen_accepted(conn, rec.id, n))
    elif rec.kind == ChangeKind.ACCEPT:
        yield from _until_done(lambda conn, n: store_proposals.reaccept(conn, rec.id, n))


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
@dataclass
class _Plan:
    """A change worked out in a read transaction, to be written by ``_record``.

    Attributes:
        kind, key, photo_ids, description: the ``changes`` row. corrections: ``(photo id, kind, label)`` rows.
        created, created_name: key and name of the user landmark the change creates (the key is chosen while
            planning, the landmark is inserted with the change).
        proposals: the proposals the change makes (``core.tagging.proposals.claims`` rows, without change id).
        accepted: ids of the proposals the change accepts.
    """

    kind: str
    key: str | None
    photo_ids: list[int]
    description: str
    corrections: list[tuple[int, str, str | None]]
    created: str | None = None
    created_name: str | None = None
    proposals: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[int] = field(default_factory=list)


def _record(write: WriteTxn, plan: _Plan, threshold: float) -> Change:
    """Write a planned change in short transactions (see the module docstring); returns the ``Change``."""
    now = utc_now()
    out: dict[str, Any] = {}

    def start(conn: Connection) -> None:
        store_corrections.drop_redo_stack(conn)  # a new change ends redo (standard editor semantics)
        if plan.created is not None:
            store_landmarks.create_user_landmark(conn, plan.created_name or plan.created, now, key=plan.created)
        out["id"] = store_corrections.add_change(
            conn,
            plan.kind,
            plan.key,
            plan.photo_ids,
            plan.description,
            plan.created,
            now,
            plan.created_name,
            pending=PENDING_RECORD,
        )

    def in_force(conn: Connection) -> None:
        store_corrections.set_pending(conn, out["id"], PENDING_REFRESH)

    def done(conn: Connection) -> None:
        store_corrections.set_pending(conn, out["id"], None)
        out["change"] = _change(conn, out["id"])

    def steps() -> Iterator[Step]:
        yield start
        yield from _rows_steps(
            plan.corrections, lambda conn, part: store_corrections.add_corrections(conn, part, out["id"], now)
        )
        yield from _rows_steps(
            plan.accepted,
            lambda conn, part: store_proposals.set_state(conn, part, ProposalState.ACCEPTED, out["id"]),
        )
        yield in_force
        yield from _refresh_steps([p for p, _, _ in plan.corrections], threshold)
        yield from _rows_steps(
            plan.proposals,
            lambda conn, part: store_proposals.add_proposals(conn, [{**r, "change_id": out["id"]} for r in part], now),
        )
        yield done

    run_steps(write, steps())
    return out["change"]


def _teach(
    conn: Connection,
    recognizer: Any,
    index: EmbeddingIndex,
    taught: Mapping[str, Sequence[int]],
    exclude: Iterable[int],
) -> list[dict[str, Any]]:
    """The proposals a change makes, worked out before it is written: for each landmark it teaches, its taught photos
    are the person's photos of it now plus ``taught[landmark]`` (the change's photos that will be labelled with it),
    and the change's photos (``exclude``) are never proposed. Returns ``claims`` rows (no change id)."""
    if recognizer is None:
        return []
    import numpy as np

    mv = recognizer.model_version
    skip = set(exclude)
    rows: list[dict[str, Any]] = []
    for key, new_ids in taught.items():
        if not key or key == NO_LANDMARK:
            continue
        _, have = store_corrections.taught_embeddings(conn, mv, key)
        ids = sorted(set(have) | {int(i) for i in new_ids})
        _, vecs = index.vectors_for(conn, mv, ids)
        if vecs.size == 0:
            continue
        rows += claims(
            conn,
            recognizer,
            index,
            key,
            request=store_proposals.REQUEST_TEACH,
            taught=np.asarray(vecs, np.float32),
            exclude=skip,
        )
    return rows


def _change(conn: Connection, change_id: int) -> Change:
    rec = store_corrections.get_change(conn, change_id)
    if rec is None:  # pragma: no cover - written in this transaction
        raise NotFoundError(f"no change with id {change_id}")
    return rec.to_change(store_proposals.open_counts(conn, [change_id]).get(change_id, 0))


def _targets(conn: Connection, ids: Sequence[int]) -> list[Any]:
    """``correction_targets`` of ``ids``; raises ``NotFoundError`` for an unknown id."""
    rows = correction_targets(conn, ids)
    missing = set(ids) - {r.id for r in rows}
    if missing:
        raise NotFoundError(f"no photo with id {min(missing)}")
    return rows


def correct(
    write: WriteTxn,
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

    Only the selected photos change. Setting a landmark (existing or new) then proposes it for look-alike
    model-labelled photos (``Change.proposals``).

    Args:
        write: write transactions (the change is written in short ones: see the module docstring).
        conn: a read connection: the request is checked and the proposals are worked out in it, before any write.
        recognizer: the ``Recognizer`` for the proposals, or ``None`` (no proposals).
        index: cached embeddings. threshold: the bundle's no-landmark threshold. photo_ids: distinct ids.
    Returns:
        the ``Change``.
    Raises:
        NotFoundError: an unknown photo id or landmark (with close matches). InvalidRequestError: nothing to
            reject, empty name.
    """
    ids = list(photo_ids)
    rows = _targets(conn, ids)
    created = created_name = None
    corr_rows: list[tuple[int, str, str | None]]
    if reject:
        kind = ChangeKind.REJECT
        key = landmark_key(conn, landmark) if landmark is not None else None
        targets = [(r.id, key or r.label) for r in rows]
        if any(t is None for _, t in targets):
            raise InvalidRequestError("nothing to reject: a photo has no landmark label")
        labels = {t for _, t in targets}
        key = next(iter(labels)) if len(labels) == 1 else None
        corr_rows = [(p, KIND_REJECT, t) for p, t in targets]
    elif not_landmark:
        kind, key = ChangeKind.NOT_LANDMARK, None
        corr_rows = [(r.id, KIND_NOT_LANDMARK, None) for r in rows]
    elif new_name:
        name = " ".join(new_name.split())
        existing = store_landmarks.key_for_name(conn, name)
        if existing is not None:
            kind, key = ChangeKind.SET_LANDMARK, existing
        else:
            try:
                key = store_landmarks.new_landmark_key(name, store_landmarks.landmark_keys(conn))
            except ValueError as exc:
                raise InvalidRequestError(str(exc)) from None
            kind, created, created_name = ChangeKind.NEW_LANDMARK, key, name
        corr_rows = [(r.id, KIND_LABEL, key) for r in rows]
    else:
        if landmark is None:
            raise InvalidRequestError("choose exactly one of: a landmark, a new landmark name, not a landmark, reject")
        kind, key = ChangeKind.SET_LANDMARK, landmark_key(conn, landmark)
        corr_rows = [(r.id, KIND_LABEL, key) for r in rows]
    lname = created_name if created is not None else (store_landmarks.landmark_name(conn, key) if key else None)
    what = {ChangeKind.REJECT: f"rejected {lname or 'the model labels'}", ChangeKind.NOT_LANDMARK: "not a landmark"}
    desc = f"{_plural(len(ids))} {what.get(kind, f'→ {lname}')}"
    proposals: list[dict[str, Any]] = []
    if kind in TEACHING_KINDS and key is not None:
        proposals = _teach(conn, recognizer, index, {key: [r.id for r in rows]}, ids)
    plan = _Plan(kind, key, ids, desc, corr_rows, created, created_name, proposals)
    return _record(write, plan, threshold)


def confirm(
    write: WriteTxn, conn: Connection, recognizer: Any, index: EmbeddingIndex, threshold: float, photo_ids: list[int]
) -> Change:
    """Make the selected photos' current labels the person's (``Library.confirm``): a landmark label becomes a
    manual label of that landmark, "no landmark" a manual "not a landmark". The photos are then locked (never
    re-scored, never proposed) and are exported by ``export_corrections``; confirmed landmarks teach.

    Args:
        write, conn: write transactions and a read connection (see ``correct``).
    Raises:
        NotFoundError: an unknown photo id. InvalidRequestError: a photo has nothing to confirm (pending,
            failed, or a GPS photo without a label).
    """
    ids = list(photo_ids)
    rows = _targets(conn, ids)
    summaries = photo_summaries(conn, ids)
    corr_rows: list[tuple[int, str, str | None]] = []
    labels: list[str] = []
    by_label: dict[str, list[int]] = {}
    for r in rows:
        s = summaries[r.id]
        if s.status == PhotoStatus.NO_LANDMARK:
            corr_rows.append((r.id, KIND_NOT_LANDMARK, None))
        elif s.label is not None:
            corr_rows.append((r.id, KIND_LABEL, s.label))
            labels.append(s.label)
            by_label.setdefault(s.label, []).append(r.id)
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
    proposals = _teach(conn, recognizer, index, {k: by_label[k] for k in distinct}, ids)
    plan = _Plan(ChangeKind.CONFIRM, key, ids, f"{_plural(len(ids))} {what}", corr_rows, proposals=proposals)
    return _record(write, plan, threshold)


def accept(write: WriteTxn, conn: Connection, threshold: float, proposal_ids: Sequence[int]) -> AcceptReport:
    """Apply open proposals as one change (kind ``accept``): each photo takes its proposed label as the
    person's. Proposals whose photo left the library are skipped and counted; so are proposals that are not
    open, unknown ids, and photos the person labelled meanwhile.

    Args:
        write, conn: write transactions and a read connection (see ``correct``).
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
        corr_rows: list[tuple[int, str, str | None]] = [
            (r.photo_id, KIND_NOT_LANDMARK, None)
            if r.new_label == NO_LANDMARK
            else (r.photo_id, KIND_LABEL, r.new_label)
            for r in accepted
        ]
        new_labels = sorted({r.new_label for r in accepted})
        key = new_labels[0] if len(new_labels) == 1 and new_labels[0] != NO_LANDMARK else None
        lname = store_landmarks.landmark_name(conn, key) if key else None
        desc = f"{_plural(len(accepted))} → {lname or 'proposed labels'} (accepted proposals)"
        plan = _Plan(
            ChangeKind.ACCEPT, key, [r.photo_id for r in accepted], desc, corr_rows, accepted=[r.id for r in accepted]
        )
        change = _record(write, plan, threshold)
    parts = [change.description] if change is not None else ["nothing accepted"]
    if deleted:
        parts.append(f"{len(deleted)} skipped: the photo was deleted")
    if other:
        parts.append(f"{len(other)} skipped: not open any more, or the photo was labelled meanwhile")
    return AcceptReport(change, tuple(r.id for r in accepted), tuple(deleted), tuple(other), "; ".join(parts))


def import_labels(write: WriteTxn, conn: Connection, threshold: float, labels: Mapping[int, str]) -> Change | None:
    """Make ``{photo id: landmark key}`` the person's labels as one change (kind ``import``: labels read from XMP
    sidecars), written in short transactions like every change. Nothing is taught from them (no proposals).
    Unknown photo ids are skipped.

    Args:
        write, conn: write transactions and a read connection (see ``correct``).
    Returns:
        the ``Change``, or ``None`` when no photo is left to label.
    """
    targets = correction_targets(conn, list(labels))
    if not targets:
        return None
    corr_rows: list[tuple[int, str, str | None]] = [(t.id, KIND_LABEL, labels[t.id]) for t in targets]
    keys = sorted({labels[t.id] for t in targets})
    key = keys[0] if len(keys) == 1 else None
    lname = store_landmarks.landmark_name(conn, key) if key else None
    desc = f"{_plural(len(targets))} → {lname or 'labels'} (from XMP sidecars)"
    plan = _Plan(ChangeKind.IMPORT, key, [t.id for t in targets], desc, corr_rows)
    return _record(write, plan, threshold)


def dismiss(write: WriteTxn, proposal_ids: Sequence[int]) -> int:
    """Dismiss open proposals (never proposed again for that label), ``ROWS_STEP`` per step; returns how many were
    open."""
    ids = [int(i) for i in dict.fromkeys(proposal_ids)]
    done = [0]

    def step(conn: Connection, part: Sequence[int]) -> None:
        rows = store_proposals.proposal_rows(conn, part)
        open_ids = [i for i, r in rows.items() if r.state == ProposalState.OPEN]
        store_proposals.set_state(conn, open_ids, ProposalState.DISMISSED)
        done[0] += len(open_ids)

    run_steps(write, _rows_steps(ids, step))
    return done[0]


def more_like(
    write: WriteTxn, conn: Connection, recognizer: Any, index: EmbeddingIndex, photo_ids: Sequence[int]
) -> list[int]:
    """ "Find more like this": propose each selected photo's landmark for photos like it, model-labelled ones
    only, even those the model is sure about or where the person dismissed it before. The proposals are worked out
    in ``conn`` (a read connection) and written in short transactions.

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
    rows: list[dict[str, Any]] = []
    for key, found_rows in by_label.items():
        rows += claims(
            conn,
            recognizer,
            index,
            key,
            request=store_proposals.REQUEST_MORE_LIKE,
            taught=vecs[found_rows].astype("float32"),
            sure=None,
        )
    now = utc_now()
    made: list[int] = []
    run_steps(
        write,
        _rows_steps(
            rows,
            lambda c, part: made.extend(
                store_proposals.add_proposals(c, [{**r, "change_id": None} for r in part], now)
            ),
        ),
    )
    return made


def _photos_of(conn: Connection, rec: ChangeRecord) -> list[int]:
    """The photos a change labels: those of its corrections and those it names, ascending."""
    return sorted(set(store_corrections.correction_photo_ids(conn, rec.id)) | set(rec.photo_ids))


def undo(write: WriteTxn, read: WriteTxn, threshold: float, change_id: int | None) -> Change | None:
    """Undo a change (``None``: the newest one not undone yet); with an id this is ``Library.revert``.

    Its corrections go out of force, its photos go back to what the remaining corrections and their stored
    top-k give (exactly the label and confidence they had, when no later change touched them), its open
    proposals are withdrawn, proposals it accepted are open again, and a landmark it created is deleted
    when nothing uses it. The change can be redone until a new change is made. The change and its photos are read
    first (``read``); then, in short write transactions, the first marks it undone (``refresh``) and the proposals
    and the labels of its photos follow.
    Returns:
        the undone ``Change``, or ``None`` when there was nothing to undo.
    Raises:
        NotFoundError: no change with that id. InvalidRequestError: it was already undone.
    """
    with read() as conn:
        rec: ChangeRecord | None
        if change_id is None:
            rec = store_corrections.last_change(conn)
        else:
            rec = store_corrections.get_change(conn, change_id)
            if rec is None or rec.pending == PENDING_RECORD:
                raise NotFoundError(f"no change with id {change_id}")
        if rec is None:
            return None
        if rec.undone:
            raise InvalidRequestError(f"that change was already undone ({rec.description})")
        ids = _photos_of(conn, rec)
    out: dict[str, Any] = {}

    def start(conn: Connection) -> None:
        if not store_corrections.mark_undone(conn, rec.id):
            raise InvalidRequestError(f"that change was already undone ({rec.description})")
        store_corrections.set_pending(conn, rec.id, PENDING_REFRESH)

    settle: Step = functools.partial(_settle, rec=rec, out=out)
    run_steps(
        write, itertools.chain([start], _proposal_steps(rec, undone=True), _refresh_steps(ids, threshold), [settle])
    )
    return out["change"]


def _settle(conn: Connection, rec: ChangeRecord, out: dict[str, Any]) -> None:
    """Last step of an undo, redo or recovery: a landmark the (undone) change created goes when nothing uses it, the
    change is done (``pending`` cleared); ``out["change"]`` is the ``Change``."""
    current = store_corrections.get_change(conn, rec.id)
    if rec.created_landmark and current is not None and current.undone:
        store_landmarks.delete_user_landmark_if_unused(conn, rec.created_landmark)
    store_corrections.set_pending(conn, rec.id, None)
    out["change"] = _change(conn, rec.id)


def redo(write: WriteTxn, read: WriteTxn, recognizer: Any, index: EmbeddingIndex, threshold: float) -> Change | None:
    """Re-apply the most recently undone change (``Library.redo``); a landmark it created is created again,
    proposals it accepted are accepted again, and a teaching change proposes again (worked out after its labels are
    back, in ``read``, and written last).

    Args:
        write: write transactions. read: read transactions (same type: ``with read() as conn``).
    Returns:
        the redone ``Change``, or ``None`` when there is nothing to redo.
    Raises:
        InvalidRequestError: another program redid or undid it meanwhile.
    """
    now = utc_now()
    with read() as conn:
        rec = store_corrections.next_redo(conn)
        if rec is None:
            return None
        ids = _photos_of(conn, rec)
    out: dict[str, Any] = {}

    def start(conn: Connection) -> None:
        if rec.created_landmark and not store_landmarks.landmark_exists(conn, rec.created_landmark):
            store_landmarks.create_user_landmark(
                conn, rec.created_landmark_name or rec.created_landmark, now, key=rec.created_landmark
            )
        if not store_corrections.mark_redone(conn, rec.id):
            raise InvalidRequestError(f"that change is not undone any more ({rec.description})")
        store_corrections.set_pending(conn, rec.id, PENDING_REFRESH)

    settle: Step = functools.partial(_settle, rec=rec, out=out)
    run_steps(
        write, itertools.chain([start], _proposal_steps(rec, undone=False), _refresh_steps(ids, threshold), [settle])
    )
    if rec.kind in TEACHING_KINDS and recognizer is not None:
        with read() as conn:
            summaries = photo_summaries(conn, list(rec.photo_ids))
            by_label: dict[str, list[int]] = {}
            for s in summaries.values():
                if s.label and s.label_source == LabelSource.MANUAL:
                    by_label.setdefault(s.label, []).append(s.id)
            rows = _teach(conn, recognizer, index, by_label, rec.photo_ids)
        if rows:
            run_steps(
                write,
                _rows_steps(
                    rows,
                    lambda c, part: store_proposals.add_proposals(c, [{**r, "change_id": rec.id} for r in part], now),
                ),
            )
            with read() as conn:
                out["change"] = _change(conn, rec.id)
    return out["change"]


def finish_interrupted(write: WriteTxn, read: WriteTxn, threshold: float, now: datetime | None = None) -> int:
    """Finish the changes a crash interrupted (``Library.open`` calls it; it writes only when there is one).

    A change left in ``record`` (its corrections were being stored, none in force) older than
    ``RECORD_TIMEOUT_S`` is deleted with its corrections and proposals (proposals it accepted are open again, a
    landmark it created goes when nothing uses it): it never happened. A change left in ``refresh`` (its corrections
    in force or out of force as its last undo/redo left them, its photos' labels partly recomputed) gets the labels of
    all its photos recomputed.

    Args:
        write, read: write and read transactions (``with read() as conn``). threshold: the bundle's no-landmark
            threshold. now: the current time (UTC; tests pass one).
    Returns:
        the number of changes finished.
    """
    with read() as conn:
        pending = store_corrections.pending_changes(conn)
        photos_of = {
            r.id: sorted(set(store_corrections.correction_photo_ids(conn, r.id)) | set(r.photo_ids)) for r in pending
        }
    if not pending:
        return 0
    now = now or datetime.now(timezone.utc)
    done = 0
    for rec in pending:
        if rec.pending == PENDING_RECORD:
            if rec.created_at is not None and (now - rec.created_at).total_seconds() < RECORD_TIMEOUT_S:
                continue  # perhaps another program is recording it right now
            run_steps(write, [functools.partial(_forget, rec=rec)])
        else:
            settle: Step = functools.partial(_settle, rec=rec, out={})
            # a chain, not a list: the proposal steps are made one after the other, as each one runs
            run_steps(
                write,
                itertools.chain(
                    _proposal_steps(rec, rec.undone), _refresh_steps(photos_of[rec.id], threshold), [settle]
                ),
            )
        done += 1
    return done


def _forget(conn: Connection, rec: ChangeRecord) -> None:
    """Delete a change that was never recorded in full (see ``finish_interrupted``)."""
    current = store_corrections.get_change(conn, rec.id)
    if current is None or current.pending != PENDING_RECORD:
        return
    store_proposals.reopen_accepted(conn, rec.id)
    store_corrections.delete_change(conn, rec.id)
    if rec.created_landmark:
        store_landmarks.delete_user_landmark_if_unused(conn, rec.created_landmark)


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
