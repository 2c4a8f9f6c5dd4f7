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
5. User-labelled gallery entries (corrections made in the app) form a second expert over an
   extended label space (model classes + new landmark keys + "no landmark"). A gate
   ``g = sigmoid((s_user_max - s0) / width)`` says how closely the photo matches any of them, and
   ``p = (1 - g)·p_cal + g·softmax(s_user / τ)``. So labelling 3 photos of a new landmark makes
   close look-alikes take that label at once, while unrelated photos are unaffected.

The "no landmark" decision: the top-1 label is a landmark only when its confidence reaches the
bundle's threshold and the top-1 label is not ``NO_LANDMARK``.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["NO_LANDMARK", "class_max_similarity", "fused_log_probs", "calibrated_probs", "apply_user_gallery"]

#: Label key used in user galleries (and the database) for "this photo shows no landmark".
NO_LANDMARK = "__no_landmark__"


def class_max_similarity(embeddings: torch.Tensor, gallery: torch.Tensor, labels: torch.Tensor,
                         num_classes: int) -> torch.Tensor:
    """Per-class maximum cosine similarity.

    Args:
        embeddings: ``(B, D)`` float32, unit norm.
        gallery: ``(N, D)`` float32, unit norm.
        labels: ``(N,)`` int64 in ``[0, num_classes)``.
    Returns:
        ``(B, num_classes)`` float32; ``-inf`` for classes with no gallery entry.
    """
    sims = embeddings.float() @ gallery.float().T  # (B, N)
    out = torch.full((embeddings.shape[0], num_classes), float("-inf"), dtype=torch.float32,
                     device=embeddings.device)
    idx = labels.to(embeddings.device).long().unsqueeze(0).expand_as(sims)
    return out.scatter_reduce(1, idx, sims, reduce="amax", include_self=True)


def fused_log_probs(logits: torch.Tensor, embeddings: torch.Tensor | None, gallery: torch.Tensor | None,
                    gallery_labels: torch.Tensor | None, knn_weight: float, knn_temperature: float) -> torch.Tensor:
    """Uncalibrated fused log-probabilities ``log p_mix`` (steps 1-3 above).

    Args:
        logits: ``(B, C)`` head logits.
        embeddings: ``(B, D)`` unit embeddings (ignored when ``gallery`` is None).
        gallery, gallery_labels: ``(N, D)`` / ``(N,)`` or None.
        knn_weight: w in [0, 1]. knn_temperature: τ > 0.
    Returns:
        ``(B, C)`` float32 log-probabilities.
    """
    log_head = F.log_softmax(logits.float(), dim=1)
    if gallery is None or gallery.shape[0] == 0 or knn_weight <= 0.0:
        return log_head
    sims = class_max_similarity(embeddings, gallery, gallery_labels, logits.shape[1])
    log_knn = F.log_softmax(sims / knn_temperature, dim=1)  # -inf where the class has no entry
    w = float(knn_weight)
    if w >= 1.0:
        return log_knn
    stacked = torch.stack([log_head + torch.log(torch.tensor(1.0 - w)), log_knn + torch.log(torch.tensor(w))])
    return torch.logsumexp(stacked, dim=0)


def calibrated_probs(log_p: torch.Tensor, temperature: float) -> torch.Tensor:
    """Temperature scaling of log-probabilities: ``softmax(log_p / T)``, ``(B, C)`` float32."""
    return F.softmax(log_p / float(temperature), dim=1)


def apply_user_gallery(probs: torch.Tensor, embeddings: torch.Tensor, user_gallery: torch.Tensor,
                       user_labels: torch.Tensor, num_labels: int, knn_temperature: float,
                       match_cosine: float, match_width: float) -> torch.Tensor:
    """Blend calibrated probabilities with the user-labelled gallery (step 5).

    Args:
        probs: ``(B, C)`` calibrated probabilities over the model's classes.
        embeddings: ``(B, D)`` unit embeddings.
        user_gallery: ``(M, D)`` unit embeddings of user-labelled photos.
        user_labels: ``(M,)`` int64 indices into the extended label space of size ``num_labels``
            (``num_labels >= C``; the first C labels are the model's classes).
        match_cosine, match_width: gate centre s0 and width (cosine units).
    Returns:
        ``(B, num_labels)`` float32 probabilities (rows sum to 1).
    """
    b, c = probs.shape
    out = torch.zeros((b, num_labels), dtype=torch.float32, device=probs.device)
    out[:, :c] = probs.float()
    if user_gallery is None or user_gallery.shape[0] == 0:
        return out
    sims = class_max_similarity(embeddings, user_gallery.to(embeddings.device), user_labels, num_labels)
    p_user = F.softmax(sims / knn_temperature, dim=1)
    gate = torch.sigmoid((sims.max(dim=1, keepdim=True).values - match_cosine) / match_width)
    return (1.0 - gate) * out + gate * p_user
