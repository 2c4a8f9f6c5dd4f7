"""The ``proposals`` table (revision 0004): labels that teaching proposes for model-labelled photos.

A proposal names a photo, the label it had when proposed, the label proposed and the similarity that
made it; its ``state`` is ``open`` until the person accepts it (``accepted``, with the accepting change)
or dismisses it (``dismissed``; never proposed again for that label). Which photos are proposed is decided
by ``core.tagging.proposals``; this module only reads and writes the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select, update

from core.domain import NO_LANDMARK, LabelSource, PhotoStatus, Proposal, ProposalState
from core.store.models import landmarks, photos, proposals
from core.store.photos import photo_summaries

__all__ = [
    "REQUEST_TEACH",
    "REQUEST_MORE_LIKE",
    "REQUEST_NEW_PHOTO",
    "candidates",
    "add_proposals",
    "proposal_rows",
    "list_proposals",
    "set_state",
    "withdraw_open",
    "reopen_accepted",
    "reaccept",
    "open_counts",
]

REQUEST_TEACH = "teach"  #: made after a correction, from the person's photos of the landmark
REQUEST_MORE_LIKE = "more_like"  #: "find more like this"
REQUEST_NEW_PHOTO = "new_photo"  #: a newly tagged photo matched a taught landmark

_CHUNK = 500


def candidates(
    conn: Connection,
    landmark: str,
    sure: float | None,
    photo_ids: Sequence[int] | None = None,
    include_dismissed: bool = False,
) -> list[Any]:
    """Photos teaching may propose ``landmark`` for: ``(id, status, label, confidence)`` rows.

    Only model labels (``label_source`` model, status tagged or no_landmark) are candidates, never a label the
    person set or confirmed; photos already labelled ``landmark``, photos with an open proposal for it and
    (unless ``include_dismissed``) photos where the person dismissed it are left out.

    Args:
        landmark: the taught landmark key. sure: confidence at or above which a model label is left alone
            (``None``: no such limit, "find more like this"). photo_ids: only these photos (``None``: all).
    """
    pending = (
        select(proposals.c.id)
        .where(
            proposals.c.photo_id == photos.c.id,
            proposals.c.new_label == landmark,
            proposals.c.state.in_([ProposalState.OPEN] + ([] if include_dismissed else [ProposalState.DISMISSED])),
        )
        .exists()
    )
    conds = [
        photos.c.label_source == LabelSource.MODEL,
        photos.c.status.in_([PhotoStatus.TAGGED, PhotoStatus.NO_LANDMARK]),
        photos.c.label.is_(None) | (photos.c.label != landmark),
        ~pending,
    ]
    if sure is not None:
        conds.append(photos.c.confidence < float(sure))
    stmt = select(photos.c.id, photos.c.status, photos.c.label, photos.c.confidence).where(*conds)
    if photo_ids is None:
        return list(conn.execute(stmt.order_by(photos.c.id)))
    ids = [int(i) for i in dict.fromkeys(photo_ids)]
    out: list[Any] = []
    by_ids = stmt.where(photos.c.id.in_(bindparam("b_ids", expanding=True)))
    for start in range(0, len(ids), _CHUNK):
        out += conn.execute(by_ids, {"b_ids": ids[start : start + _CHUNK]}).all()
    return sorted(out, key=lambda r: r.id)


def add_proposals(conn: Connection, rows: Sequence[dict[str, Any]], now: str) -> list[int]:
    """Insert open proposals; each row: ``photo_id, change_id, request, old_status, old_label,
    old_confidence, new_label, similarity``. Returns their ids (inside the caller's write transaction the
    new rows are exactly those above the largest id before)."""
    if not rows:
        return []
    before = conn.execute(select(func.coalesce(func.max(proposals.c.id), 0))).scalar_one()
    conn.execute(insert(proposals), [{**r, "state": ProposalState.OPEN, "created_at": now} for r in rows])
    return [int(i) for (i,) in conn.execute(select(proposals.c.id).where(proposals.c.id > before).order_by("id"))]


def proposal_rows(conn: Connection, proposal_ids: Iterable[int]) -> dict[int, Any]:
    """``{id: row}`` of the proposals with these ids (unknown ids are left out)."""
    ids = [int(i) for i in dict.fromkeys(proposal_ids)]
    out: dict[int, Any] = {}
    stmt = select(proposals).where(proposals.c.id.in_(bindparam("b_ids", expanding=True)))
    for start in range(0, len(ids), _CHUNK):
        for r in conn.execute(stmt, {"b_ids": ids[start : start + _CHUNK]}):
            out[r.id] = r
    return out


def list_proposals(
    conn: Connection,
    state: str | None = ProposalState.OPEN,
    change_id: int | None = None,
    proposal_ids: Sequence[int] | None = None,
    limit: int | None = None,
) -> list[Proposal]:
    """Proposals as ``core.domain.Proposal``, best first (highest similarity, then id).

    Args:
        state: only this state (``None``: any). change_id: only those this change made.
        proposal_ids: only these. limit: at most this many.
    Proposals whose photo left the library are left out.
    """
    stmt = select(proposals)
    if state is not None:
        stmt = stmt.where(proposals.c.state == state)
    if change_id is not None:
        stmt = stmt.where(proposals.c.change_id == int(change_id))
    if proposal_ids is not None:
        stmt = stmt.where(proposals.c.id.in_([int(i) for i in proposal_ids]))
    stmt = stmt.order_by(proposals.c.similarity.desc(), proposals.c.id)
    if limit is not None:
        stmt = stmt.limit(int(limit))
    rows = list(conn.execute(stmt))
    summaries = photo_summaries(conn, [r.photo_id for r in rows])
    keys = {r.new_label for r in rows} | {r.old_label for r in rows if r.old_label}
    names = dict(conn.execute(select(landmarks.c.key, landmarks.c.name).where(landmarks.c.key.in_(keys))).all())
    out = []
    for r in rows:
        photo = summaries.get(r.photo_id)
        if photo is None:
            continue
        out.append(
            Proposal(
                id=r.id,
                photo=photo,
                change_id=r.change_id,
                request=r.request,
                old_label=r.old_label,
                old_label_name=names.get(r.old_label, r.old_label) if r.old_label else None,
                old_confidence=r.old_confidence,
                new_label=r.new_label,
                new_label_name="Not a landmark" if r.new_label == NO_LANDMARK else names.get(r.new_label, r.new_label),
                similarity=float(r.similarity),
                state=r.state,
            )
        )
    return out


def set_state(conn: Connection, proposal_ids: Sequence[int], state: str, accepted_change_id: int | None = None) -> None:
    """Set the state of proposals (and the change that accepted them, for ``accepted``)."""
    ids = [int(i) for i in proposal_ids]
    values: dict[str, Any] = {"state": state}
    if state == ProposalState.ACCEPTED:
        values["accepted_change_id"] = accepted_change_id
    stmt = update(proposals).where(proposals.c.id.in_(bindparam("b_ids", expanding=True))).values(**values)
    for start in range(0, len(ids), _CHUNK):
        conn.execute(stmt, {"b_ids": ids[start : start + _CHUNK]})


def _some(where: Any, limit: int | None) -> Any:
    """``proposals.id IN (SELECT id … WHERE where LIMIT limit)`` (all of them when ``limit`` is ``None``)."""
    if limit is None:
        return where
    return proposals.c.id.in_(select(proposals.c.id).where(where).limit(int(limit)).scalar_subquery())


def withdraw_open(conn: Connection, change_id: int, limit: int | None = None) -> int:
    """Delete the open proposals a change made (it was undone: its taught photos no longer teach); at most
    ``limit`` of them (``None``: all). Returns how many were deleted."""
    where = and_(proposals.c.change_id == change_id, proposals.c.state == ProposalState.OPEN)
    return int(conn.execute(delete(proposals).where(_some(where, limit))).rowcount)


def reopen_accepted(conn: Connection, accepted_change_id: int, limit: int | None = None) -> int:
    """The change that accepted proposals was undone: they are open again (``accepted_change_id`` is kept so a
    redo can accept them again); at most ``limit`` of them (``None``: all). Returns how many."""
    where = and_(proposals.c.accepted_change_id == accepted_change_id, proposals.c.state == ProposalState.ACCEPTED)
    return int(conn.execute(update(proposals).where(_some(where, limit)).values(state=ProposalState.OPEN)).rowcount)


def reaccept(conn: Connection, accepted_change_id: int, limit: int | None = None) -> int:
    """The change that accepted proposals was redone: they are accepted again; at most ``limit`` of them (``None``:
    all). Returns how many."""
    where = and_(proposals.c.accepted_change_id == accepted_change_id, proposals.c.state != ProposalState.ACCEPTED)
    return int(conn.execute(update(proposals).where(_some(where, limit)).values(state=ProposalState.ACCEPTED)).rowcount)


def open_counts(conn: Connection, change_ids: Sequence[int] | None = None) -> dict[int, int]:
    """``{change id: number of open proposals it made}`` (changes without any are left out)."""
    stmt = (
        select(proposals.c.change_id, func.count())
        .where(and_(proposals.c.state == ProposalState.OPEN, proposals.c.change_id.is_not(None)))
        .group_by(proposals.c.change_id)
    )
    if change_ids is not None:
        stmt = stmt.where(proposals.c.change_id.in_([int(i) for i in change_ids]))
    return {int(c): int(n) for c, n in conn.execute(stmt)}
