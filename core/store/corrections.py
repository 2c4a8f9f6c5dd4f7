"""The ``corrections`` and ``changes`` tables, and the user gallery read from them.

A correction is keyed by the photo's id (revision 0007), so it follows the photo across moves, renames, changes
of its bytes (a caption another app wrote, a re-save) and re-tagging with a new model, and leaves the library with
the photo (``ON DELETE CASCADE``): it is never orphaned. Kinds:

* ``label`` — the photo shows landmark ``label`` (an existing key or a user-created landmark);
* ``not_landmark`` — the photo shows no landmark;
* ``reject`` — the model's ``label`` is wrong for this photo (a tombstone: re-tagging never gives that
  label back).

The latest ``label``/``not_landmark`` correction in force of a photo is its manual label (``CorrectionState``).
A ``changes`` row groups the corrections of one correction (relabel, confirm, reject, accepted proposals)
for the history, undo and redo. Undo keeps the rows and marks the change undone: a correction is in force
when it belongs to no change or to a change that is neither undone nor still being recorded
(``changes.pending`` = ``record``), so redo only clears the mark. A change is written in short write transactions
(``core.tagging.relabel``): ``pending`` says how far it got (``PENDING_RECORD``, ``PENDING_REFRESH``).

*Taught photos* (``taught_embeddings``) are the stored embeddings of the photos the person labelled (or
confirmed) as one landmark; teaching proposes labels from them (``core.tagging.proposals``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, update

from core.domain import NO_LANDMARK, Change, CorrectionState, LabelSource
from core.store.models import changes, corrections, embeddings, photos
from core.store.timestamps import parse_time

if TYPE_CHECKING:  # numpy is imported where it is used: opening a library for `albums` never needs it
    import numpy as np

__all__ = [
    "KIND_LABEL",
    "KIND_NOT_LANDMARK",
    "KIND_REJECT",
    "PENDING_RECORD",
    "PENDING_REFRESH",
    "IN_FORCE",
    "load_corrections",
    "add_corrections",
    "correction_photo_ids",
    "taught_embeddings",
    "taught_landmarks",
    "ChangeRecord",
    "add_change",
    "set_suggested",
    "last_change",
    "next_redo",
    "get_change",
    "list_changes",
    "mark_undone",
    "mark_redone",
    "drop_redo_stack",
    "set_pending",
    "pending_changes",
    "delete_change",
    "dumps_ids",
    "loads_ids",
]

KIND_LABEL = "label"
KIND_NOT_LANDMARK = "not_landmark"
KIND_REJECT = "reject"

#: ``changes.pending`` while a change's corrections are being stored: they are not in force yet.
PENDING_RECORD = "record"
#: ``changes.pending`` while the labels of a change's photos are being brought in line with its corrections.
PENDING_REFRESH = "refresh"

#: SQL condition on ``corrections`` outer-joined to ``changes``: the correction is in force (it belongs to no change,
#: or to one that is neither undone nor still being recorded).
IN_FORCE = or_(
    changes.c.id.is_(None),
    and_(changes.c.undone == 0, or_(changes.c.pending.is_(None), changes.c.pending != PENDING_RECORD)),
)
_RECORDED = or_(changes.c.pending.is_(None), changes.c.pending != PENDING_RECORD)

_CHUNK = 500


# ---------------------------------------------------------------------------------- corrections
def load_corrections(conn: Connection, photo_ids: Iterable[int] | None = None) -> dict[int, CorrectionState]:
    """Corrections in force, per photo id (every photo with one when ``photo_ids`` is ``None``).

    A correction is in force unless its change is undone or still being recorded; among ``label``/``not_landmark``
    rows in force the newest (largest id) wins. Rows revision 0007 kept without a photo are never loaded.
    """
    cols = (
        select(corrections.c.photo_id, corrections.c.kind, corrections.c.label)
        .select_from(corrections.outerjoin(changes, changes.c.id == corrections.c.change_id))
        .where(IN_FORCE, corrections.c.photo_id.is_not(None))
    )
    rows: list[tuple[int, str, str | None]] = []
    if photo_ids is not None:
        wanted = [int(i) for i in dict.fromkeys(photo_ids)]
        if not wanted:
            return {}
        stmt = cols.where(corrections.c.photo_id.in_(bindparam("b_ids", expanding=True))).order_by(corrections.c.id)
        for start in range(0, len(wanted), _CHUNK):
            rows += [tuple(r) for r in conn.execute(stmt, {"b_ids": wanted[start : start + _CHUNK]})]
    else:
        rows = [tuple(r) for r in conn.execute(cols.order_by(corrections.c.id))]
    manual: dict[int, str | None] = {}
    rejected: dict[int, set[str]] = {}
    for pid, kind, label in rows:
        manual.setdefault(pid, None)
        rejected.setdefault(pid, set())
        if kind == KIND_LABEL:
            manual[pid] = label
        elif kind == KIND_NOT_LANDMARK:
            manual[pid] = NO_LANDMARK
        elif kind == KIND_REJECT and label:
            rejected[pid].add(label)
    return {p: CorrectionState(manual=manual[p], rejected=frozenset(rejected[p])) for p in manual}


def add_corrections(
    conn: Connection, rows: Sequence[tuple[int, str, str | None]], change_id: int | None, now: str
) -> None:
    """Insert corrections ``(photo id, kind, label)`` of one change, in order (later ones are newer)."""
    if rows:
        conn.execute(
            insert(corrections),
            [
                {"photo_id": int(p), "kind": k, "label": lab, "created_at": now, "change_id": change_id}
                for p, k, lab in rows
            ],
        )


def correction_photo_ids(conn: Connection, change_id: int) -> list[int]:
    """The distinct ids of the photos the corrections of a change apply to, ascending."""
    stmt = (
        select(corrections.c.photo_id)
        .distinct()
        .where(corrections.c.change_id == change_id, corrections.c.photo_id.is_not(None))
        .order_by(corrections.c.photo_id)
    )
    return [int(p) for (p,) in conn.execute(stmt)]


def taught_landmarks(conn: Connection, model_version: str) -> list[str]:
    """Landmark keys the person labelled (or confirmed) at least one photo with an embedding from
    ``model_version``, sorted."""
    stmt = (
        select(photos.c.label)
        .distinct()
        .select_from(photos.join(embeddings, embeddings.c.photo_id == photos.c.id))
        .where(
            photos.c.label_source == LabelSource.MANUAL,
            photos.c.label.is_not(None),
            embeddings.c.model_version == model_version,
        )
    )
    return sorted(r[0] for r in conn.execute(stmt))


def taught_embeddings(conn: Connection, model_version: str, label: str) -> tuple[np.ndarray, list[int]]:
    """The taught photos of a landmark: embeddings of the photos whose label is ``label`` and is the person's
    (``label_source`` manual: set, confirmed or accepted), made by ``model_version``.

    Returns:
        ``(embeddings (M, D) float32, photo_ids (M,))`` by photo id; M may be 0 (shape ``(0, 0)``).
    """
    stmt = (
        select(photos.c.id, embeddings.c.dim, embeddings.c.vector)
        .select_from(photos.join(embeddings, embeddings.c.photo_id == photos.c.id))
        .where(
            photos.c.label == label,
            photos.c.label_source == LabelSource.MANUAL,
            embeddings.c.model_version == model_version,
        )
        .order_by(photos.c.id)
    )
    import numpy as np

    rows = conn.execute(stmt).all()
    if not rows:
        return np.zeros((0, 0), np.float32), []
    emb = np.stack([np.frombuffer(r.vector, dtype=np.float16, count=r.dim) for r in rows]).astype(np.float32)
    return emb, [r.id for r in rows]


# -------------------------------------------------------------------------------------- changes
def dumps_ids(ids: Iterable[int]) -> str:
    """JSON list of ints (``changes.photo_ids``, ``changes.suggested``)."""
    return json.dumps([int(i) for i in ids])


def loads_ids(raw: str | None) -> tuple[int, ...]:
    """Inverse of ``dumps_ids``."""
    return tuple(int(i) for i in json.loads(raw or "[]"))


@dataclass(frozen=True)
class ChangeRecord:
    """One row of ``changes``.

    Attributes:
        id: row id. kind: a ``core.domain.ChangeKind`` value.
        landmark: the key set, confirmed or rejected, or ``None``. photo_ids: the photos the change labelled.
        description: one line for the UI. created_landmark: key of the landmark the change created, or ``None``;
            created_landmark_name: its display name (to create it again on redo).
        suggested: legacy (revisions before 0004): photos an old change re-labelled; empty for new changes.
        created_at: UTC time (``None`` when unreadable). undone: the change is undone.
        undo_seq: order of the undo (larger = later), ``None`` while applied. redoable: ``redo`` may re-apply it.
        pending: ``PENDING_RECORD`` / ``PENDING_REFRESH`` while it is being written, else ``None``.
    """

    id: int
    kind: str
    landmark: str | None
    photo_ids: tuple[int, ...]
    description: str
    created_landmark: str | None
    suggested: tuple[int, ...]
    created_at: datetime | None
    undone: bool
    undo_seq: int | None = None
    redoable: bool = False
    created_landmark_name: str | None = None
    pending: str | None = None

    def to_change(self, proposals: int = 0) -> Change:
        """The ``core.domain.Change`` front ends see; ``proposals``: its open proposals."""
        return Change(
            id=self.id,
            kind=self.kind,
            photo_ids=self.photo_ids,
            landmark=self.landmark,
            created_at=self.created_at,
            description=self.description,
            rescored=0,
            undone=self.undone,
            redoable=self.redoable,
            photo_count=len(self.photo_ids),
            proposals=int(proposals),
        )


def _record(r: Any) -> ChangeRecord:
    return ChangeRecord(
        id=r.id,
        kind=r.kind,
        landmark=r.landmark,
        photo_ids=loads_ids(r.photo_ids),
        description=r.description,
        created_landmark=r.created_landmark,
        suggested=loads_ids(r.suggested),
        created_at=parse_time(r.created_at),
        undone=bool(r.undone),
        undo_seq=r.undo_seq,
        redoable=bool(r.redoable),
        created_landmark_name=r.created_landmark_name,
        pending=r.pending,
    )


def add_change(
    conn: Connection,
    kind: str,
    landmark: str | None,
    photo_ids: Sequence[int],
    description: str,
    created_landmark: str | None,
    now: str,
    created_landmark_name: str | None = None,
    pending: str | None = None,
) -> int:
    """Insert an applied change; returns its id. (Call ``drop_redo_stack`` first: a new change ends redo.)
    ``pending``: ``PENDING_RECORD`` when its corrections are stored in later transactions."""
    result = conn.execute(
        insert(changes).values(
            pending=pending,
            kind=kind,
            landmark=landmark,
            photo_ids=dumps_ids(photo_ids),
            description=description,
            created_landmark=created_landmark,
            created_landmark_name=created_landmark_name,
            suggested="[]",
            created_at=now,
        )
    )
    return int(result.lastrowid)


def set_suggested(conn: Connection, change_id: int, photo_ids: Sequence[int]) -> None:
    """Store ``changes.suggested`` (legacy column; new changes keep it empty)."""
    conn.execute(update(changes).where(changes.c.id == change_id).values(suggested=dumps_ids(photo_ids)))


def last_change(conn: Connection) -> ChangeRecord | None:
    """The newest change not undone yet (what ``undo`` undoes), or ``None``."""
    r = conn.execute(
        select(changes).where(changes.c.undone == 0, _RECORDED).order_by(changes.c.id.desc()).limit(1)
    ).first()
    return None if r is None else _record(r)


def next_redo(conn: Connection) -> ChangeRecord | None:
    """The most recently undone change that may be redone (what ``redo`` re-applies), or ``None``."""
    r = conn.execute(
        select(changes)
        .where(changes.c.undone == 1, changes.c.redoable == 1, _RECORDED)
        .order_by(changes.c.undo_seq.desc(), changes.c.id.desc())
        .limit(1)
    ).first()
    return None if r is None else _record(r)


def get_change(conn: Connection, change_id: int) -> ChangeRecord | None:
    """The change with this id, or ``None``."""
    r = conn.execute(select(changes).where(changes.c.id == int(change_id))).first()
    return None if r is None else _record(r)


def list_changes(conn: Connection, limit: int | None = None) -> list[ChangeRecord]:
    """Every change, newest first (at most ``limit``); a change still being recorded is left out."""
    stmt = select(changes).where(_RECORDED).order_by(changes.c.id.desc())
    if limit is not None:
        stmt = stmt.limit(int(limit))
    return [_record(r) for r in conn.execute(stmt)]


def mark_undone(conn: Connection, change_id: int) -> bool:
    """Flag an applied change as undone and redoable, after every earlier undo (``undo_seq``); False (nothing
    written) when it is undone already."""
    seq = conn.execute(select(func.coalesce(func.max(changes.c.undo_seq), 0))).scalar_one()
    stmt = update(changes).where(changes.c.id == change_id, changes.c.undone == 0)
    return conn.execute(stmt.values(undone=1, redoable=1, undo_seq=int(seq) + 1)).rowcount > 0


def mark_redone(conn: Connection, change_id: int) -> bool:
    """Flag an undone change as applied again; False (nothing written) when it is not undone."""
    stmt = update(changes).where(changes.c.id == change_id, changes.c.undone == 1)
    return conn.execute(stmt.values(undone=0, redoable=0, undo_seq=None)).rowcount > 0


def drop_redo_stack(conn: Connection) -> None:
    """A new change was made: the undone changes can no longer be redone (standard editor semantics)."""
    conn.execute(update(changes).where(changes.c.redoable == 1).values(redoable=0))


def set_pending(conn: Connection, change_id: int, pending: str | None) -> None:
    """Set ``changes.pending`` of a change (``PENDING_RECORD``, ``PENDING_REFRESH`` or ``None``: done)."""
    conn.execute(update(changes).where(changes.c.id == int(change_id)).values(pending=pending))


def pending_changes(conn: Connection) -> list[ChangeRecord]:
    """The changes whose writing did not finish (``changes.pending`` set), oldest first."""
    return [_record(r) for r in conn.execute(select(changes).where(changes.c.pending.is_not(None)).order_by("id"))]


def delete_change(conn: Connection, change_id: int) -> None:
    """Delete a change; its corrections and the proposals it made go with it (``ON DELETE CASCADE``), proposals it
    accepted lose the link (``SET NULL``)."""
    conn.execute(delete(changes).where(changes.c.id == int(change_id)))
