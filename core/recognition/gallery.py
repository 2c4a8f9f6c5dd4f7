"""The compressed kNN gallery of large bundles: class prototypes in a FAISS IVF index with 8-bit scalar quantisation.

Why: a bundle of Google Landmarks v2's 81 000 landmarks cannot carry every training embedding (1.58 M × 1 280 ×
2 bytes ≈ 4 GB) nor score a photo against all of them on a CPU (a 2 GFLOP matrix product per photo). So a large
gallery keeps, per class, a few **prototypes** (spherical k-means centres of its training embeddings,
``class_prototypes``; a class with at most that many photos keeps its photos) and searches them with an
**inverted-file index** (Jégou, Douze & Schmid 2011, "Product quantization for nearest neighbor search"): the
prototypes are bucketed by their nearest of ``nlist`` coarse centroids, and a query scans only the ``nprobe``
buckets nearest to it. Vectors are stored with FAISS's 8-bit scalar quantiser (1 byte per dimension). FAISS
(https://github.com/facebookresearch/faiss, ``faiss-cpu``) builds, serialises and searches the index; nothing here
is a hand-written index.

Galleries of at most ``EXACT_LIMIT`` photos (the shipped 56-class model's 2 000) stay exact: every training
embedding, scored by a full matrix product (``core.recognition.scoring.class_max_similarity``), in bundle format 1.

A query's answer is its ``search_k`` nearest prototypes; ``class_candidates`` turns them into per-class maximum
similarities (the first, highest hit of each class), which is the kNN expert of ``core.recognition.scoring`` restricted
to those candidate classes (``scoring.candidate_log_probs``). FAISS is imported lazily (only a large bundle or
"similar photos" needs it), so the app's read-only paths never load it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import faiss

__all__ = [
    "EXACT_LIMIT",
    "GalleryParams",
    "CompressedGallery",
    "class_prototypes",
    "build_compressed_gallery",
    "index_prototypes",
    "serialize_index",
    "deserialize_index",
    "ivf_nlist",
]

#: Largest gallery (photos) kept exact (every embedding, bundle format 1); larger ones are compressed.
EXACT_LIMIT = 10_000
#: Defaults of the compressed gallery (measured by ``bench/bench_gallery_scale.py``).
DEFAULT_PROTOTYPES_PER_CLASS = 2
DEFAULT_NPROBE = 64
DEFAULT_SEARCH_K = 100


@dataclass(frozen=True)
class GalleryParams:
    """Parameters of a compressed gallery, stored in the bundle's JSON (``gallery``).

    Attributes:
        kind: ``"ivf-sq8-prototypes"``.
        prototypes_per_class: k of the per-class spherical k-means (at most; a class with fewer photos keeps them).
        nlist: coarse centroids of the inverted file. nprobe: buckets scanned per query.
        search_k: prototypes retrieved per query (their classes are the candidates scored).
        photos: training photos summarised. vectors: prototypes indexed.
    """

    kind: str = "ivf-sq8-prototypes"
    prototypes_per_class: int = DEFAULT_PROTOTYPES_PER_CLASS
    nlist: int = 1
    nprobe: int = DEFAULT_NPROBE
    search_k: int = DEFAULT_SEARCH_K
    photos: int = 0
    vectors: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any] | None) -> GalleryParams:
        """Raises ValueError for an unknown kind or fields."""
        doc = dict(doc or {})
        params = cls(**doc)
        if params.kind != "ivf-sq8-prototypes":
            raise ValueError(f"unknown gallery kind {params.kind!r}")
        if params.nprobe < 1 or params.search_k < 1 or params.nlist < 1:
            raise ValueError("gallery nlist, nprobe and search_k must be >= 1")
        return params


def _faiss():
    import faiss

    return faiss


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def class_prototypes(
    embeddings: np.ndarray, labels: np.ndarray, per_class: int = DEFAULT_PROTOTYPES_PER_CLASS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A few unit prototypes per class: spherical k-means centres of its embeddings (FAISS ``Kmeans``).

    A class with at most ``per_class`` photos keeps its photos; ``per_class`` = 1 is the normalised class mean.
    Averaging photos of one landmark removes much of each photo's own noise (clutter, people, weather), so the
    prototypes rank the true class as well as the photos do, often better (``bench/bench_gallery_scale.py``).

    Args:
        embeddings: ``(N, D)`` float32 unit rows. labels: ``(N,)`` int64 class indices.
        per_class: k ≥ 1. seed: k-means seed.
    Returns:
        ``(prototypes (P, D) float32 unit rows, their labels (P,) int64)``, grouped by class, classes ascending.
    Raises:
        ValueError: ``per_class`` < 1 or mismatched shapes.
    """
    if per_class < 1:
        raise ValueError("per_class must be >= 1")
    x = _unit(embeddings)
    y = np.asarray(labels, dtype=np.int64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"embeddings {x.shape} and labels {y.shape} do not match")
    order = np.argsort(y, kind="stable")
    classes, starts = np.unique(y[order], return_index=True)
    bounds = list(starts) + [len(order)]
    protos: list[np.ndarray] = []
    plabels: list[np.ndarray] = []
    faiss = _faiss() if per_class > 1 else None  # only k-means needs it
    for c, a, b in zip(classes, bounds[:-1], bounds[1:]):
        members = x[order[a:b]]
        if len(members) <= per_class:
            centres = members
        elif per_class == 1:
            centres = members.mean(axis=0, keepdims=True)
        else:
            assert faiss is not None
            km = faiss.Kmeans(x.shape[1], per_class, niter=10, seed=seed, spherical=True, verbose=False)
            km.cp.min_points_per_centroid = 1  # a landmark has tens of photos, not 39 per centre
            km.train(members)
            centres = km.centroids
        protos.append(_unit(centres))
        plabels.append(np.full(len(centres), c, dtype=np.int64))
    if not protos:
        return np.zeros((0, x.shape[1]), np.float32), np.zeros(0, np.int64)
    return np.concatenate(protos), np.concatenate(plabels)


def ivf_nlist(vectors: int) -> int:
    """Coarse centroids for ``vectors`` indexed vectors: ``4·√P`` (FAISS's guideline for up to ~1 M vectors is
    4·√P to 16·√P), at most P/39 so that every centroid is trained on 39 points (FAISS warns below that)."""
    return max(1, min(int(round(4 * math.sqrt(max(vectors, 1)))), vectors // 39))


def serialize_index(index: faiss.Index) -> np.ndarray:
    """FAISS's own serialisation of ``index``: ``(S,)`` uint8."""
    return np.asarray(_faiss().serialize_index(index), dtype=np.uint8)


def deserialize_index(data: np.ndarray) -> faiss.Index:
    """The inverse of ``serialize_index``. Raises ValueError when FAISS cannot read the bytes."""
    try:
        return _faiss().deserialize_index(np.ascontiguousarray(data, dtype=np.uint8))
    except RuntimeError as exc:
        raise ValueError(f"unreadable FAISS index ({str(exc).strip().splitlines()[-1][:120]})") from None


def build_compressed_gallery(
    embeddings: np.ndarray,
    labels: np.ndarray,
    *,
    per_class: int = DEFAULT_PROTOTYPES_PER_CLASS,
    nprobe: int = DEFAULT_NPROBE,
    search_k: int = DEFAULT_SEARCH_K,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, GalleryParams]:
    """Prototypes of every class in an IVF index with 8-bit scalar quantisation (inner product on unit vectors).

    Args:
        embeddings: ``(N, D)`` float32 training embeddings (unit rows). labels: ``(N,)`` int64 classes.
        per_class, nprobe, search_k, seed: see ``GalleryParams`` and ``class_prototypes``.
    Returns:
        ``(serialised index (S,) uint8, prototype labels (P,) int64, GalleryParams)``.
    """
    protos, plabels = class_prototypes(embeddings, labels, per_class, seed)
    return index_prototypes(
        protos, plabels, photos=len(labels), per_class=per_class, nprobe=nprobe, search_k=search_k, seed=seed
    )


def index_prototypes(
    protos: np.ndarray,
    plabels: np.ndarray,
    *,
    photos: int,
    per_class: int = DEFAULT_PROTOTYPES_PER_CLASS,
    nprobe: int = DEFAULT_NPROBE,
    search_k: int = DEFAULT_SEARCH_K,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, GalleryParams]:
    """The IVF-SQ8 index of ready prototypes (``class_prototypes`` run chunk by chunk on data too large for memory).

    Returns:
        as ``build_compressed_gallery``.
    """
    faiss = _faiss()
    protos = np.ascontiguousarray(protos, dtype=np.float32)
    n, d = protos.shape
    nlist = ivf_nlist(n)
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFScalarQuantizer(
        quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    index.cp.seed = seed
    rng = np.random.default_rng(seed)
    sample = protos if n <= 256 * nlist else protos[rng.choice(n, 256 * nlist, replace=False)]
    index.train(sample)
    index.add(protos)
    index.nprobe = min(nprobe, nlist)
    params = GalleryParams(
        prototypes_per_class=per_class,
        nlist=nlist,
        nprobe=min(nprobe, nlist),
        search_k=search_k,
        photos=int(photos),
        vectors=int(n),
    )
    return serialize_index(index), np.asarray(plabels, np.int64), params


class CompressedGallery:
    """A loaded compressed gallery: the FAISS index and the class of each indexed prototype.

    Args:
        index_bytes: ``(S,)`` uint8 (``serialize_index``). labels: ``(P,)`` int64 classes of the P vectors.
        params: the bundle's ``GalleryParams``.
    Raises:
        ValueError: unreadable index, or its size / dimension disagrees with ``labels`` / ``dim``.

    Search is thread-safe for concurrent readers (FAISS's ``search`` is const).
    """

    def __init__(self, index_bytes: np.ndarray, labels: np.ndarray, params: GalleryParams, dim: int) -> None:
        self.index = deserialize_index(index_bytes)
        self.labels = np.ascontiguousarray(labels, dtype=np.int64)
        self.params = params
        if self.index.ntotal != len(self.labels):
            raise ValueError(f"the gallery index holds {self.index.ntotal} vectors but has {len(self.labels)} labels")
        if self.index.d != dim:
            raise ValueError(f"the gallery index has dimension {self.index.d}, the model's embeddings {dim}")
        _faiss().extract_index_ivf(self.index).nprobe = params.nprobe

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, embeddings: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar prototypes of each query.

        Args:
            embeddings: ``(B, D)`` float32 unit rows.
        Returns:
            ``(similarities (B, k) float32 descending, classes (B, k) int64)``; ``-inf`` / ``-1`` where fewer than k
            prototypes were found.
        """
        q = np.ascontiguousarray(embeddings, dtype=np.float32)
        k = max(1, min(int(k), len(self)))
        sims, ids = self.index.search(q, k)
        found = ids >= 0
        classes = np.where(found, self.labels[np.maximum(ids, 0)], -1)
        return np.where(found, sims, -np.inf).astype(np.float32), classes

    def class_candidates(self, embeddings: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Candidate classes of each query and their per-class maximum similarity.

        The ``k`` (default ``params.search_k``) nearest prototypes, in descending similarity; a class's first hit
        is its maximum, later hits of the same class are masked.

        Returns:
            ``(classes (B, k) int64, -1 for a masked or missing slot; similarities (B, k) float32, -inf there)``.
        """
        sims, classes = self.search(embeddings, k or self.params.search_k)
        # a slot repeats a class already seen earlier in its row: mask it (rows are sorted by similarity)
        same = classes[:, :, None] == classes[:, None, :]
        earlier = np.tril(np.ones((classes.shape[1], classes.shape[1]), dtype=bool), k=-1)
        dup = (same & earlier[None]).any(axis=2)
        keep = (~dup) & (classes >= 0)
        return np.where(keep, classes, -1), np.where(keep, sims, -np.inf).astype(np.float32)

    def max_similarity(self, embeddings: np.ndarray) -> np.ndarray:
        """``(B,)`` float32: each query's highest similarity to any prototype (-1 when none was found)."""
        sims, _ = self.search(embeddings, 1)
        return np.where(np.isfinite(sims[:, 0]), sims[:, 0], -1.0).astype(np.float32)

    def best_evidence(self, embeddings: np.ndarray, exclude: int | None) -> np.ndarray:
        """``(B,)`` float32: each query's highest similarity to a prototype of a class other than ``exclude``
        (``core.recognition.scoring.best_evidence`` over prototypes); -1 when none was found.

        Searches 8 neighbours first and 8·``search_k`` for the queries whose 8 all belong to ``exclude``.
        """
        q = np.ascontiguousarray(embeddings, dtype=np.float32)
        out = np.full(len(q), -1.0, np.float32)
        todo = np.arange(len(q))
        for k in (8, 8 * self.params.search_k):
            if not len(todo):
                break
            sims, classes = self.search(q[todo], k)
            ok = (classes >= 0) & (classes != (-2 if exclude is None else exclude))
            has = ok.any(axis=1)
            first = ok.argmax(axis=1)
            out[todo[has]] = sims[has, first[has]]
            todo = todo[~has] if k < len(self) else todo[:0]
        return out
