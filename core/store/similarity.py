"""Similar photos: ``EmbeddingIndex`` keeps the stored embeddings of one model version as one float16 matrix
in memory; ``similar`` ranks photos by cosine similarity (embeddings are unit norm, so matrix-vector
products: a random projection picks candidates, the exact float16 vectors rank them). Re-scoring after a
correction reads the same cached matrix (``matrix``).

Large libraries (at least ``ANN_MIN_PHOTOS`` embeddings) answer "similar photos" from an approximate
nearest-neighbour index instead (``SimilarPhotosIndex``): a FAISS IVF index with 8-bit scalar quantisation over the
embeddings, keyed by photo id, kept in a file beside the database (``<db>.similar.faiss`` + ``.json`` with the model
version and the embeddings' signature). The first query of a session loads that file (no 256 MB read from SQLite);
``refresh_ann`` (run after each tagging job) adds the new embeddings to it, or rebuilds it when embeddings were
removed or the model changed. The file is a cache: deleting it only costs a rebuild. FAISS is imported only then,
so small libraries and the read-only commands never load it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from core.domain import NotFoundError
from core.store.models import embeddings

if TYPE_CHECKING:  # numpy is imported where it is used: opening a library for `albums` never needs it
    import numpy as np

__all__ = ["EmbeddingIndex", "EmbeddingMatrix", "PROJECTION_DIM", "ANN_MIN_PHOTOS", "SimilarPhotosIndex"]

log = logging.getLogger(__name__)

#: Libraries with at least this many embeddings answer "similar photos" from the FAISS index file.
ANN_MIN_PHOTOS = 20_000


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

    def __init__(
        self, chunk: int = 16384, recheck_s: float = 5.0, ann_path: Path | None = None, ann_min: int = ANN_MIN_PHOTOS
    ) -> None:
        self._ann = SimilarPhotosIndex(ann_path, ann_min) if ann_path is not None else None
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
        if self._ann is not None:
            self._ann.stale()

    def refresh_ann(self, conn: Connection, model_version: str) -> None:
        """Bring the similar-photos index file up to date with the stored embeddings (no-op without one, or for a
        library below ``ann_min`` embeddings). Call after writing embeddings, off the GUI thread."""
        if self._ann is not None:
            self._ann.refresh(conn, model_version)

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

        if self._ann is not None:
            hits = self._ann.similar(conn, model_version, int(photo_id), int(limit))
            if hits is not None:
                return hits
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


def _signature(conn: Connection, model_version: str) -> tuple[int, int]:
    """``(count, largest photo id)`` of the model's embeddings (uses ``ix_embeddings_model``)."""
    n, top = conn.execute(
        select(func.count(), func.max(embeddings.c.photo_id)).where(embeddings.c.model_version == model_version)
    ).one()
    return int(n or 0), int(top or 0)


class SimilarPhotosIndex:
    """The FAISS index file of "similar photos" in a large library (see the module docstring).

    Args:
        path: the index file (``<db>.similar.faiss``); its metadata goes to ``path`` + ``.json``.
        min_photos: below this many embeddings there is no index (the exact search is fast enough).
        nprobe: inverted lists scanned per query.

    Thread-safe: one lock guards loading, refreshing and searching.
    """

    def __init__(self, path: Path, min_photos: int = ANN_MIN_PHOTOS, nprobe: int = 32) -> None:
        self.path = Path(path)
        self.meta_path = self.path.with_name(self.path.name + ".json")
        self.min_photos = int(min_photos)
        self.nprobe = int(nprobe)
        self._lock = threading.Lock()
        self._index: Any = None
        self._meta: dict | None = None
        self._checked_at = float("-inf")

    def stale(self) -> None:
        """Embeddings changed: check the signature at the next query."""
        self._checked_at = float("-inf")

    def _read_meta(self) -> dict | None:
        try:
            meta = json.loads(self.meta_path.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return meta if isinstance(meta, dict) else None

    def _load(self, model_version: str) -> bool:
        """Load the file when its metadata names ``model_version``; False when there is none (or it is unreadable)."""
        meta = self._read_meta()
        if meta is None or meta.get("model_version") != model_version or not self.path.is_file():
            return False
        import faiss

        try:
            index = faiss.read_index(str(self.path))
        except RuntimeError as exc:
            log.warning("similar photos: ignoring unreadable index %s (%s)", self.path, str(exc).splitlines()[-1])
            return False
        if index.ntotal != int(meta.get("count", -1)):
            return False
        faiss.extract_index_ivf(index).nprobe = self.nprobe
        self._index, self._meta = index, meta
        return True

    def _vectors(self, conn: Connection, model_version: str, after_id: int = 0, chunk: int = 16384):
        """``(ids (n,) int64, vectors (n, D) float32)`` chunks of the stored embeddings with photo id > ``after_id``."""
        import numpy as np

        q = (
            select(embeddings.c.photo_id, embeddings.c.dim, embeddings.c.vector)
            .where(embeddings.c.model_version == model_version, embeddings.c.photo_id > after_id)
            .order_by(embeddings.c.photo_id)
        )
        ids: list[int] = []
        blobs: list[bytes] = []
        dim = 0
        for pid, d, vec in conn.execute(q):
            dim = dim or d
            if d != dim or len(vec) != 2 * dim:
                continue
            ids.append(pid)
            blobs.append(vec)
            if len(ids) == chunk:
                yield (
                    np.asarray(ids, np.int64),
                    np.frombuffer(b"".join(blobs), np.float16).reshape(-1, dim).astype(np.float32),
                )
                ids, blobs = [], []
        if ids:
            yield (
                np.asarray(ids, np.int64),
                np.frombuffer(b"".join(blobs), np.float16).reshape(-1, dim).astype(np.float32),
            )

    def _build(self, conn: Connection, model_version: str, sig: tuple[int, int]) -> None:
        import faiss
        import numpy as np

        chunks = list(self._vectors(conn, model_version))
        ids = np.concatenate([c[0] for c in chunks])
        x = np.concatenate([c[1] for c in chunks])
        del chunks
        faiss.normalize_L2(x)
        n, d = x.shape
        nlist = max(1, min(int(round(4 * math.sqrt(n))), n // 39))
        index = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(d), d, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        rng = np.random.default_rng(0)
        index.train(x if n <= 256 * nlist else x[rng.choice(n, 256 * nlist, replace=False)])
        index.add_with_ids(x, ids)
        index.nprobe = self.nprobe
        self._index = index
        self._save(model_version, sig)

    def _save(self, model_version: str, sig: tuple[int, int]) -> None:
        import faiss

        meta = {"model_version": model_version, "count": sig[0], "max_id": sig[1], "format": 1}
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            faiss.write_index(self._index, str(tmp))
            os.replace(tmp, self.path)
            self.meta_path.write_text(json.dumps(meta), "utf-8")
        except (OSError, RuntimeError) as exc:  # a read-only folder: the index lives in memory for this session
            log.warning("similar photos: cannot write %s (%s)", self.path, exc)
        self._meta = meta

    def refresh(self, conn: Connection, model_version: str) -> bool:
        """Make the index match the stored embeddings of ``model_version``: load the file, add embeddings newer
        than it, or rebuild it. Returns whether an index is in use (False below ``min_photos``)."""
        sig = _signature(conn, model_version)
        with self._lock:
            self._checked_at = time.monotonic()
            if sig[0] < self.min_photos:
                self._index = self._meta = None
                return False
            if self._meta is None or self._meta.get("model_version") != model_version:
                self._index = self._meta = None
                self._load(model_version)
            meta = self._meta
            if meta is not None and (meta["count"], meta["max_id"]) == sig:
                return True
            if meta is not None and sig[1] > meta["max_id"]:
                import faiss

                added = 0
                for ids, x in self._vectors(conn, model_version, after_id=int(meta["max_id"])):
                    faiss.normalize_L2(x)
                    self._index.add_with_ids(x, ids)
                    added += len(ids)
                if meta["count"] + added == sig[0]:  # only additions: the index is whole again
                    self._save(model_version, sig)
                    return True
            self._build(conn, model_version, sig)  # removals or another model: start over
            return True

    def similar(
        self, conn: Connection, model_version: str, photo_id: int, limit: int
    ) -> list[tuple[int, float]] | None:
        """The ``limit`` photos nearest to ``photo_id`` (cosine, descending; itself excluded), or None when the
        library is below ``min_photos`` (the caller searches exactly).

        Raises:
            NotFoundError: the photo has no embedding from ``model_version``.
        """
        import numpy as np

        if self._index is None or time.monotonic() - self._checked_at > 5.0:
            if not self.refresh(conn, model_version):
                return None
        row = conn.execute(
            select(embeddings.c.dim, embeddings.c.vector).where(
                embeddings.c.photo_id == photo_id, embeddings.c.model_version == model_version
            )
        ).first()
        if row is None or len(row[1]) != 2 * row[0]:
            raise NotFoundError(f"photo {photo_id} has no embedding yet (it was not tagged by the current model)")
        q = np.frombuffer(row[1], np.float16).astype(np.float32).reshape(1, -1)
        q /= max(float(np.linalg.norm(q)), 1e-12)
        with self._lock:
            index = self._index
            if index is None:
                return None
            sims, ids = index.search(q, max(1, int(limit)) + 1)
        out = [(int(i), float(s)) for i, s in zip(ids[0], sims[0]) if i >= 0 and int(i) != photo_id]
        return out[: max(0, int(limit))]
