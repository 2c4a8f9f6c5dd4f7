"""Similar photos: ``EmbeddingIndex`` keeps the stored embeddings of one model version as one float16 matrix
in memory; ``similar`` ranks photos by cosine similarity (embeddings are unit norm, so matrix-vector
products: a random projection picks candidates, the exact float16 vectors rank them). Re-scoring after a
correction reads the same cached matrix (``matrix``).

Large libraries (at least ``ANN_MIN_PHOTOS`` embeddings) answer "similar photos" from an approximate
nearest-neighbour index instead (``SimilarPhotosIndex``): a FAISS HNSW graph over the embeddings with 8-bit scalar
quantisation, keyed by photo id, kept in a file beside the database (``<db>.similar.faiss`` + ``.json`` with the
model version and the embeddings' signature). The first query of a session loads that file (no 256 MB read from
SQLite). A query never builds or extends the index: ``refresh_ann`` (run at the end of each tagging job, in its
worker) adds the new embeddings to it, or rebuilds it when embeddings were removed or the model changed; while the
file is missing or behind the embeddings, queries are answered by the exact search and, when the index was given a
way to connect (``ann_connect``), a background thread refreshes it. The file is a cache: deleting it only costs a
rebuild. FAISS is imported only then, so small libraries and the read-only commands never load it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
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
        self,
        chunk: int = 16384,
        recheck_s: float = 5.0,
        ann_path: Path | None = None,
        ann_min: int = ANN_MIN_PHOTOS,
        ann_connect: Callable[[], AbstractContextManager[Connection]] | None = None,
    ) -> None:
        self._ann = SimilarPhotosIndex(ann_path, ann_min, connect=ann_connect) if ann_path is not None else None
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
        library below ``ann_min`` embeddings). Slow (a rebuild: minutes at 100 000 photos): call it after
        writing embeddings, off the GUI thread (the tagging job does)."""
        if self._ann is not None:
            self._ann.refresh(conn, model_version)

    def close(self) -> None:
        """Stop a background refresh of the similar-photos index (call before disposing of the database)."""
        if self._ann is not None:
            self._ann.close()

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


def _hnsw(index: Any) -> Any:
    """The ``faiss.HNSW`` graph inside the ``IndexIDMap`` of a similar-photos index (its search parameters)."""
    import faiss

    sub: Any = faiss.downcast_index(index.index)
    return sub.hnsw


#: Version of the index file (``format`` in its metadata); files of another format are rebuilt.
ANN_FORMAT = 2


class SimilarPhotosIndex:
    """The FAISS index file of "similar photos" in a large library (see the module docstring).

    The index is an HNSW graph (Malkov & Yashunin 2018, ``faiss.IndexHNSWSQ``) over the unit embeddings with 8-bit
    scalar quantisation, inner-product metric, inside a ``faiss.IndexIDMap`` keyed by photo id. Measured on clustered
    synthetic embeddings (``bench/bench_gallery_scale.py``, 100 000 photos), M = 32, efConstruction = 200, efSearch = 256
    find 0.995 of the exact top-20 in 3.5 ms per query (efConstruction 100: 0.91); an IVF-SQ8 index needed most of its
    lists probed for 0.95. Building it is slow (about 7 minutes on 1 busy core at 100 000 photos).

    Args:
        path: the index file (``<db>.similar.faiss``); its metadata goes to ``path`` + ``.json``.
        min_photos: below this many embeddings there is no index (the exact search is fast enough).
        ef_search: HNSW candidate list size per query (raised to the number of results asked for).
        m: HNSW neighbours per node. ef_construction: HNSW candidate list size while building.
        connect: a context manager factory yielding a ``Connection`` (``Database.read``); when given, a query that
            finds the index missing or behind the embeddings starts ``refresh`` in a background thread. Without it,
            only ``refresh`` (the tagging job) brings the index up to date.

    A query never builds or extends the index: while it is missing or behind the stored embeddings, ``similar``
    returns None and the caller searches exactly. Thread-safe: ``_lock`` guards the loaded index (held only to load
    the file, swap in a new index and search); ``_refresh_lock`` lets one refresh run at a time, building off
    ``_lock`` on a copy.
    """

    def __init__(
        self,
        path: Path,
        min_photos: int = ANN_MIN_PHOTOS,
        ef_search: int = 256,
        m: int = 32,
        ef_construction: int = 200,
        connect: Callable[[], AbstractContextManager[Connection]] | None = None,
    ) -> None:
        self.path = Path(path)
        self.meta_path = self.path.with_name(self.path.name + ".json")
        self.min_photos = int(min_photos)
        self.ef_search = int(ef_search)
        self.m = int(m)
        self.ef_construction = int(ef_construction)
        self.connect = connect
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._index: Any = None
        self._meta: dict | None = None
        self._checked_at = float("-inf")
        self._sig: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()

    def stale(self) -> None:
        """Embeddings changed: check the signature at the next query."""
        self._checked_at = float("-inf")

    def close(self, timeout: float = 30.0) -> None:
        """Stop a background refresh (it stops between chunks of added embeddings; nothing half-built is saved)."""
        self._cancel.set()
        t = self._thread
        if t is not None:
            t.join(timeout)

    def _read_meta(self) -> dict | None:
        try:
            meta = json.loads(self.meta_path.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return meta if isinstance(meta, dict) and meta.get("format") == ANN_FORMAT else None

    def _load(self, model_version: str) -> tuple[Any, dict] | None:
        """``(index, metadata)`` of the file when its metadata names ``model_version``; None when there is none (or
        it is unreadable, or of another format)."""
        meta = self._read_meta()
        if meta is None or meta.get("model_version") != model_version or not self.path.is_file():
            return None
        import faiss

        try:
            index = faiss.read_index(str(self.path))
        except RuntimeError as exc:
            log.warning("similar photos: ignoring unreadable index %s (%s)", self.path, str(exc).splitlines()[-1])
            return None
        if index.ntotal != int(meta.get("count", -1)):
            return None
        return index, meta

    def _vectors(self, conn: Connection, model_version: str, after_id: int = 0, chunk: int = 4096):
        """``(ids (n,) int64, unit vectors (n, D) float32)`` chunks of the stored embeddings with photo id >
        ``after_id``."""
        import faiss
        import numpy as np

        q = (
            select(embeddings.c.photo_id, embeddings.c.dim, embeddings.c.vector)
            .where(embeddings.c.model_version == model_version, embeddings.c.photo_id > after_id)
            .order_by(embeddings.c.photo_id)
        )
        ids: list[int] = []
        blobs: list[bytes] = []
        dim = 0

        def out() -> tuple[np.ndarray, np.ndarray]:
            x = np.frombuffer(b"".join(blobs), np.float16).reshape(-1, dim).astype(np.float32)
            faiss.normalize_L2(x)
            return np.asarray(ids, np.int64), x

        for pid, d, vec in conn.execute(q):
            dim = dim or d
            if d != dim or len(vec) != 2 * dim:
                continue
            ids.append(pid)
            blobs.append(vec)
            if len(ids) == chunk:
                yield out()
                ids, blobs = [], []
        if ids:
            yield out()

    def _add(self, index: Any, conn: Connection, model_version: str, after_id: int) -> int | None:
        """Add the embeddings newer than ``after_id`` to ``index`` in chunks; their count, or None when cancelled."""
        added = 0
        for ids, x in self._vectors(conn, model_version, after_id=after_id):
            if self._cancel.is_set():
                return None
            index.add_with_ids(x, ids)
            added += len(ids)
        return added

    def _new_index(self, dim: int) -> Any:
        import faiss

        fx: Any = faiss  # its stubs type the quantiser argument as a ScalarQuantizer, the API takes its enum
        hnsw = fx.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, self.m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = self.ef_construction
        hnsw.hnsw.efSearch = self.ef_search
        return faiss.IndexIDMap(hnsw)  # FAISS's wrapper keeps a reference to ``hnsw``

    def _build(self, conn: Connection, model_version: str) -> Any:
        """A new index over the stored embeddings (None when cancelled). The scalar quantiser's per-dimension ranges
        are trained on a sample of up to 20 000 embeddings spread over the library."""
        import numpy as np

        row = conn.execute(
            select(embeddings.c.dim).where(embeddings.c.model_version == model_version).limit(1)
        ).scalar_one()
        index = self._new_index(int(row))
        total = _signature(conn, model_version)[0]
        step = max(1, total // 20_000)
        sample = [x[::step] for _ids, x in self._vectors(conn, model_version)]
        index.train(np.concatenate(sample))
        del sample
        return index if self._add(index, conn, model_version, 0) is not None else None

    def _save(self, index: Any, meta: dict) -> None:
        import faiss

        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            faiss.write_index(index, str(tmp))
            os.replace(tmp, self.path)
            self.meta_path.write_text(json.dumps(meta), "utf-8")
        except (OSError, RuntimeError) as exc:  # a read-only folder: the index lives in memory for this session
            log.warning("similar photos: cannot write %s (%s)", self.path, exc)

    def refresh(self, conn: Connection, model_version: str) -> bool:
        """Make the index match the stored embeddings of ``model_version``: load the file, add embeddings newer
        than it (on a copy), or rebuild it (removals, another model, no file). Slow (a rebuild takes minutes at
        100 000 photos, see ``training/README.md``): call it off the GUI thread. Returns whether an up-to-date
        index is in use (False below ``min_photos`` or when cancelled by ``close``)."""
        import faiss

        with self._refresh_lock:
            if self._cancel.is_set():
                return False
            sig = _signature(conn, model_version)
            if sig[0] < self.min_photos:
                with self._lock:
                    self._index = self._meta = None
                    self._sig, self._checked_at = sig, time.monotonic()
                return False
            with self._lock:
                index, meta = self._index, self._meta
            if meta is None or meta.get("model_version") != model_version:
                loaded = self._load(model_version)
                index, meta = loaded if loaded is not None else (None, None)
            if meta is not None and (meta["count"], meta["max_id"]) == sig:
                new = index
            elif meta is not None and sig[1] > meta["max_id"]:  # maybe only additions: extend a copy
                new = faiss.clone_index(index)
                added = self._add(new, conn, model_version, int(meta["max_id"]))
                if added is None:
                    return False
                if meta["count"] + added != sig[0]:  # removals too: start over
                    new = self._build(conn, model_version)
            else:
                new = self._build(conn, model_version)
            if new is None:
                return False
            new_meta = {"model_version": model_version, "count": sig[0], "max_id": sig[1], "format": ANN_FORMAT}
            if new is not index or meta != new_meta:
                self._save(new, new_meta)
            _hnsw(new).efSearch = self.ef_search
            with self._lock:
                self._index, self._meta = new, new_meta
                self._sig, self._checked_at = sig, time.monotonic()
            return True

    def _refresh_in_background(self, model_version: str) -> None:
        """Start ``refresh`` in a daemon thread with its own connection (at most one such thread at a time)."""
        connect = self.connect
        if connect is None or self._cancel.is_set():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return

            def run() -> None:
                try:
                    with connect() as conn:
                        self.refresh(conn, model_version)
                except Exception as exc:  # noqa: BLE001 - a cache: the exact search keeps answering
                    log.warning("similar photos: the index was not refreshed (%s)", exc)

            self._thread = threading.Thread(target=run, name="similar-photos-index", daemon=True)
            self._thread.start()

    def _current(self, conn: Connection, model_version: str) -> Any:
        """The loaded index when it matches the stored embeddings (loading the file when it does); None otherwise,
        after asking for a background refresh when the library is large enough."""
        with self._lock:
            meta = self._meta
            if (
                self._index is not None
                and meta is not None
                and meta.get("model_version") == model_version
                and self._sig == (meta["count"], meta["max_id"])
                and time.monotonic() - self._checked_at <= 5.0
            ):
                return self._index
        sig = _signature(conn, model_version)
        if sig[0] < self.min_photos:
            return None
        with self._lock:
            self._sig, self._checked_at = sig, time.monotonic()
            if self._meta is None or self._meta.get("model_version") != model_version:
                meta = self._read_meta()
                if meta is not None and (meta.get("model_version"), meta.get("count"), meta.get("max_id")) == (
                    model_version,
                    *sig,
                ):
                    loaded = self._load(model_version)  # about 0.1 s for 100 000 photos
                    if loaded is not None:
                        self._index, self._meta = loaded
                        _hnsw(self._index).efSearch = self.ef_search
            meta = self._meta
            if (
                self._index is not None
                and meta is not None
                and (meta.get("model_version"), meta["count"], meta["max_id"]) == (model_version, *sig)
            ):
                return self._index
        self._refresh_in_background(model_version)
        return None

    def similar(
        self, conn: Connection, model_version: str, photo_id: int, limit: int
    ) -> list[tuple[int, float]] | None:
        """The ``limit`` photos nearest to ``photo_id`` (cosine of the 8-bit vectors, descending; itself excluded),
        or None when the caller must search exactly: the library is below ``min_photos``, or the index is missing
        or behind the stored embeddings (being refreshed meanwhile, see the class docstring).

        Raises:
            NotFoundError: the photo has no embedding from ``model_version``.
        """
        import numpy as np

        if self._current(conn, model_version) is None:
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
        k = max(1, int(limit)) + 1
        with self._lock:
            index = self._index
            if index is None:
                return None
            hnsw = _hnsw(index)
            hnsw.efSearch = max(self.ef_search, k)
            sims, ids = index.search(q, k)
        out = [(int(i), float(s)) for i, s in zip(ids[0], sims[0]) if i >= 0 and int(i) != photo_id]
        return out[: max(0, int(limit))]
