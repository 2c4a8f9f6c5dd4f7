"""Similar photos: ``EmbeddingIndex`` keeps the stored embeddings of one model version as one float16 matrix
in memory; ``similar`` ranks photos by cosine similarity (embeddings are unit norm, so matrix-vector
products: a random projection picks candidates, the exact float16 vectors rank them). Re-scoring after a
correction reads the same cached matrix (``matrix``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, select

from core.domain import NotFoundError
from core.store.models import embeddings

if TYPE_CHECKING:  # numpy is imported where it is used: opening a library for `albums` never needs it
    import numpy as np

__all__ = ["EmbeddingIndex", "EmbeddingMatrix", "PROJECTION_DIM"]


@dataclass
class EmbeddingMatrix:
    """The stored embeddings of one model version (``EmbeddingIndex.matrix``).

    Attributes:
        model_version: the model that made them. signature: freshness key ``((row count, largest id), generation)``.
        ids: ``(N,)`` int64 photo ids, ascending. vectors: ``(N, D)`` float16 unit rows, row i of photo ``ids[i]``.
        projected: ``(N, k)`` float32 ``vectors @ R`` (k = ``PROJECTION_DIM``), or ``(N, D)`` when D <= k.
        row_of: ``{photo id: row}``.
    """

    model_version: str
    signature: tuple
    ids: np.ndarray  # (N,) int64
    vectors: np.ndarray  # (N, D) float16, unit rows
    projected: np.ndarray  # (N, k) float32: vectors @ R (k = PROJECTION_DIM), or (N, D) float32 when D <= k
    row_of: dict


#: Size k of the random projection used to pick similar-photo candidates (Johnson–Lindenstrauss).
PROJECTION_DIM = 128


def _projection(dim: int, k: int = PROJECTION_DIM, seed: int = 0) -> np.ndarray:
    """Fixed Gaussian random projection ``(dim, k)`` float32 scaled by 1/sqrt(k), so dot products of
    projected vectors estimate cosine similarities (Johnson & Lindenstrauss 1984; Achlioptas 2003)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return (rng.standard_normal((dim, k)) / np.sqrt(k)).astype(np.float32)


class EmbeddingIndex:
    """Stored embeddings of one model version, cached in memory.

    Holds the float16 ``(N, D)`` matrix (100 000 × 1280 → 256 MB) and a float32 random projection of it
    to k = 128 dimensions (50 MB). ``similar`` takes the best ``max(50·limit, 1000)`` candidates by the
    projected dot product, then ranks them by the exact cosine similarity of the float16 vectors, so a
    query costs one ``(N, k)`` matrix-vector product instead of converting 256 MB. When D <= k the
    projection is the identity and the search is exact. The cache reloads when the embeddings table
    changes (row count, largest id) or on ``invalidate()``.
    """

    def __init__(self, chunk: int = 16384, recheck_s: float = 5.0) -> None:
        self._lock = threading.Lock()
        self._m: EmbeddingMatrix | None = None
        self._generation = 0
        self._checked_at = float("-inf")
        self.chunk = chunk
        self.recheck_s = recheck_s

    def invalidate(self) -> None:
        """Drop the cache (call after writing embeddings)."""
        with self._lock:
            self._generation += 1
            self._m = None

    def matrix(self, conn: Connection, model_version: str) -> EmbeddingMatrix:
        """The cached matrix for ``model_version`` (loads it when stale).

        Writes made through this process call ``invalidate``; changes by other programs are noticed by a
        freshness check (count and largest id of the model's embeddings) run at most every ``recheck_s``
        seconds.
        """
        import numpy as np

        with self._lock:
            m = self._m
            if (
                m is not None
                and m.model_version == model_version
                and m.signature[1] == self._generation
                and time.monotonic() - self._checked_at < self.recheck_s
            ):
                return m
        sig_row = conn.execute(
            select(func.count(), func.max(embeddings.c.photo_id)).where(embeddings.c.model_version == model_version)
        ).one()
        with self._lock:
            sig = (tuple(sig_row), self._generation)
            m = self._m
            self._checked_at = time.monotonic()
            if m is not None and m.model_version == model_version and m.signature == sig:
                return m
        ids_l: list[int] = []
        blobs: list[bytes] = []
        dim = 0
        for pid, d, vec in conn.execute(
            select(embeddings.c.photo_id, embeddings.c.dim, embeddings.c.vector)
            .where(embeddings.c.model_version == model_version)
            .order_by(embeddings.c.photo_id)
        ):
            if dim == 0:
                dim = d
            if d != dim or len(vec) != 2 * dim:
                continue  # a damaged row: leave it out rather than fail every search
            ids_l.append(pid)
            blobs.append(vec)
        ids = np.asarray(ids_l, dtype=np.int64)
        if ids_l:
            vecs = np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(ids_l), dim)
        else:
            vecs = np.zeros((0, 0), np.float16)
        del blobs
        if dim > PROJECTION_DIM:
            r = _projection(dim)
            proj = np.empty((len(ids), PROJECTION_DIM), np.float32)
            for start in range(0, len(ids), self.chunk):
                proj[start : start + self.chunk] = vecs[start : start + self.chunk].astype(np.float32) @ r
        else:
            proj = vecs.astype(np.float32)
        m = EmbeddingMatrix(model_version, sig, ids, vecs, proj, {int(i): n for n, i in enumerate(ids)})
        with self._lock:
            self._m = m
        return m

    def similar(self, conn: Connection, model_version: str, photo_id: int, limit: int) -> list[tuple[int, float]]:
        """Photos most similar to ``photo_id`` (cosine similarity in [-1, 1], descending), itself excluded.

        Raises:
            LibraryError: the photo has no embedding from ``model_version`` (not tagged yet, GPS, failed).
        """
        import numpy as np

        m = self.matrix(conn, model_version)
        row = m.row_of.get(int(photo_id))
        if row is None:
            raise NotFoundError(f"photo {photo_id} has no embedding yet (it was not tagged by the current model)")
        n = len(m.ids)
        k = min(int(limit), n - 1)
        if k <= 0:
            return []
        q = m.projected[row]
        approx = m.projected @ q
        approx[row] = -np.inf
        n_cand = min(n - 1, max(50 * k, 1000))
        cand = np.argpartition(-approx, n_cand - 1)[:n_cand] if n_cand < n - 1 else np.flatnonzero(approx > -np.inf)
        v = m.vectors[row].astype(np.float32)
        v /= max(float(np.linalg.norm(v)), 1e-12)
        exact = m.vectors[cand].astype(np.float32) @ v
        order = np.argsort(-exact, kind="stable")[:k]
        return [(int(m.ids[cand[i]]), float(exact[i])) for i in order]

    def vectors_for(
        self, conn: Connection, model_version: str, photo_ids: Sequence[int]
    ) -> tuple[list[int], np.ndarray]:
        """``(ids found, (n, D) float16 vectors)`` for the given photos (missing ones are left out)."""
        import numpy as np

        m = self.matrix(conn, model_version)
        found = [int(i) for i in photo_ids if int(i) in m.row_of]
        if not found:
            return [], np.zeros((0, m.vectors.shape[1] if m.vectors.ndim == 2 else 0), np.float16)
        return found, m.vectors[[m.row_of[i] for i in found]]
