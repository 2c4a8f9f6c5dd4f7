"""Search: landmark names (FTS5 trigram + typo tolerance), photo filters, similar photos.

* ``match_landmarks(conn, text)`` — landmark keys whose name matches ``text``: the SQLite FTS5
  trigram index (https://sqlite.org/fts5.html#the_trigram_tokenizer) finds substrings of 3+
  characters; a prefix ``LIKE`` over the small ``landmarks`` table serves 1–2 characters; when neither
  finds anything, a Levenshtein edit-distance fallback (≤ 1 edit for 4–5 characters, ≤ 2 for longer,
  against each word and word prefix of every name) tolerates typos ("Eifel", "Colloseum").
* ``photo_filter(...)`` — the SQL ``WHERE`` clause for an ``AlbumRef`` and a ``SearchQuery``; every
  filter hits an index of ``photos`` (label, status, label_source, confidence, taken_at, path).
* ``EmbeddingIndex`` — the stored embeddings of one model version as one float16 matrix in memory;
  ``similar`` ranks photos by cosine similarity (embeddings are unit norm, so a matrix-vector product).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sqlalchemy import Connection, text

from core.library_types import AlbumKind, AlbumRef, LabelSource, LibraryError, PhotoStatus, SearchQuery

__all__ = ["match_landmarks", "levenshtein", "photo_filter", "EmbeddingIndex", "SUMMARY_COLUMNS"]

#: Columns selected for a ``PhotoSummary`` (``p`` = photos, ``l`` = landmarks).
SUMMARY_COLUMNS = ("p.id, p.path, p.status, p.label, l.name AS label_name, p.confidence, p.label_source, "
                   "p.taken_at, p.latitude, p.longitude, p.location_source")


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
        keys = [r[0] for r in conn.execute(
            text("SELECT key FROM landmarks_fts WHERE landmarks_fts MATCH :q ORDER BY rank"),
            {"q": _fts_phrase(q)})]
    if not keys:
        like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        keys = [r[0] for r in conn.execute(text(
            "SELECT key FROM landmarks WHERE lower(name) LIKE :p ESCAPE '\\' OR lower(name) LIKE :w ESCAPE '\\' "
            "OR lower(replace(key, '_', ' ')) LIKE :p ESCAPE '\\' ORDER BY name"),
            {"p": like + "%", "w": "% " + like + "%"})]
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
            best = min(best, levenshtein(q, s, budget), levenshtein(q, s[:len(q)], budget))
            if best == 0:
                break
        if best <= budget:
            scored.append((best, name, key))
    return [k for _, _, k in sorted(scored)]


def _folder_range(folder: str | Path) -> tuple[str, str]:
    root = os.path.abspath(os.fspath(folder)).rstrip(os.sep) + os.sep
    # Every path under root sorts in [root, root with its last character incremented).
    return root, root[:-1] + chr(ord(root[-1]) + 1)


def photo_filter(conn: Connection, album: AlbumRef | None, query: SearchQuery | None,
                 review_threshold: float) -> tuple[str, dict[str, Any]]:
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
            raise LibraryError(f"unknown album kind {k!r}")
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
            raise LibraryError(f"label source must be 'model' or 'manual', not {q.label_source!r}")
        conds.append("p.label_source = :ls")
        params["ls"] = q.label_source
    if q.min_confidence is not None:
        conds.append("p.confidence >= :cmin")
        params["cmin"] = float(q.min_confidence)
    if q.max_confidence is not None:
        conds.append("p.confidence <= :cmax")
        params["cmax"] = float(q.max_confidence)
    if q.location is not None:
        loc = {"gps": "p.location_source = 'gps'", "estimated": "p.location_source = 'landmark'",
               "landmark": "p.location_source = 'landmark'", "any": "p.location_source IS NOT NULL",
               "none": "p.location_source IS NULL"}.get(q.location)
        if loc is None:
            raise LibraryError(f"location filter must be gps, estimated, any or none, not {q.location!r}")
        conds.append(loc)
    if q.date_from is not None:
        conds.append("p.taken_at >= :dfrom")
        params["dfrom"] = q.date_from.isoformat()
    if q.date_to is not None:
        conds.append("p.taken_at <= :dto")
        params["dto"] = q.date_to.isoformat() if q.date_to.time() != q.date_to.min.time() \
            else q.date_to.replace(hour=23, minute=59, second=59, microsecond=999999).isoformat()
    if q.folder is not None:
        lo, hi = _folder_range(q.folder)
        conds.append("p.path >= :flo AND p.path < :fhi")
        params.update(flo=lo, fhi=hi)
    if q.status is not None:
        if q.status not in PhotoStatus.ALL:
            raise LibraryError(f"unknown status {q.status!r} (one of {', '.join(PhotoStatus.ALL)})")
        conds.append("p.status = :status")
        params["status"] = q.status
    return (" AND ".join(f"({c})" for c in conds) if conds else "1"), params


@dataclass
class _Matrix:
    model_version: str
    signature: tuple
    ids: np.ndarray      # (N,) int64
    vectors: np.ndarray  # (N, D) float16, unit rows
    row_of: dict


class EmbeddingIndex:
    """Stored embeddings of one model version, cached in memory as float16 ``(N, D)``.

    At 100 000 photos and D = 1280 that is 256 MB; similarity is computed in float32 chunks of
    ``chunk`` rows, so the temporary memory stays near ``chunk × D × 4`` bytes. The cache reloads
    when the embeddings table changes (row count, largest id, or ``invalidate()``).
    """

    def __init__(self, chunk: int = 16384) -> None:
        self._lock = threading.Lock()
        self._m: _Matrix | None = None
        self._generation = 0
        self.chunk = chunk

    def invalidate(self) -> None:
        """Drop the cache (call after writing embeddings)."""
        with self._lock:
            self._generation += 1
            self._m = None

    def matrix(self, conn: Connection, model_version: str) -> _Matrix:
        """The cached matrix for ``model_version`` (loads it when stale)."""
        sig_row = conn.execute(text("SELECT COUNT(*), MAX(photo_id) FROM embeddings WHERE model_version = :mv"),
                               {"mv": model_version}).first()
        with self._lock:
            sig = (tuple(sig_row), self._generation)
            m = self._m
            if m is not None and m.model_version == model_version and m.signature == sig:
                return m
        rows = conn.execute(text("SELECT photo_id, dim, vector FROM embeddings WHERE model_version = :mv "
                                 "ORDER BY photo_id"), {"mv": model_version}).all()
        if rows:
            dim = rows[0].dim
            ids = np.fromiter((r.photo_id for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.empty((len(rows), dim), dtype=np.float16)
            for i, r in enumerate(rows):
                vecs[i] = np.frombuffer(r.vector, dtype=np.float16, count=dim)
        else:
            ids, vecs = np.zeros(0, np.int64), np.zeros((0, 0), np.float16)
        m = _Matrix(model_version, sig, ids, vecs, {int(i): n for n, i in enumerate(ids)})
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
            raise LibraryError(f"photo {photo_id} has no embedding yet (it was not tagged by the current model)")
        v = m.vectors[row].astype(np.float32)
        v /= max(float(np.linalg.norm(v)), 1e-12)
        sims = np.empty(len(m.ids), dtype=np.float32)
        for start in range(0, len(m.ids), self.chunk):
            sims[start:start + self.chunk] = m.vectors[start:start + self.chunk].astype(np.float32) @ v
        sims[row] = -np.inf
        k = min(int(limit), len(m.ids) - 1)
        if k <= 0:
            return []
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(int(m.ids[i]), float(sims[i])) for i in top]

    def vectors_for(self, conn: Connection, model_version: str, photo_ids: Sequence[int]
                    ) -> tuple[list[int], np.ndarray]:
        """``(ids found, (n, D) float16 vectors)`` for the given photos (missing ones are left out)."""
        m = self.matrix(conn, model_version)
        found = [int(i) for i in photo_ids if int(i) in m.row_of]
        if not found:
            return [], np.zeros((0, m.vectors.shape[1] if m.vectors.ndim == 2 else 0), np.float16)
        return found, m.vectors[[m.row_of[i] for i in found]]
