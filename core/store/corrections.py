"""The ``corrections`` and ``changes`` tables, and the user gallery read from them.

A correction is keyed by the photo's content hash (SHA-256 of its bytes), so it survives moves, renames
and re-tagging with a new model. Kinds:

* ``label`` — the photo shows landmark ``label`` (an existing key or a user-created landmark);
* ``not_landmark`` — the photo shows no landmark;
* ``reject`` — the model's ``label`` is wrong for this photo (a tombstone: re-tagging never gives that
  label back).

The latest ``label``/``not_landmark`` correction of a hash is its manual label (``CorrectionState``).
A ``changes`` row groups the corrections of one ``Library.relabel`` call for undo and suggestions.

The *user gallery* is the stored embeddings of manually labelled photos with their labels
(``NO_LANDMARK`` for "not a landmark"), for ``Recognizer.set_user_gallery``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, bindparam, delete, insert, select, update

from core.domain import NO_LANDMARK, Change, CorrectionState
from core.store.models import changes, corrections, embeddings, photos
from core.store.timestamps import parse_time

__all__ = [
    "KIND_LABEL",
    "KIND_NOT_LANDMARK",
    "KIND_REJECT",
    "load_corrections",
    "add_corrections",
    "correction_hashes",
    "delete_corrections",
    "user_gallery",
    "ChangeRecord",
    "add_change",
    "set_suggested",
    "last_change",
    "get_change",
    "mark_undone",
    "dumps_ids",
    "loads_ids",
]

KIND_LABEL = "label"
KIND_NOT_LANDMARK = "not_landmark"
KIND_REJECT = "reject"

_CHUNK = 500


# ---------------------------------------------------------------------------------- corrections
def load_corrections(conn: Connection, hashes: Iterable[str] | None = None) -> dict[str, CorrectionState]:
    """Corrections in force, per content hash (all hashes when ``hashes`` is ``None``).

    Corrections of undone changes are deleted by undo, so every row here is in force; among
    ``label``/``not_landmark`` rows the newest (largest id) wins.
    """
    cols = select(corrections.c.content_hash, corrections.c.kind, corrections.c.label)
    rows: list[tuple[str, str, str | None]] = []
    if hashes is not None:
        wanted = list(dict.fromkeys(hashes))
        if not wanted:
            return {}
        stmt = cols.where(corrections.c.content_hash.in_(bindparam("b_hashes", expanding=True))).order_by(
            corrections.c.id
        )
        for start in range(0, len(wanted), _CHUNK):
            rows += [tuple(r) for r in conn.execute(stmt, {"b_hashes": wanted[start : start + _CHUNK]})]
    else:
        rows = [tuple(r) for r in conn.execute(cols.order_by(corrections.c.id))]
    manual: dict[str, str | None] = {}
    rejected: dict[str, set[str]] = {}
    for h, kind, label in rows:
        manual.setdefault(h, None)
        rejected.setdefault(h, set())
        if kind == KIND_LABEL:
            manual[h] = label
        elif kind == KIND_NOT_LANDMARK:
            manual[h] = NO_LANDMARK
        elif kind == KIND_REJECT and label:
            rejected[h].add(label)
    return {h: CorrectionState(manual=manual[h], rejected=frozenset(rejected[h])) for h in manual}


def add_corrections(
    conn: Connection, rows: Sequence[tuple[str, str, str | None]], change_id: int | None, now: str
) -> None:
    """Insert corrections ``(content_hash, kind, label)`` of one change, in order (later ones are newer)."""
    if rows:
        conn.execute(
            insert(corrections),
            [
                {"content_hash": h, "kind": k, "label": lab, "created_at": now, "change_id": change_id}
                for h, k, lab in rows
            ],
        )


def correction_hashes(conn: Connection, change_id: int) -> list[str]:
    """The distinct content hashes the corrections of a change apply to."""
    stmt = select(corrections.c.content_hash).distinct().where(corrections.c.change_id == change_id)
    return [h for (h,) in conn.execute(stmt)]


def delete_corrections(conn: Connection, change_id: int) -> None:
    """Delete the corrections of a change."""
    conn.execute(delete(corrections).where(corrections.c.change_id == change_id))


def user_gallery(conn: Connection, model_version: str) -> tuple[np.ndarray, list[str], list[int]]:
    """The user gallery: embeddings of manually labelled photos made by ``model_version``.

    Returns:
        ``(embeddings (M, D) float32, labels (M,) keys or NO_LANDMARK, photo_ids (M,))``, by photo id; M may
        be 0 (then embeddings has shape ``(0, 0)``).
    """
    stmt = (
        select(photos.c.id, photos.c.label, photos.c.status, embeddings.c.dim, embeddings.c.vector)
        .select_from(photos.join(embeddings, embeddings.c.photo_id == photos.c.id))
        .where(photos.c.label_source == "manual", embeddings.c.model_version == model_version)
        .order_by(photos.c.id)
    )
    rows = conn.execute(stmt).all()
    if not rows:
        return np.zeros((0, 0), np.float32), [], []
    emb = np.stack([np.frombuffer(r.vector, dtype=np.float16, count=r.dim) for r in rows]).astype(np.float32)
    labels = [r.label if r.label is not None else NO_LANDMARK for r in rows]
    return emb, labels, [r.id for r in rows]


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
        id: row id. kind: ``set_landmark`` / ``new_landmark`` / ``not_landmark`` / ``reject``.
        landmark: the key set or rejected, or ``None``. photo_ids: the photos the user corrected.
        description: one line for the UI. created_landmark: key of the landmark the change created, or ``None``.
        suggested: other photos whose model label moved to the change's label when it re-scored the library.
        created_at: UTC time (``None`` when unreadable). undone: the change was undone.
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

    def to_change(self) -> Change:
        """The ``core.domain.Change`` front ends see (``rescored`` = number of suggested photos)."""
        return Change(
            id=self.id,
            kind=self.kind,
            photo_ids=self.photo_ids,
            landmark=self.landmark,
            created_at=self.created_at,
            description=self.description,
            rescored=len(self.suggested),
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
    )


def add_change(
    conn: Connection,
    kind: str,
    landmark: str | None,
    photo_ids: Sequence[int],
    description: str,
    created_landmark: str | None,
    now: str,
) -> int:
    """Insert a change (no suggestions yet, not undone); returns its id."""
    result = conn.execute(
        insert(changes).values(
            kind=kind,
            landmark=landmark,
            photo_ids=dumps_ids(photo_ids),
            description=description,
            created_landmark=created_landmark,
            suggested="[]",
            created_at=now,
        )
    )
    return int(result.lastrowid)


def set_suggested(conn: Connection, change_id: int, photo_ids: Sequence[int]) -> None:
    """Store the photos a change suggested (``changes.suggested``)."""
    conn.execute(update(changes).where(changes.c.id == change_id).values(suggested=dumps_ids(photo_ids)))


def last_change(conn: Connection) -> ChangeRecord | None:
    """The newest change not undone yet, or ``None``."""
    r = conn.execute(select(changes).where(changes.c.undone == 0).order_by(changes.c.id.desc()).limit(1)).first()
    return None if r is None else _record(r)


def get_change(conn: Connection, change_id: int) -> ChangeRecord | None:
    """The change with this id, or ``None``."""
    r = conn.execute(select(changes).where(changes.c.id == int(change_id))).first()
    return None if r is None else _record(r)


def mark_undone(conn: Connection, change_id: int) -> None:
    """Flag a change as undone."""
    conn.execute(update(changes).where(changes.c.id == change_id).values(undone=1))
