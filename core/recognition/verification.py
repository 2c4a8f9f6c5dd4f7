"""Geometric verification: re-rank an uncertain prediction by matching local features against the gallery.

The classic landmark re-ranking step (as the DELF + RANSAC verification of the Google Landmark Recognition
2018 challenge, which accepted a match at > 35 inliers; Noh et al. 2017, "Large-Scale Image Retrieval with
Attentive Deep Local Features"), with OpenCV SIFT/RootSIFT (``core.recognition.local_features``):

1. **Which photos.** Only photos whose top-1 is uncertain are verified (``needs_verification``): top-1
   confidence below ``VerificationParams.verify_below``, and P(no landmark) below
   ``skip_no_landmark_above`` (a photo the landmark gate is sure shows no landmark is left alone). So the
   average cost per photo stays small.
2. **Candidates.** The first ``candidates`` landmark keys of the prediction's top-k that the gallery holds.
3. **Shortlist.** For each candidate, the ``shortlist`` gallery photos of that landmark nearest to the
   photo's CNN embedding (cosine similarity; the gallery stores the embeddings of its photos).
4. **Match.** For each shortlisted gallery photo: OpenCV brute-force matching of RootSIFT vectors
   (``cv2.BFMatcher``, L2, 2 nearest neighbours) with Lowe's ratio test (``ratio``; Lowe 2004, §7.1), then a
   robust fit of the geometry between the two keypoint sets (``cv2.findHomography`` with MAGSAC++
   (``cv2.USAC_MAGSAC``), ``cv2.estimateAffine2D`` with RANSAC, or ``cv2.findFundamentalMat`` with MAGSAC++,
   per ``geometry``) with a reprojection threshold of ``ransac_px`` pixels, on one-to-one matches (a gallery
   keypoint keeps its closest query keypoint); a map that flips or squashes the photo (``_plausible``) scores
   0, else the number of inliers at distinct positions on both sides is the score of the pair. (Without
   these two checks repeated patterns gave 100+ "inliers" between unrelated photos through a homography
   collapsing the photo onto a few pixels.) A landmark's score is the best score over its shortlisted photos.
5. **Re-rank and gate.** The candidate c* with the most inliers is *accepted* when its score reaches
   ``min_inliers`` and beats every other candidate's by at least ``min_margin`` inliers. Its confidence
   becomes ``max(p(c*), q)`` with ``q = min(confidence_max, sigmoid((inliers - confidence_center) /
   confidence_width))``, an
   estimate of P(c* is right | inliers) (a logistic fit on cross-validation data, see
   ``bench/bench_verification.py``), and every other label's confidence is scaled by
   ``(1 - p'(c*)) / (1 - p(c*))``, so the full distribution still sums to 1 (labels outside the top-k
   scale too) and the top-k's confidences to at most 1. The
   labels are sorted again: c* becomes top-1 when ``q`` beats the old top-1. When nothing is accepted the
   prediction is left as it was: failing to match is weak evidence (photos of the same landmark from
   different viewpoints or seasons often share too few keypoints).

All constants live in ``VerificationParams``, stored in the features file (``core.recognition.features_file``)
with the model they were tuned for.

Thread safety: the functions keep no shared state; OpenCV objects are created per call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core.domain import NO_LANDMARK
from core.recognition.local_features import DESCRIPTOR_DIM, LocalFeatures, rootsift

__all__ = [
    "GEOMETRIES",
    "VerificationParams",
    "VerificationGallery",
    "Verification",
    "count_inliers",
    "needs_verification",
    "rerank",
    "verify_top_k",
]

#: Geometric models ``count_inliers`` can fit.
GEOMETRIES = ("homography", "affine", "fundamental")


@dataclass(frozen=True)
class VerificationParams:
    """The constants of geometric verification (see the module docstring for each step).

    Attributes:
        verify_below: top-1 confidence below which a photo is verified (step 1), in [0, 1].
        skip_no_landmark_above: P(no landmark) at or above which a photo is not verified (step 1).
        candidates: how many landmark keys of the top-k are verified (step 2), >= 1.
        shortlist: gallery photos per candidate, nearest by embedding (step 3), >= 1.
        ratio: Lowe's ratio test: a match is kept when its distance is below ``ratio`` × the second nearest.
        geometry: ``"homography"``, ``"affine"`` or ``"fundamental"`` (step 4).
        ransac_px: reprojection (or epipolar) threshold, pixels in the shrunken photos (``ExtractionParams``).
        min_tentative: fewer ratio-test matches than this score 0 without a geometric fit.
        min_inliers: inliers needed to accept a candidate (step 5).
        min_margin: inliers by which the accepted candidate must beat every other candidate.
        confidence_center, confidence_width: the logistic map from inliers to confidence (step 5), inliers.
        confidence_max: the most that map gives (the cross-validated precision of accepted candidates is an
            estimate with few samples: 39 of 39 right, 95 % lower bound 0.91; so the map stops short of 1).
        calibration: where the values come from (free text, shown in the model card).
    """

    verify_below: float = 0.9
    skip_no_landmark_above: float = 0.9
    candidates: int = 3
    shortlist: int = 4
    ratio: float = 0.8
    geometry: str = "homography"
    ransac_px: float = 6.0
    min_tentative: int = 8
    min_inliers: int = 15
    min_margin: int = 5
    confidence_center: float = 12.0
    confidence_width: float = 4.0
    confidence_max: float = 0.95
    calibration: str = (
        "bench/bench_verification.py: 5-fold grouped cross-validation on data/landmarks (56 landmarks, 2 600 photos) "
        "+ data/non_landmark (200), frozen ImageNet MobileNetV2 NCM+kNN classifier; accepted candidates at >= 15 "
        "inliers: 39 of 39 right"
    )

    def __post_init__(self) -> None:
        if self.geometry not in GEOMETRIES:
            raise ValueError(f"unknown geometry {self.geometry!r} (known: {', '.join(GEOMETRIES)})")
        if not (
            0.0 <= self.verify_below <= 1.0
            and 0.0 <= self.skip_no_landmark_above <= 1.0
            and self.candidates >= 1
            and self.shortlist >= 1
            and 0.0 < self.ratio <= 1.0
            and self.ransac_px > 0
            and self.min_tentative >= 4
            and self.min_inliers >= 0
            and self.min_margin >= 0
            and self.confidence_width > 0
            and 0.0 < self.confidence_max <= 1.0
        ):
            raise ValueError("verification constants out of range")

    def confidence(self, inliers: int) -> float:
        """``min(confidence_max, sigmoid((inliers - confidence_center) / confidence_width))`` in (0, 1]."""
        z = (float(inliers) - self.confidence_center) / self.confidence_width
        return min(self.confidence_max, 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z)))))


@dataclass(frozen=True)
class VerificationGallery:
    """The gallery photos' local features, packed (what a features file holds).

    Attributes:
        class_keys: the landmark keys ``labels`` index (the model's classes, in head order).
        labels: ``(P,)`` int64, the landmark of each gallery photo.
        embeddings: ``(P, D)`` float32 CNN embeddings of the gallery photos (unit L2 norm), for the
            shortlist; ``None`` shortlists in stored order.
        offsets: ``(P + 1,)`` int64; photo i's keypoints are rows ``offsets[i]:offsets[i + 1]``.
        keypoints: ``(K, 2)`` float32 ``(x, y)`` pixels in each photo's shrunken image.
        descriptors: ``(K, 128)`` uint8 SIFT descriptors.
    Raises:
        ValueError: shapes or indices that do not fit together.
    """

    class_keys: tuple[str, ...]
    labels: np.ndarray
    embeddings: np.ndarray | None
    offsets: np.ndarray
    keypoints: np.ndarray
    descriptors: np.ndarray
    _by_class: dict[int, np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        p = int(self.labels.shape[0]) if self.labels.ndim == 1 else -1
        k = int(self.keypoints.shape[0])
        if p < 0 or self.offsets.shape != (p + 1,):
            raise ValueError("gallery offsets do not match the gallery labels")
        if self.keypoints.ndim != 2 or self.keypoints.shape[1] != 2:
            raise ValueError(f"gallery keypoints have shape {self.keypoints.shape}, expected (K, 2)")
        if self.descriptors.shape != (k, DESCRIPTOR_DIM) or self.descriptors.dtype != np.uint8:
            raise ValueError(f"gallery descriptors must be ({k}, {DESCRIPTOR_DIM}) uint8")
        if p and (int(self.offsets[0]) != 0 or int(self.offsets[-1]) != k or bool(np.any(np.diff(self.offsets) < 0))):
            raise ValueError("gallery offsets are not an increasing partition of the keypoints")
        if p and (int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.class_keys)):
            raise ValueError("gallery labels point outside the class list")
        if self.embeddings is not None and (self.embeddings.ndim != 2 or self.embeddings.shape[0] != p):
            raise ValueError("gallery embeddings do not match the gallery labels")
        if not (np.isfinite(self.keypoints).all() and (self.embeddings is None or np.isfinite(self.embeddings).all())):
            raise ValueError("the gallery holds NaN or infinite values")
        by_class = {int(c): np.flatnonzero(self.labels == c) for c in np.unique(self.labels)}
        object.__setattr__(self, "_by_class", by_class)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def embedding_dim(self) -> int | None:
        """D, or None without embeddings."""
        return None if self.embeddings is None else int(self.embeddings.shape[1])

    def photo(self, i: int) -> LocalFeatures:
        """Gallery photo ``i``'s features (views into the packed arrays; size unknown, given as (0, 0))."""
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return LocalFeatures(self.keypoints[a:b], self.descriptors[a:b], (0, 0))

    def photos_of(self, class_index: int) -> np.ndarray:
        """Indices ``(n,)`` int64 of the gallery photos of one class (empty when it has none)."""
        return self._by_class.get(int(class_index), np.zeros(0, np.int64))

    @classmethod
    def pack(
        cls,
        class_keys: Sequence[str],
        labels: Sequence[int],
        features: Sequence[LocalFeatures],
        embeddings: np.ndarray | None = None,
    ) -> VerificationGallery:
        """Pack per-photo features into one gallery.

        Args:
            class_keys: landmark keys. labels: ``P`` class indices. features: ``P`` ``LocalFeatures``.
            embeddings: ``(P, D)`` CNN embeddings (normalised here), or None.
        Raises:
            ValueError: lengths differ (and the checks of the class).
        """
        if len(labels) != len(features) or (embeddings is not None and len(embeddings) != len(features)):
            raise ValueError(f"{len(labels)} labels, {len(features)} feature sets and embeddings do not match")
        counts = [len(f) for f in features]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        kp = np.concatenate([f.keypoints for f in features]) if features else np.zeros((0, 2), np.float32)
        desc = (
            np.concatenate([f.descriptors for f in features]) if features else np.zeros((0, DESCRIPTOR_DIM), np.uint8)
        )
        emb = None
        if embeddings is not None:
            emb = np.asarray(embeddings, dtype=np.float32)
            emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return cls(
            class_keys=tuple(class_keys),
            labels=np.asarray(labels, dtype=np.int64).reshape(-1),
            embeddings=emb,
            offsets=offsets,
            keypoints=kp.astype(np.float32).reshape(-1, 2),
            descriptors=desc.astype(np.uint8).reshape(-1, DESCRIPTOR_DIM),
        )


@dataclass(frozen=True)
class Verification:
    """What verification did to one prediction.

    Attributes:
        top_k: the re-ranked ``(key, confidence)`` pairs, confidence descending (same keys as before).
        inliers: ``{candidate key: best inlier count over its shortlisted gallery photos}``.
        accepted: the candidate accepted (step 5), or None.
        pairs: photo pairs matched.
    """

    top_k: tuple[tuple[str, float], ...]
    inliers: dict[str, int]
    accepted: str | None
    pairs: int


def count_inliers(
    query: LocalFeatures,
    gallery: LocalFeatures,
    params: VerificationParams,
    *,
    query_rootsift: np.ndarray | None = None,
) -> int:
    """Inliers of the geometric model fitted to the ratio-test matches between two photos (step 4).

    Args:
        query, gallery: the two photos' local features.
        params: ``ratio``, ``geometry``, ``ransac_px``, ``min_tentative``.
        query_rootsift: ``query.rootsift()`` when the caller already has it (one query, many pairs).
    Returns:
        the number of inlier matches (0 when there are fewer than ``min_tentative`` tentative matches or
        the fit fails).
    """
    import cv2

    n = params.min_tentative
    if len(query) < n or len(gallery) < n:
        return 0
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    q_rs = query.rootsift() if query_rootsift is None else query_rootsift
    knn = matcher.knnMatch(q_rs, gallery.rootsift(), k=2)
    good = sorted(
        (m[0] for m in knn if len(m) == 2 and m[0].distance < params.ratio * m[1].distance), key=lambda m: m.distance
    )
    # one-to-one: a gallery keypoint keeps only its closest query keypoint (repeated patterns, e.g. a railing,
    # otherwise send many query keypoints to one gallery keypoint and a collapsing homography "explains" them)
    taken: set[int] = set()
    unique = [m for m in good if not (m.trainIdx in taken or taken.add(m.trainIdx))]  # type: ignore[func-returns-value]
    if len(unique) < n:
        return 0
    src = np.ascontiguousarray(query.keypoints[[m.queryIdx for m in unique]], dtype=np.float32)
    dst = np.ascontiguousarray(gallery.keypoints[[m.trainIdx for m in unique]], dtype=np.float32)
    try:
        if params.geometry == "homography":
            model, mask = cv2.findHomography(
                src, dst, cv2.USAC_MAGSAC, params.ransac_px, maxIters=2000, confidence=0.999
            )
        elif params.geometry == "affine":
            model, mask = cv2.estimateAffine2D(
                src, dst, method=cv2.RANSAC, ransacReprojThreshold=params.ransac_px, maxIters=2000, confidence=0.999
            )
        else:
            model, mask = cv2.findFundamentalMat(src, dst, cv2.USAC_MAGSAC, params.ransac_px, 0.999, 2000)
    except cv2.error:  # degenerate point sets (all collinear …): no model, no inliers
        return 0
    if model is None or mask is None or not _plausible(model, params.geometry):
        return 0
    inl = mask.ravel().astype(bool)
    # inliers at distinct positions on both sides (SIFT puts several keypoints, one per orientation, on one spot)
    return min(_distinct(src[inl]), _distinct(dst[inl]))


#: Largest change of area (either way) a plausible homography or affine map makes: |det| of its linear part.
MAX_AREA_CHANGE = 16.0


def _plausible(model: np.ndarray, geometry: str) -> bool:
    """A map between two photos of one scene keeps orientation and does not squash the photo to a line or a
    point: ``1 / MAX_AREA_CHANGE <= det(A) <= MAX_AREA_CHANGE`` for its linear part A (homographies normalised
    so that ``H[2, 2] = 1``). Fundamental matrices are not checked."""
    if geometry == "fundamental":
        return True
    m = np.asarray(model, dtype=np.float64)
    if geometry == "homography":
        if abs(m[2, 2]) < 1e-12:
            return False
        m = m / m[2, 2]
    det = float(m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0])
    return 1.0 / MAX_AREA_CHANGE <= det <= MAX_AREA_CHANGE


def _distinct(points: np.ndarray) -> int:
    """Number of distinct positions among ``(n, 2)`` pixel coordinates, at 1-pixel resolution."""
    return 0 if len(points) == 0 else len(np.unique(np.rint(points).astype(np.int32), axis=0))


def _no_landmark_probability(top_k: Sequence[tuple[str, float]]) -> float:
    return next((float(c) for k, c in top_k if k == NO_LANDMARK), 0.0)


def needs_verification(top_k: Sequence[tuple[str, float]], params: VerificationParams) -> bool:
    """Whether a prediction is uncertain enough to verify (step 1).

    Args:
        top_k: ``(key, confidence)`` pairs, confidence descending (``Prediction.top_k``).
    """
    if not top_k:
        return False
    return float(top_k[0][1]) < params.verify_below and _no_landmark_probability(top_k) < params.skip_no_landmark_above


def _candidates(top_k: Sequence[tuple[str, float]], gallery: VerificationGallery, n: int) -> list[tuple[str, int]]:
    index = {k: i for i, k in enumerate(gallery.class_keys)}
    out: list[tuple[str, int]] = []
    for key, _ in top_k:
        ci = index.get(key)
        if ci is not None and len(gallery.photos_of(ci)):
            out.append((key, ci))
            if len(out) == n:
                break
    return out


def _shortlist(gallery: VerificationGallery, class_index: int, embedding: np.ndarray | None, n: int) -> np.ndarray:
    idx = gallery.photos_of(class_index)
    if embedding is None or gallery.embeddings is None or len(idx) <= n:
        return idx[:n]
    sims = gallery.embeddings[idx] @ np.asarray(embedding, dtype=np.float32)
    return idx[np.argsort(-sims, kind="stable")[:n]]


def rerank(
    top_k: Sequence[tuple[str, float]], inliers: dict[str, int], params: VerificationParams
) -> tuple[tuple[tuple[str, float], ...], str | None]:
    """Step 5: accept the best candidate when it is clear enough and raise its confidence.

    Args:
        top_k: ``(key, confidence)`` pairs, confidence descending.
        inliers: ``{candidate key: inliers}`` (keys among ``top_k``).
    Returns:
        ``(new top_k sorted by confidence, accepted key or None)``; ``top_k`` unchanged when nothing is accepted.
    """
    top = tuple((str(k), float(c)) for k, c in top_k)
    if not inliers:
        return top, None
    ranked = sorted(inliers.items(), key=lambda kv: -kv[1])
    best, n_best = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0
    if n_best < params.min_inliers or n_best - runner_up < params.min_margin:
        return top, None
    old = next(c for k, c in top if k == best)
    new = max(old, params.confidence(n_best))
    scale = (1.0 - new) / (1.0 - old) if old < 1.0 else 0.0
    out = [(k, new if k == best else c * scale) for k, c in top]
    out.sort(key=lambda kc: (-kc[1], kc[0] != best))
    return tuple(out), best


def verify_top_k(
    top_k: Sequence[tuple[str, float]],
    embedding: np.ndarray | None,
    query: LocalFeatures,
    gallery: VerificationGallery,
    params: VerificationParams,
) -> Verification:
    """Verify one prediction against the gallery (steps 2-5; the caller decides step 1).

    Args:
        top_k: the prediction's ``(key, confidence)`` pairs, confidence descending.
        embedding: ``(D,)`` float32 unit CNN embedding of the photo (for the shortlist), or None.
        query: the photo's local features (``core.recognition.local_features.extract_local_features`` with the
            gallery's ``ExtractionParams``).
        gallery: the gallery. params: the constants.
    Returns:
        the ``Verification`` (``top_k`` re-ranked when a candidate was accepted).
    """
    if len(query) < params.min_tentative:
        return Verification(tuple((str(k), float(c)) for k, c in top_k), {}, None, 0)
    q_rs = rootsift(query.descriptors)
    inliers: dict[str, int] = {}
    pairs = 0
    for key, ci in _candidates(top_k, gallery, params.candidates):
        best = 0
        for gi in _shortlist(gallery, ci, embedding, params.shortlist):
            best = max(best, count_inliers(query, gallery.photo(int(gi)), params, query_rootsift=q_rs))
            pairs += 1
        inliers[key] = best
    new_top, accepted = rerank(top_k, inliers, params)
    return Verification(new_top, inliers, accepted, pairs)
