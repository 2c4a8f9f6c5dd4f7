"""Search: landmark names (FTS5 trigram + typo tolerance), photo filters, similar photos.

* ``match_landmarks(conn, text)`` — landmark keys whose name matches ``text``: the SQLite FTS5
  trigram index (https://sqlite.org/fts5.html#the_trigram_tokenizer) finds substrings of 3+
  characters; a prefix ``LIKE`` over the small ``landmarks`` table serves 1–2 characters; when neither
  finds anything, a Levenshtein edit-distance fallback (≤ 1 edit for 4–5 characters, ≤ 2 for longer,
  against each word and word prefix of every name) tolerates typos ("Eifel", "Colloseum").
* ``photo_filter(...)`` — the SQL ``WHERE`` clause for an ``AlbumRef`` and a ``SearchQuery``; every
  filter hits an index of ``photos`` (label, status, label_source, confidence, taken_at, path).
* ``EmbeddingIndex`` — the stored embeddings of one model version as one float16 matrix in memory;
  ``similar`` ranks photos by cosine similarity (embeddings are unit norm, so matrix-vector products:
  a random projection picks candidates, the exact float16 vectors rank them).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from core.domain import AlbumKind, AlbumRef, InvalidRequestError, LabelSource, NotFoundError, PhotoStatus, SearchQuery

__all__ = [
    "match_landmarks",
    "levenshtein",
    "photo_filter",
    "page_photos",
    "EmbeddingIndex",
    "SUMMARY_COLUMNS",
    "DENSE_PROBE_ROWS",
]

#: ``page_photos`` calls a filter *dense* when it matches at least this many photos.
DENSE_PROBE_ROWS = 2000

#: Columns selected for a ``PhotoSummary`` (``p`` = photos, ``l`` = landmarks).
SUMMARY_COLUMNS = (
    "p.id, p.path, p.status, p.label, l.name AS label_name, p.confidence, p.label_source, "
    "p.taken_at, p.latitude, p.longitude, p.location_source"
)


def levenshtein(a: str, b: str, limit: int | None = None) -> int:
    """Edit distance (insertions, deletions, substitutions; Levenshtein 1966) between two strings.

    Args:
        limit: stop early and return ``limit + 1`` once the distance must exceed it.
    """
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    if limit is not None and len(a) - len(b) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if limit is not None and min(cur) > limit:
            return limit + 1
        prev = cur
    return prev[-1]


def _typo_budget(n: int) -> int:
    return 0 if n < 4 else (1 if n <= 5 else 2)


def _fts_phrase(text_: str) -> str:
    return '"' + text_.replace('"', '""') + '"'


def match_landmarks(conn: Connection, query: str, *, typo_tolerant: bool = True) -> list[str]:
    """Keys of landmarks whose display name (or key) matches ``query``, best first.

    Args:
        query: free text (case-insensitive).
    Returns:
        landmark keys; empty for a blank query or no match.
    """
    q = " ".join(query.split()).lower()
    if not q:
        return []
    keys: list[str] = []
    if len(q) >= 3:
        keys = [
            r[0]
            for r in conn.execute(
                text("SELECT key FROM landmarks_fts WHERE landmarks_fts MATCH :q ORDER BY rank"), {"q": _fts_phrase(q)}
            )
        ]
    if not keys:
        like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        keys = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT key FROM landmarks WHERE lower(name) LIKE :p ESCAPE '\\' OR lower(name) LIKE :w ESCAPE '\\' "
                    "OR lower(replace(key, '_', ' ')) LIKE :p ESCAPE '\\' ORDER BY name"
                ),
                {"p": like + "%", "w": "% " + like + "%"},
            )
        ]
    if keys or not typo_tolerant:
        return list(dict.fromkeys(keys))
    budget = _typo_budget(len(q))
    if budget == 0:
        return []
    scored: list[tuple[int, str, str]] = []
    for key, name in conn.execute(text("SELECT key, name FROM landmarks")):
        cands = {name.lower(), key.lower().replace("_", " ")}
        words = {w for c in cands for w in c.replace(",", " ").split()}
        best = budget + 1
        for s in cands | words:
            best = min(best, levenshtein(q, s, budget), levenshtein(q, s[: len(q)], budget))
            if best == 0:
                break
        if best <= budget:
            scored.append((best, name, key))
    return [k for _, _, k in sorted(scored)]


def _folder_range(folder: str | Path) -> tuple[str, str]:
    root = os.path.abspath(os.fspath(folder)).rstrip(os.sep) + os.sep
    # Every path under root sorts in [root, root with its last character incremented).
    return root, root[:-1] + chr(ord(root[-1]) + 1)


def photo_filter(
    conn: Connection, album: AlbumRef | None, query: SearchQuery | None, review_threshold: float
) -> tuple[str, dict[str, Any]]:
    """SQL condition on ``photos p`` for an album and a query (ANDed).

    Returns:
        ``(where_sql, params)``; ``where_sql`` is ``"1"`` when nothing filters. A text query that
        matches no landmark gives a condition that matches nothing.
    Raises:
        LibraryError: unknown album kind, label source, location or status.
    """
    conds: list[str] = []
    params: dict[str, Any] = {}
    if album is not None and album.kind != AlbumKind.ALL:
        k = album.kind
        if k == AlbumKind.LANDMARK:
            conds.append("p.label = :album_key")
            params["album_key"] = album.key
        elif k == AlbumKind.UNRECOGNIZED:
            conds.append("p.status = 'no_landmark'")
        elif k == AlbumKind.HAS_GPS:
            conds.append("p.status = 'gps'")
        elif k == AlbumKind.FAILED:
            conds.append("p.status = 'failed'")
        elif k == AlbumKind.PENDING:
            conds.append("p.status = 'pending'")
        elif k == AlbumKind.NEEDS_REVIEW:
            conds.append("p.status = 'tagged' AND p.label_source = 'model' AND p.confidence < :review")
            params["review"] = float(review_threshold)
        else:
            raise InvalidRequestError(f"unknown album kind {k!r}")
    q = query or SearchQuery()
    if q.text is not None and q.text.strip():
        keys = match_landmarks(conn, q.text)
        if not keys:
            conds.append("0")
        else:
            names = [f"k{i}" for i in range(len(keys))]
            conds.append(f"p.label IN ({','.join(':' + n for n in names)})")
            params.update(dict(zip(names, keys)))
    if q.landmark is not None:
        conds.append("p.label = :landmark")
        params["landmark"] = q.landmark
    if q.label_source is not None:
        if q.label_source not in (LabelSource.MODEL, LabelSource.MANUAL):
            raise InvalidRequestError(f"label source must be 'model' or 'manual', not {q.label_source!r}")
        conds.append("p.label_source = :ls")
        params["ls"] = q.label_source
    if q.min_confidence is not None:
        conds.append("p.confidence >= :cmin")
        params["cmin"] = float(q.min_confidence)
    if q.max_confidence is not None:
        conds.append("p.confidence <= :cmax")
        params["cmax"] = float(q.max_confidence)
    if q.location is not None:
        loc = {
            "gps": "p.location_source = 'gps'",
            "estimated": "p.location_source = 'landmark'",
            "landmark": "p.location_source = 'landmark'",
            "any": "p.location_source IS NOT NULL",
            "none": "p.location_source IS NULL",
        }.get(q.location)
        if loc is None:
            raise InvalidRequestError(f"location filter must be gps, estimated, any or none, not {q.location!r}")
        conds.append(loc)
    if q.date_from is not None:
        conds.append("p.taken_at >= :dfrom")
        params["dfrom"] = q.date_from.isoformat()
    if q.date_to is not None:
        conds.append("p.taken_at <= :dto")
        params["dto"] = (
            q.date_to.isoformat()
            if q.date_to.time() != q.date_to.min.time()
            else q.date_to.replace(hour=23, minute=59, second=59, microsecond=999999).isoformat()
        )
    if q.folder is not None:
        lo, hi = _folder_range(q.folder)
        conds.append("p.path >= :flo AND p.path < :fhi")
        params.update(flo=lo, fhi=hi)
    if q.status is not None:
        if q.status not in PhotoStatus.ALL:
            raise InvalidRequestError(f"unknown status {q.status!r} (one of {', '.join(PhotoStatus.ALL)})")
        conds.append("p.status = :status")
        params["status"] = q.status
    return (" AND ".join(f"({c})" for c in conds) if conds else "1"), params


def page_photos(conn: Connection, where: str, params: dict[str, Any], limit: int | None, offset: int = 0) -> list:
    """Rows (``SUMMARY_COLUMNS``) matching ``where``, in id order, with paging.

    SQLite's planner, given a filter and ``ORDER BY id LIMIT n``, tends to read every match through an
    index and sort them (100+ ms when a filter matches 25 000 of 100 000 photos). So a page is read in
    one of two ways, chosen by a bounded probe (``SELECT 1 ... LIMIT DENSE_PROBE_ROWS``, through the
    indexes):

    * sparse filter (fewer matches than the probe bound): the indexed plan, sorting at most that many rows;
    * dense filter: a scan in rowid order (``NOT INDEXED``) that stops after ``offset + limit`` matches.
    """
    base = "FROM photos p {hint} LEFT JOIN landmarks l ON l.key = p.label WHERE {where} ORDER BY p.id"
    args = dict(params)
    if limit is None:
        sql = f"SELECT {SUMMARY_COLUMNS} " + base.format(hint="", where=where)
        return conn.execute(text(sql), args).all()
    args.update(lim=int(limit), off=int(offset), probe=DENSE_PROBE_ROWS)
    hint = ""
    if where != "1":
        n = conn.execute(
            text(f"SELECT COUNT(*) FROM (SELECT 1 FROM photos p WHERE {where} LIMIT :probe)"), args
        ).scalar()
        if n >= DENSE_PROBE_ROWS:
            hint = "NOT INDEXED"
    sql = f"SELECT {SUMMARY_COLUMNS} " + base.format(hint=hint, where=where) + " LIMIT :lim OFFSET :off"
    return conn.execute(text(sql), args).all()


@dataclass
class _Matrix:
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
        self._m: _Matrix | None = None
        self._generation = 0
        self._checked_at = float("-inf")
        self.chunk = chunk
        self.recheck_s = recheck_s

    def invalidate(self) -> None:
        """Drop the cache (call after writing embeddings)."""
        with self._lock:
            self._generation += 1
            self._m = None

    def matrix(self, conn: Connection, model_version: str) -> _Matrix:
        """The cached matrix for ``model_version`` (loads it when stale).

        Writes made through this process call ``invalidate``; changes by other programs are noticed by a
        freshness check (count and largest id of the model's embeddings) run at most every ``recheck_s``
        seconds.
        """
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
            text("SELECT COUNT(*), MAX(photo_id) FROM embeddings WHERE model_version = :mv"), {"mv": model_version}
        ).first()
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
            text("SELECT photo_id, dim, vector FROM embeddings WHERE model_version = :mv ORDER BY photo_id"),
            {"mv": model_version},
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
        m = _Matrix(model_version, sig, ids, vecs, proj, {int(i): n for n, i in enumerate(ids)})
        with self._lock:
            self._m = m
        return m

    def similar(self, conn: Connection, model_version: str, photo_id: int, limit: int) -> list[tuple[int, float]]:
        """Photos most similar to ``photo_id`` (cosine similarity in [-1, 1], descending), itself excluded.

        Raises:
            LibraryError: the photo has no embedding from ``model_version`` (not tagged yet, GPS, failed).
        """
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
        m = self.matrix(conn, model_version)
        found = [int(i) for i in photo_ids if int(i) in m.row_of]
        if not found:
            return [], np.zeros((0, m.vectors.shape[1] if m.vectors.ndim == 2 else 0), np.float16)
        return found, m.vectors[[m.row_of[i] for i in found]]
