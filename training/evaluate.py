"""``landmark-train evaluate``: metrics of any bundle on an ImageFolder tree, scored exactly as the app does.

Inference goes through ``core.recognition.recognizer.Recognizer.predict_paths`` (same decoding, preprocessing,
kNN fusion, temperature and "no landmark" threshold as the app), so the numbers describe what a user
gets. Metrics (``training.metrics``): top-1/top-5 accuracy (ranking over the model's classes, the
threshold ignored), GAP over the landmark photos and GAP with the non-landmark photos counted (a label
on a non-landmark photo is a wrong prediction), ECE (15 bins) of the top-1 confidence, accuracy with
rejection (labelled and right), the share of landmark photos labelled, the share of non-landmark
photos labelled, and per-class accuracy.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm import tqdm

from training import metrics
from training.data_setup import list_images
from training.datasets import read_imagefolder

__all__ = ["evaluate_bundle", "format_table"]

log = logging.getLogger(__name__)


def _predict(rec, paths, batch_size: int, desc: str):
    out = []
    chunk = max(batch_size * 4, 64)
    for i in tqdm(range(0, len(paths), chunk), desc=desc, unit="chunk", leave=False):
        out.extend(rec.predict_paths(paths[i : i + chunk], batch_size=batch_size))
    return out


def evaluate_bundle(
    bundle, data_dir: str | Path, *, non_landmark: str | Path | None = None, device: str = "auto", batch_size: int = 16
) -> dict:
    """Evaluate a bundle.

    Args:
        bundle: bundle path or ``ModelBundle``.
        data_dir: ImageFolder ``<class>/<image>``; class folder names are matched to the bundle's keys.
        non_landmark: folder of photos without a landmark, or None.
    Returns:
        JSON-serialisable dict: model_version, n, n_non_landmark, top1, top5, gap, gap_with_non_landmark,
        ece, accuracy_with_rejection, landmark_labelled_rate, non_landmark_labelled_rate, threshold,
        per_class_accuracy, unreadable (paths and reasons), skipped_unknown_classes ({class: images}).
    Raises:
        BundleError: unusable bundle. DatasetError: unreadable data folder.
    """
    from core.recognition.recognizer import Recognizer

    rec = Recognizer(bundle, device=device, top_k=5)
    keys = set(rec.bundle.class_keys)
    data = read_imagefolder(data_dir)
    unknown = {k: n for k, n in sorted(data.counts().items()) if k not in keys}
    if unknown:
        log.warning(
            "skipping %d images of classes the model does not know: %s", sum(unknown.values()), ", ".join(unknown)
        )
    items = [(p, k) for p, k in zip(data.paths, data.labels) if k in keys]
    preds = _predict(rec, [p for p, _ in items], batch_size, "landmark photos")
    nl_paths = list_images(non_landmark) if non_landmark else []
    nl_preds = _predict(rec, nl_paths, batch_size, "non-landmark photos") if nl_paths else []

    unreadable = []
    ranked, truth, conf, labels = [], [], [], []
    for (path, key), p in zip(items, preds):
        if isinstance(p, Exception):
            unreadable.append({"path": str(path), "reason": str(p)})
            continue
        ranked.append([k for k, _ in p.top_k])
        truth.append(key)
        conf.append(p.confidence)
        labels.append(p.label)
    nl_conf, nl_labels = [], []
    for path, p in zip(nl_paths, nl_preds):
        if isinstance(p, Exception):
            unreadable.append({"path": str(path), "reason": str(p)})
            continue
        nl_conf.append(p.confidence)
        nl_labels.append(p.label)
    top1 = [r[0] for r in ranked]
    n = len(truth)
    report = {
        "model_version": rec.model_version,
        "data_dir": str(data_dir),
        "non_landmark_dir": str(non_landmark) if non_landmark else None,
        "n": n,
        "n_non_landmark": len(nl_labels),
        "threshold": float(rec.bundle.no_landmark_threshold),
        "top1": metrics.top_k_accuracy(ranked, truth, 1),
        "top5": metrics.top_k_accuracy(ranked, truth, 5),
        "gap": metrics.global_average_precision(labels, conf, truth),
        "gap_with_non_landmark": (
            metrics.global_average_precision(labels + nl_labels, conf + nl_conf, truth + [None] * len(nl_labels))
            if nl_labels
            else None
        ),
        "ece": metrics.expected_calibration_error(conf, [a == b for a, b in zip(top1, truth)]),
        "accuracy_with_rejection": (sum(lab == t for lab, t in zip(labels, truth)) / n) if n else float("nan"),
        "landmark_labelled_rate": (sum(lab is not None for lab in labels) / n) if n else float("nan"),
        "non_landmark_labelled_rate": metrics.non_landmark_labelled_rate(nl_labels) if nl_labels else None,
        "per_class_accuracy": metrics.per_class_accuracy(top1, truth),
        "unreadable": unreadable,
        "skipped_unknown_classes": unknown,
    }
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in report.items()}


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def format_table(report: dict) -> str:
    """Human-readable table of an ``evaluate_bundle`` report."""
    rows = [
        ("model version", report["model_version"]),
        ("landmark photos", report["n"]),
        ("non-landmark photos", report["n_non_landmark"]),
        ("top-1 accuracy", report["top1"]),
        ("top-5 accuracy", report["top5"]),
        ("GAP (landmark photos)", report["gap"]),
        ("GAP (with non-landmark photos)", report["gap_with_non_landmark"]),
        ("ECE (15 bins)", report["ece"]),
        ("accuracy with rejection", report["accuracy_with_rejection"]),
        ("landmark photos labelled", report["landmark_labelled_rate"]),
        ("non-landmark photos labelled", report["non_landmark_labelled_rate"]),
        ("no-landmark threshold", report["threshold"]),
        ("unreadable files", len(report["unreadable"])),
    ]
    w = max(len(r[0]) for r in rows)
    lines = [f"{name:<{w}}  {_fmt(v)}" for name, v in rows]
    lines.append("")
    lines.append("per-class top-1 accuracy:")
    pcs = report["per_class_accuracy"]
    cw = max((len(k) for k in pcs), default=5)
    lines += [f"  {k:<{cw}}  {v:.3f}" for k, v in pcs.items()]
    if report["skipped_unknown_classes"]:
        lines.append(
            "skipped (class unknown to the model): "
            + ", ".join(f"{k} ({n})" for k, n in report["skipped_unknown_classes"].items())
        )
    return "\n".join(lines)
