"""Evaluation metrics: top-k accuracy, GAP, expected calibration error, per-class accuracy, confusion matrix.

All functions take plain Python sequences or numpy arrays and return Python floats/dicts, so they
serve training (tensors converted with ``.numpy()``) and ``landmark-train evaluate`` alike.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

__all__ = [
    "top_k_accuracy",
    "global_average_precision",
    "expected_calibration_error",
    "per_class_accuracy",
    "non_landmark_labelled_rate",
    "confusion_matrix",
    "FREQUENCY_BUCKETS",
    "frequency_bucket",
    "long_tail_metrics",
]

#: Lower edges of the class-frequency buckets of ``long_tail_metrics`` (training photos per class): 1-4, 5-9, 10-19,
#: 20-49, 50-99, 100+. GLDv2's training set has a median of ~9 photos per landmark and a few with thousands.
FREQUENCY_BUCKETS: tuple[int, ...] = (1, 5, 10, 20, 50, 100)


def top_k_accuracy(ranked: Sequence[Sequence[Hashable]], truth: Sequence[Hashable], k: int) -> float:
    """Fraction of queries whose true label is among their first ``k`` ranked labels.

    Args:
        ranked: per query, labels in descending confidence (at least ``k`` not required).
        truth: per query, the true label.
        k: ≥ 1.
    Returns:
        accuracy in [0, 1]; ``nan`` for zero queries.
    Raises:
        ValueError: ``k < 1`` or lengths differ.
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    if len(ranked) != len(truth):
        raise ValueError(f"{len(ranked)} rankings but {len(truth)} true labels")
    if not truth:
        return float("nan")
    return float(np.mean([t in list(r)[:k] for r, t in zip(ranked, truth)]))


def global_average_precision(
    predicted: Sequence[Hashable | None],
    confidence: Sequence[float] | np.ndarray,
    truth: Sequence[Hashable | None],
) -> float:
    """Global Average Precision (GAP), the metric of Kaggle's Google Landmark Recognition challenges
    (https://www.kaggle.com/competitions/landmark-recognition-2020/overview/evaluation;
    Perronnin et al. 2009 "micro-AP"):

        GAP = 1/M · Σ_{i=1..P} P(i) · rel(i)

    where the P queries that received a prediction (one label each) are sorted by ``confidence``
    descending, P(i) is the precision among the first i of them, rel(i) = 1 when the i-th prediction
    is correct, and M is the number of queries that show a landmark (``truth`` not None).
    A non-landmark query (``truth`` None) with a predicted label counts as a wrong prediction
    (rel = 0, lowering the precision of everything ranked below it); a query with no prediction
    (``predicted`` None, i.e. "no landmark" was answered) is left out of the ranking. Ties in
    confidence keep input order (stable sort).

    Args:
        predicted: per query, the predicted label or None.
        confidence: per query, the prediction's confidence (any real; only the order matters).
        truth: per query, the true label or None for a photo without a landmark.
    Returns:
        GAP in [0, 1]; ``nan`` when M = 0.
    Raises:
        ValueError: lengths differ.
    """
    if not len(predicted) == len(confidence) == len(truth):
        raise ValueError("predicted, confidence and truth must have the same length")
    m = sum(t is not None for t in truth)
    if m == 0:
        return float("nan")
    idx = [i for i, p in enumerate(predicted) if p is not None]
    idx.sort(key=lambda i: -float(confidence[i]))  # stable: ties keep input order
    correct = 0
    total = 0.0
    for rank, i in enumerate(idx, start=1):
        if truth[i] is not None and predicted[i] == truth[i]:
            correct += 1
            total += correct / rank
    return total / m


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], n_bins: int = 15) -> float:
    """Expected calibration error with equal-width confidence bins (Guo et al. 2017, "On Calibration
    of Modern Neural Networks", eq. 3; 15 bins as in that paper):

        ECE = Σ_b |B_b|/n · |acc(B_b) − conf(B_b)|,   B_b = {i : conf_i ∈ ((b−1)/n_bins, b/n_bins]}

    (a confidence of exactly 0 falls in the first bin).

    Args:
        confidence: ``(n,)`` top-1 confidences in [0, 1].
        correct: ``(n,)`` whether each top-1 prediction is right.
        n_bins: number of bins.
    Returns:
        ECE in [0, 1]; ``nan`` for n = 0.
    Raises:
        ValueError: lengths differ or a confidence outside [0, 1].
    """
    conf = np.asarray(confidence, dtype=np.float64)
    corr = np.asarray(correct, dtype=np.float64)
    if conf.shape != corr.shape:
        raise ValueError("confidence and correct must have the same length")
    if conf.size == 0:
        return float("nan")
    if np.any(conf < 0) or np.any(conf > 1):
        raise ValueError("confidences must lie in [0, 1]")
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            ece += sel.sum() / conf.size * abs(corr[sel].mean() - conf[sel].mean())
    return float(ece)


def per_class_accuracy(predicted: Sequence[Hashable], truth: Sequence[Hashable]) -> dict:
    """``{class: fraction of that class's queries predicted correctly}`` over the classes present in ``truth``
    (sorted by class)."""
    out: dict = {}
    for cls in sorted(set(truth), key=str):
        sel = [p == t for p, t in zip(predicted, truth) if t == cls]
        out[cls] = float(np.mean(sel))
    return out


def non_landmark_labelled_rate(predicted: Sequence[Hashable | None]) -> float:
    """Fraction of non-landmark photos that received a landmark label (``predicted`` not None); nan if empty."""
    if not predicted:
        return float("nan")
    return float(np.mean([p is not None for p in predicted]))


def confusion_matrix(predicted: Sequence[int], truth: Sequence[int], num_classes: int) -> np.ndarray:
    """``(C, C)`` int64 counts, rows = true class, columns = predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(truth, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return cm


def frequency_bucket(count: int, edges: Sequence[int] = FREQUENCY_BUCKETS) -> str:
    """The bucket name of a class with ``count`` training photos: ``"1-4"``, …, ``"100+"`` (``"0"`` for none)."""
    if count < edges[0]:
        return "0"
    for lo, hi in zip(edges, list(edges[1:]) + [None]):
        if hi is None or count < hi:
            return f"{lo}+" if hi is None else f"{lo}-{hi - 1}"
    raise AssertionError("unreachable")


def long_tail_metrics(
    top1: Sequence[Hashable],
    predicted: Sequence[Hashable | None],
    confidence: Sequence[float],
    truth: Sequence[Hashable],
    train_counts: dict,
    edges: Sequence[int] = FREQUENCY_BUCKETS,
) -> dict[str, dict]:
    """Top-1 accuracy and GAP of the landmark photos, by the training frequency of their true class.

    Args:
        top1: per query, the top-ranked label (the threshold ignored). predicted: the app's label or None
            ("no landmark"). confidence: its confidence. truth: the true label.
        train_counts: true label → training photos of that class (absent = 0).
    Returns:
        ``{bucket: {"classes": distinct true classes, "n": queries, "top1": …, "gap": …}}`` for the non-empty
        buckets, in bucket order; GAP is ``global_average_precision`` over the bucket's queries alone.
    """
    groups: dict[str, list[int]] = {}
    for i, t in enumerate(truth):
        groups.setdefault(frequency_bucket(int(train_counts.get(t, 0)), edges), []).append(i)
    order = ["0"] + [frequency_bucket(e, edges) for e in edges]
    out: dict[str, dict] = {}
    for name in order:
        idx = groups.get(name)
        if not idx:
            continue
        out[name] = {
            "classes": len({truth[i] for i in idx}),
            "n": len(idx),
            "top1": float(np.mean([top1[i] == truth[i] for i in idx])),
            "gap": global_average_precision(
                [predicted[i] for i in idx], [float(confidence[i]) for i in idx], [truth[i] for i in idx]
            ),
        }
    return out
