"""Post-training calibration on the validation split, with the app's exact scoring.

* kNN fusion constants (w, τ of ``core.recognition.scoring.fused_log_probs``) picked from a small grid by the
  validation negative log-likelihood after temperature scaling (a proper scoring rule).
* Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks", §4.2): one scalar
  T > 0 minimising the NLL of ``softmax(log p_mix / T)`` on the validation split, fitted with LBFGS on
  log T (so T stays positive).
* The "no landmark" threshold: a photo is labelled when its top-1 label is a landmark (not
  ``NO_LANDMARK``) and its confidence reaches the threshold. Among thresholds for which at most
  ``max_non_landmark_rate`` of the non-landmark photos keep a label, the one maximising GAP over validation + non-landmark photos
  (ties → the smallest); without non-landmark photos, GAP over validation alone.
* The open-set landmark gate of ``core.recognition.scoring`` (step 5): ``P(landmark) = sigmoid((s_max − c)/width)``
  with ``s_max`` the highest cosine similarity to the gallery. (c, width) come from a one-feature
  logistic regression of validation landmark photos (1) against non-landmark photos (0), with
  class-balanced weights (prior 0.5, so the gate does not depend on how many photos of each kind the
  calibration set happens to hold), fitted by LBFGS on the weighted binary cross-entropy against
  Platt's smoothed targets (N₊+1)/(N₊+2) and 1/(N₋+2) (Platt 1999, "Probabilistic outputs for support
  vector machines"), which keep the fit finite when the two sets are (nearly) separable.
* ``user_match_cosine`` (the centre s0 of the user-gallery gate, ``core.recognition.scoring`` step 6) by simulated
  teaching on the validation split (``teaching_match_cosine``): for every class, k = 3 of its training
  photos play the photos a user labels; s0 is the cosine that at most 5 % of *other* landmarks'
  validation photos reach to those 3 photos (about their 95th percentile), so teaching a landmark renames
  few photos of other landmarks. (``median_same_class_cosine`` — how close a photo is to the nearest
  of all ~37 training photos of its landmark — is also reported; it overestimates how close a photo
  is to just 3 taught photos.)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from core.recognition.scoring import calibrated_probs, class_max_similarity, fused_log_probs
from training.metrics import global_average_precision

__all__ = [
    "fit_temperature",
    "nll",
    "choose_threshold",
    "ThresholdChoice",
    "median_same_class_cosine",
    "tune_knn",
    "KNN_GRID",
    "single_thread",
    "fit_landmark_gate",
    "teaching_match_cosine",
    "grouped_folds",
    "TeachingRates",
    "teaching_rates_heldout",
    "teaching_margin_rates",
    "choose_teaching_margin",
]

#: Grid of (knn_weight, knn_temperature) tried by ``tune_knn``.
KNN_GRID: tuple[tuple[float, float], ...] = tuple((w, t) for w in (0.0, 0.25, 0.5, 0.75) for t in (0.02, 0.05, 0.1))

_NEG = -1e4  # stands in for log(0) so that LBFGS sees finite values


@contextlib.contextmanager
def single_thread():
    """Run tiny tensor work on one intra-op thread: on a busy 2-core machine, OpenMP threads spinning
    on ~1000-element ops made a 23-evaluation LBFGS fit take 10 s instead of 0.09 s (measured)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def nll(log_p: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood (nats) of ``softmax(log_p / T)`` for ``targets`` ``(N,)`` int64."""
    lp = torch.nan_to_num(log_p.float(), neginf=_NEG)
    return float(F.cross_entropy(lp / temperature, targets.long()))


def fit_temperature(log_p: torch.Tensor, targets: torch.Tensor, max_iter: int = 100) -> float:
    """Temperature T minimising the validation NLL of ``softmax(log_p / T)``.

    Args:
        log_p: ``(N, C)`` float32 log-probabilities (e.g. ``fused_log_probs``); ``-inf`` allowed.
        targets: ``(N,)`` int64 class indices.
    Returns:
        T, clamped to [0.05, 20] (LBFGS on log T; when it diverges, the best of 61 log-spaced values in that range).
    Raises:
        ValueError: no samples.
    """
    if log_p.shape[0] == 0:
        raise ValueError("temperature scaling needs at least one validation sample")
    lp = torch.nan_to_num(log_p.detach().float().cpu(), neginf=_NEG)
    y = targets.long().cpu()
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(lp / log_t.exp(), y)
        loss.backward()
        return loss

    with single_thread():
        try:
            opt.step(closure)
            t = float(log_t.detach().exp())
        except RuntimeError:  # LBFGS overflowed (a class the expert gives probability 0: log p = -1e4)
            t = float("nan")
        if not math.isfinite(t):  # fall back to the best of a log-spaced grid over the allowed range
            with torch.no_grad():
                grid = torch.logspace(math.log10(0.05), math.log10(20.0), 61)
                losses = torch.stack([F.cross_entropy(lp / g, y) for g in grid])
            t = float(grid[int(torch.nan_to_num(losses, nan=float("inf")).argmin())])
    return min(max(t, 0.05), 20.0)


@dataclass(frozen=True)
class ThresholdChoice:
    """Result of ``choose_threshold``: the threshold and what it gives on the data it was chosen on."""

    threshold: float
    gap: float
    non_landmark_rate: float | None
    landmark_labelled_rate: float


def choose_threshold(
    probs: torch.Tensor,
    targets: torch.Tensor,
    non_landmark_probs: torch.Tensor | None,
    max_non_landmark_rate: float = 0.05,
    no_landmark_index: int | None = None,
) -> ThresholdChoice:
    """Pick the "no landmark" threshold (see module docstring). A photo is labelled when its top-1
    calibrated confidence is ≥ the threshold.

    Args:
        probs: ``(N, C)`` calibrated probabilities of validation landmark photos.
        targets: ``(N,)`` int64 true classes.
        non_landmark_probs: ``(M, C)`` calibrated probabilities of photos without a landmark, or None.
        max_non_landmark_rate: largest allowed fraction of non-landmark photos that get a label.
        no_landmark_index: column of ``NO_LANDMARK`` (landmark gate), whose top-1 is never a label.
    Returns:
        the choice; the threshold is placed halfway between the chosen confidence and the next
        lower observed one, so float rounding in the app cannot flip a decision.
    """

    def top1(p):
        c, k = p.max(dim=1)
        c = c.double().numpy().copy()
        if no_landmark_index is not None:
            c[(k == no_landmark_index).numpy()] = -1.0  # "no landmark" answered: never labelled
        return c, k.tolist()

    conf, pred_l = top1(probs)
    truth = targets.tolist()
    if non_landmark_probs is not None and non_landmark_probs.shape[0]:
        nconf, npred_l = top1(non_landmark_probs)
    else:
        nconf, npred_l = np.zeros(0), []
    all_conf = np.concatenate([conf, nconf])
    all_pred = pred_l + npred_l
    all_truth = truth + [None] * len(npred_l)
    candidates = np.unique(np.concatenate([[0.0], all_conf[all_conf >= 0]]))
    best: tuple[float, float] | None = None  # (gap, -threshold)
    best_t = 0.0
    for t in candidates:
        if nconf.size and float(np.mean(nconf >= t)) > max_non_landmark_rate:
            continue
        labelled = [p if c >= t else None for p, c in zip(all_pred, all_conf)]
        gap = global_average_precision(labelled, all_conf, all_truth)
        score = (gap, -t)
        if best is None or score > best:
            best, best_t = score, float(t)
    if best is None:  # cannot happen: t above every confidence labels nothing
        best_t = 1.0
    lower = candidates[candidates < best_t]
    thr = float((best_t + lower.max()) / 2.0) if lower.size and best_t > 0 else best_t
    thr = min(max(thr, 0.0), 1.0)
    labelled = [p if c >= thr else None for p, c in zip(all_pred, all_conf)]
    return ThresholdChoice(
        threshold=thr,
        gap=global_average_precision(labelled, all_conf, all_truth),
        non_landmark_rate=float(np.mean(nconf >= thr)) if nconf.size else None,
        landmark_labelled_rate=float(np.mean(conf >= thr)) if conf.size else float("nan"),
    )


def fit_landmark_gate(
    landmark_sim: torch.Tensor, non_landmark_sim: torch.Tensor, max_iter: int = 200
) -> tuple[float, float]:
    """Fit the landmark gate ``sigmoid((s − c) / width)`` by class-balanced logistic regression.

    Args:
        landmark_sim: ``(N,)`` highest gallery cosine of photos showing a landmark.
        non_landmark_sim: ``(M,)`` the same for photos without a landmark.
    Returns:
        ``(c, width)`` in cosine units; width clamped to [1e-3, 1].
    Raises:
        ValueError: either set is empty.
    """
    if landmark_sim.numel() == 0 or non_landmark_sim.numel() == 0:
        raise ValueError("the landmark gate needs landmark and non-landmark photos")
    s = torch.cat([landmark_sim, non_landmark_sim]).double().cpu()
    n_pos, n_neg = landmark_sim.numel(), non_landmark_sim.numel()
    y = torch.cat(
        [torch.full((n_pos,), (n_pos + 1) / (n_pos + 2)), torch.full((n_neg,), 1 / (n_neg + 2))]
    ).double()  # Platt's targets
    w = torch.cat([torch.full((n_pos,), 0.5 / n_pos), torch.full((n_neg,), 0.5 / n_neg)]).double()
    c0 = float((landmark_sim.float().median() + non_landmark_sim.float().median()) / 2)
    c = torch.tensor([c0], dtype=torch.float64, requires_grad=True)
    log_w = torch.tensor([float(np.log(0.05))], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([c, log_w], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        z = (s - c) / log_w.exp()
        loss = (w * F.binary_cross_entropy_with_logits(z, y, reduction="none")).sum()
        loss.backward()
        return loss

    with single_thread():
        opt.step(closure)
    width = float(log_w.detach().exp())
    return float(c.detach()), min(max(width, 1e-3), 1.0)


def median_same_class_cosine(
    embeddings: torch.Tensor,
    targets: torch.Tensor,
    gallery: torch.Tensor,
    gallery_labels: torch.Tensor,
    num_classes: int,
) -> float:
    """Median over queries of the max cosine similarity to a gallery entry of the query's own class.

    Args: embeddings ``(N, D)`` unit, targets ``(N,)`` int64, gallery ``(G, D)`` unit, gallery_labels ``(G,)``.
    Returns: the median in [-1, 1]; queries whose class has no gallery entry are ignored (nan if none left).
    """
    sims = class_max_similarity(embeddings, gallery, gallery_labels, num_classes)
    own = sims.gather(1, targets.long().view(-1, 1)).squeeze(1)
    own = own[torch.isfinite(own)]
    return float(own.median()) if own.numel() else float("nan")


def tune_knn(
    logits: torch.Tensor,
    embeddings: torch.Tensor,
    targets: torch.Tensor,
    gallery: torch.Tensor | None,
    gallery_labels: torch.Tensor | None,
    grid: Sequence[tuple[float, float]] = KNN_GRID,
) -> tuple[float, float, float, list[dict]]:
    """Choose (knn_weight, knn_temperature) and the temperature T by validation NLL after temperature scaling.

    Args:
        logits: ``(N, C)`` validation head logits; embeddings ``(N, D)`` unit; targets ``(N,)``.
        gallery, gallery_labels: training embeddings ``(G, D)`` (as stored in the bundle: float16-rounded)
            and labels ``(G,)``; None → head only.
    Returns:
        ``(knn_weight, knn_temperature, T, table)`` where table lists every grid point's NLL and accuracy.
    Raises:
        ValueError: an empty ``grid``.
    """
    if gallery is None:
        grid = [(0.0, 0.05)]
    table = []
    best: tuple[float, float, float, float] | None = None  # (NLL, w, tau, T)
    for w, tau in grid:
        lp = fused_log_probs(logits, embeddings, gallery, gallery_labels, w, tau)
        t = fit_temperature(lp, targets)
        loss = nll(lp, targets, t)
        acc = float((calibrated_probs(lp, t).argmax(1) == targets).float().mean())
        table.append({"knn_weight": w, "knn_temperature": tau, "temperature": t, "nll": loss, "top1": acc})
        if best is None or loss < best[0]:
            best = (loss, w, tau, t)
    if best is None:
        raise ValueError("tune_knn: the grid is empty")
    _, w, tau, t = best
    return w, tau, t, table


def teaching_match_cosine(
    embeddings: torch.Tensor,
    targets: torch.Tensor,
    gallery: torch.Tensor,
    gallery_labels: torch.Tensor,
    num_classes: int,
    k: int = 3,
    false_rate: float = 0.05,
    repeats: int = 5,
    seed: int = 0,
) -> dict:
    """Simulated teaching: the user-gallery gate centre that keeps false naming at ``false_rate``.

    For ``repeats`` rounds and every class with at least ``k`` gallery photos, ``k`` random gallery
    photos of the class are "taught"; every validation photo's max cosine to them is recorded, as
    *same* (photo of that class) or *other*.

    Args:
        embeddings: ``(N, D)`` unit validation embeddings; targets ``(N,)`` int64.
        gallery, gallery_labels: ``(G, D)`` unit training embeddings and ``(G,)`` labels.
        k: photos taught per landmark. false_rate: allowed share of other landmarks' photos at or above s0.
    Returns:
        ``{"cosine": s0, "same_named_rate": share of same-landmark photos with max cosine ≥ s0,
        "other_rate": share of other photos ≥ s0, "k": k}``; ``cosine`` is nan without usable classes.
    """
    rng = np.random.default_rng(seed)
    same: list[float] = []
    other: list[float] = []
    with single_thread():
        for _ in range(repeats):
            for c in range(num_classes):
                idx = (gallery_labels == c).nonzero().flatten().numpy()
                if idx.size < k or not bool((targets == c).any()):
                    continue
                taught = gallery[rng.choice(idx, k, replace=False)]
                s = (embeddings.float() @ taught.float().T).max(dim=1).values
                same += s[targets == c].tolist()
                other += s[targets != c].tolist()
    if not same or not other:
        return {"cosine": float("nan"), "same_named_rate": None, "other_rate": None, "k": k}
    o = np.asarray(other)
    m = int(np.floor(false_rate * o.size))  # photos of other landmarks allowed at or above s0
    u = np.unique(o)[::-1]  # distinct values, descending
    at_or_above = o.size - np.searchsorted(np.sort(o), u, side="left")  # count of o >= each u
    ok = np.nonzero(at_or_above <= m)[0]
    if ok.size == 0:
        s0 = float(u[0] + 1e-6)  # not even the top value fits the budget: above everything
    else:
        i = int(ok.max())
        s0 = float((u[i] + u[i + 1]) / 2) if i + 1 < u.size else float(u[i])
    return {
        "cosine": s0,
        "same_named_rate": float(np.mean(np.asarray(same) >= s0)),
        "other_rate": float(np.mean(np.asarray(other) >= s0)),
        "k": k,
    }


def grouped_folds(labels: Sequence[int], groups: Sequence[str], n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Assign photos to ``n_folds`` folds, stratified by class, keeping each group in one fold.

    Within each class the groups (e.g. ``near_dup_group`` of ``MANIFEST.csv``; a photo without a group is its
    own group) are shuffled and dealt round-robin, so every class is spread evenly over the folds and near
    duplicates never sit on both sides of a split.

    Args:
        labels: ``(N,)`` class indices. groups: N group names. n_folds: >= 2. seed: shuffling seed.
    Returns:
        ``(N,)`` int64 fold index in ``[0, n_folds)``.
    Raises:
        ValueError: lengths differ or ``n_folds < 2``.
    """
    if len(labels) != len(groups):
        raise ValueError(f"{len(labels)} labels but {len(groups)} groups")
    if n_folds < 2:
        raise ValueError("grouped_folds needs at least 2 folds")
    rng = np.random.default_rng(seed)
    lab = np.asarray(labels)
    folds = np.zeros(len(lab), np.int64)
    for c in np.unique(lab):
        idx = np.flatnonzero(lab == c)
        names = list(dict.fromkeys(groups[int(i)] for i in idx))
        order = rng.permutation(len(names))
        start = int(rng.integers(n_folds))
        fold_of = {names[j]: (start + n) % n_folds for n, j in enumerate(order)}
        for i in idx:
            folds[i] = fold_of[groups[int(i)]]
    return folds


@dataclass(frozen=True)
class TeachingRates:
    """What ``teaching_margin_rates`` measured for one margin and one number of taught photos.

    Attributes:
        margin: the margin m of the rule ``s_L(x) >= e(x) + m`` (cosine units).
        k: photos taught per landmark.
        recall: share of the taught landmark's other photos proposed (pooled over classes, folds, repeats).
        false_rate: share of other landmarks' held-out photos proposed (pooled likewise).
        per_class: ``{class index: (recall, false_rate)}`` for this margin.
    """

    margin: float
    k: int
    recall: float
    false_rate: float
    per_class: dict[int, tuple[float, float]]


def teaching_margin_rates(
    embeddings: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    margins: Sequence[float],
    k_values: Sequence[int] = (3, 5),
    groups: Sequence[str] | None = None,
    repeats: int = 3,
    seed: int = 0,
    unseen_share: float = 0.25,
) -> list[TeachingRates]:
    """Leave-one-class-out simulation of teaching with the margin rule of ``core.recognition.scoring.teaching_claims``.

    A taught example of landmark L claims photo x when ``s_L(x) >= e(x) + m``: ``s_L(x)`` is x's highest cosine
    to the taught photos of L, ``e(x)`` x's best model evidence, its highest cosine to a gallery photo of any
    class other than L. For every fold f, every class L and every ``k``:

    * the gallery is every photo outside fold f, without class L (L plays a landmark the model never saw)
      and without a random ``unseen_share`` of the other classes, drawn anew for every taught set: a
      person's library also holds landmarks the model never saw, whose photos have little model evidence
      and are the easiest to claim by mistake (the shipped data: 13 of 56 classes);
    * ``k`` photos of L are taught (drawn from fold f first, topped up from the other folds: L is in no
      gallery, so any of its photos is held out);
    * *recall* counts L's other photos (all folds; photos in a taught photo's group left out) that are
      claimed; the *false rate* counts fold f's photos of other classes that are claimed (their own class's
      photos from the other folds stay in the gallery, as in the app).

    Args:
        embeddings: ``(N, D)`` float, unit rows (re-normalised here). labels: ``(N,)`` int class indices.
        folds: ``(N,)`` fold indices (``grouped_folds``). margins: margins to evaluate (cosine units).
        k_values: photos taught per landmark. groups: N group names (near duplicates), or ``None``.
        repeats: random draws of the taught photos per (fold, class). seed: their seed.
        unseen_share: share of the other classes left out of the gallery in each draw, in [0, 1).
    Returns:
        one ``TeachingRates`` per (k, margin), k-major, margins in the given order.
    Raises:
        ValueError: shapes disagree or fewer than 2 classes.
    """
    x = np.asarray(embeddings, np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    lab = np.asarray(labels, np.int64)
    fold = np.asarray(folds, np.int64)
    if not (len(x) == len(lab) == len(fold)):
        raise ValueError("embeddings, labels and folds must have the same length")
    classes = np.unique(lab)
    if classes.size < 2:
        raise ValueError("teaching_margin_rates needs at least 2 classes")
    grp = np.asarray(list(groups) if groups is not None else [str(i) for i in range(len(x))], dtype=object)
    ms = np.asarray(list(margins), np.float64)
    rng = np.random.default_rng(seed)
    n_cls = int(classes.max()) + 1
    # counters[k][class] = [same proposed (per margin), same total, other proposed (per margin), other total]
    acc: dict[int, dict[int, list[Any]]] = {
        k: {int(c): [np.zeros(ms.size), 0, np.zeros(ms.size), 0] for c in classes} for k in k_values
    }
    sims = x @ x.T  # (N, N) cosine
    for f in np.unique(fold):
        in_gallery = fold != f
        # per-class max cosine of every photo to the gallery of fold f: (N, n_cls)
        cmax = np.full((len(x), n_cls), -np.inf, np.float32)
        for c in classes:
            cols = np.flatnonzero(in_gallery & (lab == c))
            if cols.size:
                cmax[:, c] = sims[:, cols].max(axis=1)
        held = np.flatnonzero(fold == f)
        for c in classes:
            own = np.flatnonzero(lab == c)
            others = classes[classes != c]
            n_unseen = int(round(unseen_share * others.size))
            for k in k_values:
                if own.size < k + 1:
                    continue
                for _ in range(repeats):
                    seen = np.setdiff1d(others, rng.choice(others, n_unseen, replace=False))
                    e = cmax[:, seen].max(axis=1)  # best evidence for a class the model knows (not c)
                    first = rng.permutation(np.intersect1d(own, held))
                    rest = rng.permutation(np.setdiff1d(own, held))
                    taught = np.concatenate([first, rest])[:k]
                    taught_groups = set(grp[taught])
                    same = np.asarray([i for i in own if grp[i] not in taught_groups], np.int64)
                    other = held[lab[held] != c]
                    if same.size == 0 or other.size == 0:
                        continue
                    s = sims[:, taught].max(axis=1)
                    d_same = (s[same] - e[same])[:, None]
                    d_other = (s[other] - e[other])[:, None]
                    a = acc[k][int(c)]
                    a[0] += (d_same >= ms[None, :]).sum(axis=0)
                    a[1] += same.size
                    a[2] += (d_other >= ms[None, :]).sum(axis=0)
                    a[3] += other.size
    out: list[TeachingRates] = []
    for k in k_values:
        same_hit = sum(a[0] for a in acc[k].values())
        same_n = sum(a[1] for a in acc[k].values())
        other_hit = sum(a[2] for a in acc[k].values())
        other_n = sum(a[3] for a in acc[k].values())
        for j, m in enumerate(ms):
            per = {c: (float(a[0][j] / a[1]), float(a[2][j] / a[3])) for c, a in acc[k].items() if a[1] and a[3]}
            out.append(
                TeachingRates(
                    margin=float(m),
                    k=int(k),
                    recall=float(same_hit[j] / same_n) if same_n else float("nan"),
                    false_rate=float(other_hit[j] / other_n) if other_n else float("nan"),
                    per_class=per,
                )
            )
    return out


def choose_teaching_margin(rates: Sequence[TeachingRates], max_false_rate: float = 0.02) -> float:
    """The smallest margin whose false rate is at most ``max_false_rate`` for every ``k`` evaluated.

    Smaller margins propose more of the taught landmark's photos (recall falls as the margin grows), so the
    smallest margin that keeps other landmarks' photos within budget is the best trade.

    Args:
        rates: ``teaching_margin_rates`` output. max_false_rate: budget in [0, 1].
    Returns:
        the margin (cosine units); the largest evaluated one when none meets the budget.
    Raises:
        ValueError: ``rates`` is empty.
    """
    if not rates:
        raise ValueError("choose_teaching_margin: no rates")
    margins = sorted({r.margin for r in rates})
    for m in margins:
        if all(r.false_rate <= max_false_rate for r in rates if r.margin == m):
            return m
    return margins[-1]


def teaching_rates_heldout(
    gallery: np.ndarray,
    gallery_labels: np.ndarray,
    embeddings: np.ndarray,
    labels: np.ndarray,
    taught_classes: Sequence[int],
    margins: Sequence[float],
    k_values: Sequence[int] = (3, 5),
    groups: Sequence[str] | None = None,
    repeats: int = 3,
    seed: int = 0,
) -> list[TeachingRates]:
    """Teaching simulation for a model that was *trained* (fine-tuned) on its classes, so that photos of a
    class it knows are never held out from its embedding. Everything is held out by construction instead:

    * ``gallery`` / ``gallery_labels``: the model's own kNN gallery (its training photos; the app's evidence);
    * ``embeddings`` / ``labels``: photos the model never trained on — held-out photos of the classes it knows
      and every photo of the ``taught_classes``, which it never saw at all (not in its head, gallery or
      fine-tuning data);
    * for every class L of ``taught_classes`` and every ``k``, ``k`` of L's photos are taught; *recall* counts L's
      other photos claimed by the rule ``s_L(x) >= e(x) + m`` (``core.recognition.scoring.teaching_claims``),
      *false rate* the other photos of ``embeddings`` claimed (held-out photos of known landmarks and photos of
      the other unseen ones). ``e(x)`` is x's highest cosine to the gallery.

    Args:
        gallery: ``(G, D)``; gallery_labels ``(G,)``. embeddings: ``(N, D)``; labels ``(N,)`` class indices of the
            same label space (unseen classes get indices the gallery does not use). taught_classes: the unseen
            classes. margins, k_values, groups, repeats, seed: as ``teaching_margin_rates``.
    Returns:
        one ``TeachingRates`` per (k, margin), k-major.
    Raises:
        ValueError: shapes disagree, or a taught class is in the gallery.
    """
    g = np.asarray(gallery, np.float32)
    g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    x = np.asarray(embeddings, np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    lab = np.asarray(labels, np.int64)
    if len(x) != len(lab) or len(g) != len(gallery_labels):
        raise ValueError("embeddings and labels (and the gallery and its labels) must have the same length")
    if set(int(c) for c in taught_classes) & set(int(c) for c in np.asarray(gallery_labels)):
        raise ValueError("a taught class is in the gallery: it must be a landmark the model never saw")
    grp = np.asarray(list(groups) if groups is not None else [str(i) for i in range(len(x))], dtype=object)
    ms = np.asarray(list(margins), np.float64)
    rng = np.random.default_rng(seed)
    e = (x @ g.T).max(axis=1) if len(g) else np.full(len(x), -1.0, np.float32)
    sims = x @ x.T
    acc: dict[int, dict[int, list[Any]]] = {
        k: {int(c): [np.zeros(ms.size), 0, np.zeros(ms.size), 0] for c in taught_classes} for k in k_values
    }
    for c in taught_classes:
        own = np.flatnonzero(lab == c)
        for k in k_values:
            if own.size < k + 1:
                continue
            for _ in range(repeats):
                taught = rng.permutation(own)[:k]
                taught_groups = set(grp[taught])
                same = np.asarray([i for i in own if grp[i] not in taught_groups], np.int64)
                other = np.flatnonzero(lab != c)
                if same.size == 0 or other.size == 0:
                    continue
                s = sims[:, taught].max(axis=1)
                a = acc[k][int(c)]
                a[0] += ((s[same] - e[same])[:, None] >= ms[None, :]).sum(axis=0)
                a[1] += same.size
                a[2] += ((s[other] - e[other])[:, None] >= ms[None, :]).sum(axis=0)
                a[3] += other.size
    out: list[TeachingRates] = []
    for k in k_values:
        same_hit = sum(a[0] for a in acc[k].values())
        same_n = sum(a[1] for a in acc[k].values())
        other_hit = sum(a[2] for a in acc[k].values())
        other_n = sum(a[3] for a in acc[k].values())
        for j, m in enumerate(ms):
            per = {c: (float(a[0][j] / a[1]), float(a[2][j] / a[3])) for c, a in acc[k].items() if a[1] and a[3]}
            out.append(
                TeachingRates(
                    margin=float(m),
                    k=int(k),
                    recall=float(same_hit[j] / same_n) if same_n else float("nan"),
                    false_rate=float(other_hit[j] / other_n) if other_n else float("nan"),
                    per_class=per,
                )
            )
    return out
