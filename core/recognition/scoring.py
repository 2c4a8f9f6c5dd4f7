"""Scoring: from head logits and embeddings to calibrated landmark confidences.

All functions work on already computed tensors, so they serve both the recognizer (fresh CNN
outputs) and re-scoring from embeddings stored in the database (no CNN run).

Pipeline for a batch of B photos, C model classes, D-dimensional unit embeddings:

1. ``p_head = softmax(logits)``                                  ``(B, C)``
2. ``s_c = max cosine(embedding, gallery entries of class c)``   ``(B, C)`` (kNN over the gallery)
   ``p_knn = softmax(s / τ)``; classes without gallery entries get 0.
3. ``p_mix = (1 - w)·p_head + w·p_knn``  (``p_head`` alone when there is no gallery)
4. Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks") applied to
   the log of the fused probability: ``p_cal = softmax(log(p_mix) / T)``.
5. Open-set "landmark gate" (when the bundle has one): photos that show no landmark (pets, food,
   people) are far from every gallery photo, so ``p_landmark = sigmoid((s_max - c) / width)``, with
   ``s_max`` the highest cosine similarity to any gallery entry, estimates P(landmark | photo);
   c and width come from a logistic regression of validation landmark photos against non-landmark
   photos (``training.calibration``). The label space gains ``NO_LANDMARK`` with probability
   ``1 - p_landmark`` and each landmark's probability becomes ``p_landmark · p_cal``:
   P(c) = P(landmark)·P(c | landmark). Softmax confidence alone cannot do this: a head that never
   saw non-landmarks is often confident on them (measured on the shipped model: AUC 0.998 for
   ``s_max`` against 0.9 for the top-1 softmax confidence, landmark vs non-landmark photos).
6. User-labelled gallery entries (corrections made in the app) form a second expert over an
   extended label space (model classes + new landmark keys + "no landmark"). A gate
   ``g = sigmoid((s_user_max - s0) / width)`` says how closely the photo matches any of them, and
   ``p = (1 - g)·p_cal + g·softmax(s_user / τ)``. The app no longer blends it into stored labels (a
   correction changes exactly the photos the person selected); ``Recognizer.set_user_gallery`` keeps it
   for callers that want the blended answer.

Teaching by proposals (the app's path, ``core.tagging.proposals``): a photo the person labelled L (or
confirmed as L) *claims* a model-labelled photo x only when

    ``s_L(x) >= e(x) + margin``   (``teaching_claims``)

with ``s_L(x)`` the highest cosine of x to the person's photos of L and ``e(x)`` x's best model evidence:
its highest cosine to a gallery photo of any class other than L (``best_evidence``). A claim is only a
proposal; nothing changes until the person accepts it. ``margin`` is ``ScoringParams.user_match_margin``
(``DEFAULT_USER_MATCH_MARGIN`` when the bundle has none), calibrated by leave-one-class-out teaching
(``training.calibration.teaching_margin_rates``, ``bench/bench_teaching.py``).

The "no landmark" decision: the top-1 label is a landmark only when its confidence reaches the
bundle's threshold and the top-1 label is not ``NO_LANDMARK``.

Classes without a head row (bundles whose long-tail classes had fewer than ``--min-images`` photos: the head covers
the first H classes) get ``p_head = 0`` (``fused_log_probs(..., num_classes=C)``): the gallery alone names them.

Large galleries (``core.recognition.gallery``): steps 1-3 run over each photo's **candidate classes**, the classes
of its ``search_k`` nearest gallery prototypes (``candidate_log_probs``): the head's softmax and the kNN softmax are
taken over the candidates (classes outside them get probability 0), and the result is spread back over the C
classes (``scatter_candidates``). The head is then a re-ranker of what the gallery retrieved: a photo of
81 000 landmarks costs a FAISS search and ``search_k`` dot products instead of two 100-MFLOP matrix products.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = [
    "NO_LANDMARK",
    "class_max_similarity",
    "fused_log_probs",
    "candidate_log_probs",
    "scatter_candidates",
    "calibrated_probs",
    "apply_user_gallery",
    "max_similarity",
    "landmark_probability",
    "with_no_landmark",
    "best_evidence",
    "teaching_claims",
    "DEFAULT_USER_MATCH_MARGIN",
]


# "this photo shows no landmark": defined with the value types (no torch there), re-exported here
from core.domain import NO_LANDMARK

#: Margin of ``teaching_claims`` for bundles without ``ScoringParams.user_match_margin`` (cosine units),
#: calibrated on the shipped model by ``bench/bench_teaching.py`` (leave-one-class-out over the 56 classes
#: of ``../shared/data/landmarks``; numbers in ``resources/models/MODEL_CARD.md``).
DEFAULT_USER_MATCH_MARGIN = -0.05


def class_max_similarity(
    embeddings: torch.Tensor, gallery: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """Per-class maximum cosine similarity.

    Args:
        embeddings: ``(B, D)`` float32, unit norm.
        gallery: ``(N, D)`` float32, unit norm.
        labels: ``(N,)`` int64 in ``[0, num_classes)``.
    Returns:
        ``(B, num_classes)`` float32; ``-inf`` for classes with no gallery entry.
    """
    sims = embeddings.float() @ gallery.float().T  # (B, N)
    out = torch.full((embeddings.shape[0], num_classes), float("-inf"), dtype=torch.float32, device=embeddings.device)
    idx = labels.to(embeddings.device).long().unsqueeze(0).expand_as(sims)
    return out.scatter_reduce(1, idx, sims, reduce="amax", include_self=True)


def fused_log_probs(
    logits: torch.Tensor,
    embeddings: torch.Tensor | None,
    gallery: torch.Tensor | None,
    gallery_labels: torch.Tensor | None,
    knn_weight: float,
    knn_temperature: float,
    num_classes: int | None = None,
) -> torch.Tensor:
    """Uncalibrated fused log-probabilities ``log p_mix`` (steps 1-3 above).

    Args:
        logits: ``(B, H)`` head logits (H = C, or the head classes of a bundle with gallery-only classes).
        embeddings: ``(B, D)`` unit embeddings (ignored when ``gallery`` is None).
        gallery, gallery_labels: ``(N, D)`` / ``(N,)`` or None.
        knn_weight: w in [0, 1]. knn_temperature: τ > 0.
        num_classes: C ≥ H (default H); classes H..C-1 have no head row: ``p_head = 0`` there.
    Returns:
        ``(B, C)`` float32 log-probabilities.
    """
    c = logits.shape[1] if num_classes is None else int(num_classes)
    if c > logits.shape[1]:
        padded = torch.full((logits.shape[0], c), float("-inf"), dtype=torch.float32, device=logits.device)
        padded[:, : logits.shape[1]] = logits.float()
        logits = padded
    log_head = F.log_softmax(logits.float(), dim=1)
    if embeddings is None or gallery is None or gallery_labels is None or gallery.shape[0] == 0 or knn_weight <= 0.0:
        return log_head
    sims = class_max_similarity(embeddings, gallery, gallery_labels, logits.shape[1])
    log_knn = F.log_softmax(sims / knn_temperature, dim=1)  # -inf where the class has no entry
    w = float(knn_weight)
    if w >= 1.0:
        return log_knn
    stacked = torch.stack([log_head + torch.log(torch.tensor(1.0 - w)), log_knn + torch.log(torch.tensor(w))])
    return torch.logsumexp(stacked, dim=0)


def candidate_log_probs(
    head_logits: torch.Tensor, class_sims: torch.Tensor, knn_weight: float, knn_temperature: float
) -> torch.Tensor:
    """``log p_mix`` over each photo's candidate classes (steps 1-3 over a large gallery's candidates).

    Args:
        head_logits: ``(B, K)`` head logits of the candidate classes; ``-inf`` for a slot without a head row or a
            masked slot (``core.recognition.gallery.CompressedGallery.class_candidates``).
        class_sims: ``(B, K)`` the candidates' maximum cosine similarity to their gallery prototypes; ``-inf`` for
            masked slots.
        knn_weight: w in [0, 1]. knn_temperature: τ > 0.
    Returns:
        ``(B, K)`` float32 log-probabilities over the slots (``-inf`` for masked ones); a photo none of whose
        candidates has a head row gets the kNN expert alone.
    """
    logits = head_logits.float()
    has_head = torch.isfinite(logits).any(dim=1, keepdim=True)
    log_head = torch.where(has_head, F.log_softmax(torch.where(has_head, logits, 0.0), dim=1), float("-inf"))
    log_head = torch.where(torch.isfinite(logits), log_head, float("-inf"))
    log_knn = F.log_softmax(class_sims.float() / knn_temperature, dim=1)
    w = float(knn_weight)
    if w <= 0.0:
        out = torch.where(has_head, log_head, log_knn)
    elif w >= 1.0:
        out = log_knn
    else:
        stacked = torch.stack([log_head + torch.log(torch.tensor(1.0 - w)), log_knn + torch.log(torch.tensor(w))])
        out = torch.logsumexp(stacked, dim=0)
    return torch.nan_to_num(out, nan=float("-inf"))


def scatter_candidates(probs: torch.Tensor, classes: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Spread probabilities over candidate slots back over the C classes.

    Args:
        probs: ``(B, K)`` probabilities of the slots (0 for masked ones). classes: ``(B, K)`` int64 class of each
            slot, -1 for masked ones. num_classes: C.
    Returns:
        ``(B, C)`` float32; classes that were not candidates get 0.
    """
    out = torch.zeros((probs.shape[0], int(num_classes)), dtype=torch.float32, device=probs.device)
    valid = classes >= 0
    return out.scatter_add_(1, classes.clamp(min=0), torch.where(valid, probs.float(), 0.0))


def calibrated_probs(log_p: torch.Tensor, temperature: float) -> torch.Tensor:
    """Temperature scaling of log-probabilities: ``softmax(log_p / T)``, ``(B, C)`` float32."""
    return F.softmax(log_p / float(temperature), dim=1)


def max_similarity(embeddings: torch.Tensor, gallery: torch.Tensor) -> torch.Tensor:
    """Highest cosine similarity of each embedding to any gallery entry.

    Args:
        embeddings: ``(B, D)`` float32, unit norm. gallery: ``(N, D)`` float32, unit norm, N ≥ 1.
    Returns:
        ``(B,)`` float32 in [-1, 1].
    """
    return (embeddings.float() @ gallery.float().to(embeddings.device).T).max(dim=1).values


def landmark_probability(max_sim: torch.Tensor, center: float, width: float) -> torch.Tensor:
    """The landmark gate ``sigmoid((s_max - center) / width)`` (step 5), ``(B,)`` float32 in (0, 1).

    Args:
        max_sim: ``(B,)`` highest cosine similarity to the gallery (``max_similarity``).
        center: similarity at which P(landmark) = 0.5; width: > 0, cosine units.
    """
    return torch.sigmoid((max_sim.float() - float(center)) / float(width))


def with_no_landmark(probs: torch.Tensor, p_landmark: torch.Tensor, num_labels: int | None = None) -> torch.Tensor:
    """Spread ``P(landmark)`` over the classes and put the rest on ``NO_LANDMARK`` (the last column).

    Args:
        probs: ``(B, C)`` calibrated class probabilities given a landmark (rows sum to 1).
        p_landmark: ``(B,)`` P(landmark) in [0, 1].
        num_labels: width L ≥ C + 1 of the output label space (default C + 1); columns between C and
            L - 1 (user-taught landmarks) are 0.
    Returns:
        ``(B, L)`` float32, rows sum to 1: ``[p_landmark·probs, 0…, 1 - p_landmark]``.
    """
    b, c = probs.shape
    width = c + 1 if num_labels is None else int(num_labels)
    if width < c + 1:
        raise ValueError(f"num_labels {width} leaves no room for NO_LANDMARK after {c} classes")
    out = torch.zeros((b, width), dtype=torch.float32, device=probs.device)
    pl = p_landmark.float().to(probs.device).unsqueeze(1)
    out[:, :c] = probs.float() * pl
    out[:, -1] = 1.0 - pl.squeeze(1)
    return out


def apply_user_gallery(
    probs: torch.Tensor,
    embeddings: torch.Tensor,
    user_gallery: torch.Tensor,
    user_labels: torch.Tensor,
    num_labels: int,
    knn_temperature: float,
    match_cosine: float,
    match_width: float,
) -> torch.Tensor:
    """Blend calibrated probabilities with the user-labelled gallery (step 5).

    Args:
        probs: ``(B, C)`` calibrated probabilities over the model's classes (padded here with zeros to
            ``num_labels`` columns), or already ``(B, num_labels)`` (e.g. from ``with_no_landmark``).
        embeddings: ``(B, D)`` unit embeddings.
        user_gallery: ``(M, D)`` unit embeddings of user-labelled photos.
        user_labels: ``(M,)`` int64 indices into the extended label space of size ``num_labels``
            (``num_labels >= C``; the first C labels are the model's classes).
        match_cosine, match_width: gate centre s0 and width (cosine units).
    Returns:
        ``(B, num_labels)`` float32 probabilities (rows sum to 1).
    """
    b, c = probs.shape
    if c == num_labels:
        out = probs.float()
    else:
        out = torch.zeros((b, num_labels), dtype=torch.float32, device=probs.device)
        out[:, :c] = probs.float()
    if user_gallery is None or user_gallery.shape[0] == 0:
        return out
    sims = class_max_similarity(embeddings, user_gallery.to(embeddings.device), user_labels, num_labels)
    p_user = F.softmax(sims / knn_temperature, dim=1)
    gate = torch.sigmoid((sims.max(dim=1, keepdim=True).values - match_cosine) / match_width)
    return (1.0 - gate) * out + gate * p_user


def best_evidence(
    embeddings: torch.Tensor, gallery: torch.Tensor | None, gallery_labels: torch.Tensor | None, exclude: int | None
) -> torch.Tensor:
    """Best model evidence ``e(x)``: the highest cosine of each embedding to a gallery entry whose class is not
    ``exclude``.

    Args:
        embeddings: ``(B, D)`` float32, unit norm. gallery: ``(N, D)`` unit, or ``None``.
        gallery_labels: ``(N,)`` int64 class indices, or ``None``. exclude: class index left out (the taught
            landmark when the model knows it), or ``None``.
    Returns:
        ``(B,)`` float32; ``-1`` (the lowest cosine) where no gallery entry is left.
    """
    out = torch.full((embeddings.shape[0],), -1.0, dtype=torch.float32, device=embeddings.device)
    if gallery is None or gallery_labels is None or gallery.shape[0] == 0:
        return out
    keep = gallery_labels != exclude if exclude is not None else torch.ones_like(gallery_labels, dtype=torch.bool)
    if not bool(keep.any()):
        return out
    return max_similarity(embeddings, gallery[keep])


def teaching_claims(taught_sim: torch.Tensor, evidence: torch.Tensor, margin: float) -> torch.Tensor:
    """The teaching rule: a taught landmark claims a photo when ``s_L(x) >= e(x) + margin``.

    Args:
        taught_sim: ``(B,)`` highest cosine of each photo to the person's photos of the landmark (``s_L``).
        evidence: ``(B,)`` best model evidence for any other class (``best_evidence``, ``e``).
        margin: cosine units (``ScoringParams.user_match_margin``).
    Returns:
        ``(B,)`` bool.
    """
    return taught_sim.float() >= evidence.float().to(taught_sim.device) + float(margin)
