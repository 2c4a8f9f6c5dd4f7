"""Teaching by proposals: which model-labelled photos the person's photos of a landmark *propose* it for.

A correction changes exactly the photos the person selected; teaching from it only proposes. For a
landmark L, the *taught photos* are the photos whose label L is the person's (set, confirmed or accepted:
``label_source`` manual). A taught photo claims photo x when ``s_L(x) >= e(x) + margin``
(``core.recognition.scoring.teaching_claims``; ``Recognizer.teaching_claims``): ``s_L(x)`` is x's highest
cosine to the taught photos, ``e(x)`` its best model evidence for any other class. Candidates are photos
with a *model* label only (never one the person set or confirmed), not already labelled L, where L was
not rejected, without an open or dismissed proposal for L, and, unless the person asked for "find more
like this", whose model confidence is below ``SURE_CONFIDENCE``. Scores come from the stored embeddings
(``core.store.similarity.EmbeddingIndex``); the CNN does not run.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from core.domain import CorrectionState
from core.store import proposals as store_proposals
from core.store.corrections import load_corrections, taught_embeddings, taught_landmarks
from core.store.engine import Connection
from core.store.similarity import EmbeddingIndex

if TYPE_CHECKING:  # numpy is imported where it is used: opening a library for `albums` never needs it
    import numpy as np

__all__ = ["SURE_CONFIDENCE", "claims", "propose", "propose_for_new_photos"]

#: Model confidence at or above which a model label is never proposed away (except "find more like this").
SURE_CONFIDENCE = 0.9

_CHUNK = 8192  # candidate rows scored at once: bounds the float32 copy to chunk × D × 4 bytes


def claims(
    conn: Connection,
    recognizer: Any,
    index: EmbeddingIndex,
    landmark: str,
    *,
    request: str,
    photo_ids: Sequence[int] | None = None,
    taught: np.ndarray | None = None,
    sure: float | None = SURE_CONFIDENCE,
    exclude: Collection[int] = (),
) -> list[dict[str, Any]]:
    """The proposals of ``landmark`` its taught photos claim, as rows for ``core.store.proposals.add_proposals``
    (without ``change_id``); reads only, so a correction computes them before it writes anything.

    Args:
        conn: a connection (read or write). recognizer: the ``Recognizer`` (``teaching_claims``, ``model_version``).
        index: the cached embeddings. landmark: the taught landmark key.
        request: ``core.store.proposals.REQUEST_*``. photo_ids: only these candidates (``None``: all).
        taught: ``(M, D)`` embeddings to teach from instead of the person's photos of ``landmark`` (a correction
            not written yet: its photos with the others; "find more like this": the selected photos).
        sure: see the module docstring; ``None``: no limit. exclude: photos never proposed (those the correction
            being planned labels: they will be the person's).
    Returns:
        ``[{photo_id, request, old_status, old_label, old_confidence, new_label, similarity}]`` by photo id.
    """
    import numpy as np

    mv = recognizer.model_version
    if taught is None:
        taught, _ = taught_embeddings(conn, mv, landmark)
    if taught.size == 0:
        return []
    t = np.asarray(taught, np.float32)
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
    rows = store_proposals.candidates(
        conn, landmark, sure, photo_ids, include_dismissed=request == store_proposals.REQUEST_MORE_LIKE
    )
    skip = set(exclude)
    rows = [r for r in rows if r.id not in skip]
    if not rows:
        return []
    corr = load_corrections(conn, [r.id for r in rows])
    rows = [r for r in rows if landmark not in corr.get(r.id, CorrectionState()).rejected]
    m = index.matrix(conn, mv)
    rows = [r for r in rows if r.id in m.row_of]
    if not rows or m.vectors.shape[1] != t.shape[1]:
        return []
    new: list[dict[str, Any]] = []
    for start in range(0, len(rows), _CHUNK):
        part = rows[start : start + _CHUNK]
        vecs = m.vectors[[m.row_of[r.id] for r in part]].astype(np.float32)
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        s = (vecs @ t.T).max(axis=1)
        ok_rows = recognizer.teaching_claims(vecs, s, landmark)
        for r, sim, ok in zip(part, s.tolist(), ok_rows.tolist()):
            if ok:
                new.append(
                    {
                        "photo_id": r.id,
                        "request": request,
                        "old_status": r.status,
                        "old_label": r.label,
                        "old_confidence": r.confidence,
                        "new_label": landmark,
                        "similarity": float(sim),
                    }
                )
    return new


def propose(
    conn: Connection,
    recognizer: Any,
    index: EmbeddingIndex,
    landmark: str,
    *,
    request: str,
    now: str,
    change_id: int | None = None,
    photo_ids: Sequence[int] | None = None,
    taught: np.ndarray | None = None,
    sure: float | None = SURE_CONFIDENCE,
) -> list[int]:
    """Store open proposals of ``landmark`` for the photos its taught photos claim (``claims``; in the caller's
    write transaction).

    Args:
        conn: write connection. now: ``created_at`` (ISO-8601 UTC). change_id: the change that taught it, or
            ``None``. The others: see ``claims``.
    Returns:
        ids of the proposals made.
    """
    rows = claims(conn, recognizer, index, landmark, request=request, photo_ids=photo_ids, taught=taught, sure=sure)
    return store_proposals.add_proposals(conn, [{**r, "change_id": change_id} for r in rows], now)


def propose_for_new_photos(
    conn: Connection, recognizer: Any, index: EmbeddingIndex, photo_ids: Sequence[int], now: str
) -> int:
    """Proposals for newly tagged photos that match a landmark the person taught (request ``new_photo``).

    Returns:
        the number of proposals made.
    """
    if not photo_ids:
        return 0
    n = 0
    for landmark in taught_landmarks(conn, recognizer.model_version):
        n += len(
            propose(
                conn,
                recognizer,
                index,
                landmark,
                request=store_proposals.REQUEST_NEW_PHOTO,
                now=now,
                photo_ids=photo_ids,
            )
        )
    return n
