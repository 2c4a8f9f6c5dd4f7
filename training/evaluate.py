"""``landmark-train evaluate``: metrics of any bundle on an ImageFolder tree, scored exactly as the app does.

Inference goes through ``core.recognition.recognizer.Recognizer.predict_paths`` (same decoding, preprocessing,
kNN fusion, temperature and "no landmark" threshold as the app), so the numbers describe what a user
gets. Metrics (``training.metrics``): top-1/top-5 accuracy (ranking over the model's classes, the
threshold ignored), GAP over the landmark photos and GAP with the non-landmark photos counted (a label
on a non-landmark photo is a wrong prediction), ECE (15 bins) of the top-1 confidence, accuracy with
rejection (labelled and right), the share of landmark photos labelled, the share of non-landmark
photos labelled, per-class accuracy (up to 500 classes), and the long-tail view: top-1 and GAP by the training
frequency of the true class (``metrics.long_tail_metrics``; frequencies from the bundle's ``class_image_counts``,
else its exact gallery).

Data: an ImageFolder tree, or GLDv2's evaluation layout (``test.csv`` + ``recognition_solution_v2.1.csv``, or
``index.csv`` + ``index_image_to_landmark.csv``: ``training.datasets.read_gldv2_eval``), whose photos without a
landmark count as non-landmark photos.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from training import metrics
from training.data_setup import list_images
from training.datasets import read_gldv2_eval, read_imagefolder

__all__ = ["evaluate_bundle", "evaluate_recognizer", "format_table"]

log = logging.getLogger(__name__)


def _predict(rec, paths, batch_size: int, desc: str) -> list:
    """``Recognizer.predict_paths`` in chunks (one progress step each): a Prediction or an Exception per path."""
    out = []
    chunk = max(batch_size * 4, 64)
    for i in tqdm(range(0, len(paths), chunk), desc=desc, unit="chunk", leave=False):
        out.extend(rec.predict_paths(paths[i : i + chunk], batch_size=batch_size))
    return out


@dataclass
class _Answers:
    """The app's answers for readable photos: ranked keys, confidence and label (None = "no landmark")
    per photo, and the true key (None for a non-landmark photo); unreadable photos with their reason."""

    ranked: list[list[str]] = field(default_factory=list)
    truth: list[str | None] = field(default_factory=list)
    conf: list[float] = field(default_factory=list)
    labels: list[str | None] = field(default_factory=list)
    unreadable: list[dict] = field(default_factory=list)

    def add(self, paths: Sequence[Path], truths: Sequence[str | None], preds: Sequence) -> None:
        for path, key, p in zip(paths, truths, preds):
            if isinstance(p, Exception):
                self.unreadable.append({"path": str(path), "reason": str(p)})
                continue
            self.ranked.append([k for k, _ in p.top_k])
            self.truth.append(key)
            self.conf.append(p.confidence)
            self.labels.append(p.label)


def _metrics(lm: _Answers, nl: _Answers, train_counts: dict[str, int] | None = None) -> dict:
    """The report's metrics from landmark photos ``lm`` and non-landmark photos ``nl``."""
    top1 = [r[0] for r in lm.ranked]
    n = len(lm.truth)
    per_class = metrics.per_class_accuracy(top1, lm.truth)
    return {
        "long_tail": metrics.long_tail_metrics(top1, lm.labels, lm.conf, lm.truth, train_counts)
        if train_counts is not None
        else None,
        "top1": metrics.top_k_accuracy(lm.ranked, lm.truth, 1),
        "top5": metrics.top_k_accuracy(lm.ranked, lm.truth, 5),
        "gap": metrics.global_average_precision(lm.labels, lm.conf, lm.truth),
        "gap_with_non_landmark": (
            metrics.global_average_precision(lm.labels + nl.labels, lm.conf + nl.conf, lm.truth + nl.truth)
            if nl.labels
            else None
        ),
        "ece": metrics.expected_calibration_error(lm.conf, [a == b for a, b in zip(top1, lm.truth)]),
        "accuracy_with_rejection": (sum(lab == t for lab, t in zip(lm.labels, lm.truth)) / n) if n else float("nan"),
        "landmark_labelled_rate": (sum(lab is not None for lab in lm.labels) / n) if n else float("nan"),
        "non_landmark_labelled_rate": metrics.non_landmark_labelled_rate(nl.labels) if nl.labels else None,
        "per_class_accuracy": per_class if len(per_class) <= 500 else {},
    }


def evaluate_bundle(
    bundle,
    data_dir: str | Path,
    *,
    non_landmark: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 16,
    verify: bool = True,
) -> dict:
    """Evaluate a bundle.

    Args:
        bundle: bundle path or ``ModelBundle``.
        data_dir: ImageFolder ``<class>/<image>``; class folder names are matched to the bundle's keys.
        non_landmark: folder of photos without a landmark, or None.
        verify: geometric verification as the app does it, when the bundle has a features file beside it.
    Returns:
        JSON-serialisable dict: model_version, n, n_non_landmark, top1, top5, gap, gap_with_non_landmark,
        ece, accuracy_with_rejection, landmark_labelled_rate, non_landmark_labelled_rate, threshold,
        per_class_accuracy, unreadable (paths and reasons), skipped_unknown_classes ({class: images}).
    Raises:
        BundleError: unusable bundle. DatasetError: unreadable data folder.
    """
    from core.recognition.recognizer import Recognizer

    rec = Recognizer(bundle, device=device, top_k=5, verify=verify)
    root = Path(data_dir)
    nl_paths = list_images(non_landmark) if non_landmark else []
    if (root / "test.csv").is_file() or (root / "index.csv").is_file():
        gld = read_gldv2_eval(root)
        data = gld.landmark
        nl_paths = nl_paths + gld.non_landmark
    else:
        data = read_imagefolder(root)
    report = evaluate_recognizer(rec, data.paths, data.labels, nl_paths, batch_size=batch_size)
    return {
        "model_version": report.pop("model_version"),
        "data_dir": str(data_dir),
        "non_landmark_dir": str(non_landmark) if non_landmark else None,
        **report,
    }


def evaluate_recognizer(
    rec, paths: Sequence[Path], labels: Sequence[str], non_landmark: Sequence[Path] = (), *, batch_size: int = 16
) -> dict:
    """Metrics of a ``core.recognition.recognizer.Recognizer`` on labelled photos (+ photos without a landmark).

    Photos of classes the model does not know are skipped (counted in ``skipped_unknown_classes``).
    Returns the dict of ``evaluate_bundle`` without the folder names; float NaN becomes None.
    """
    keys = set(rec.bundle.class_keys)
    unknown: dict[str, int] = {}
    for k in labels:
        if k not in keys:
            unknown[k] = unknown.get(k, 0) + 1
    if unknown:
        log.warning(
            "skipping %d images of classes the model does not know: %s", sum(unknown.values()), ", ".join(unknown)
        )
    items = [(Path(p), k) for p, k in zip(paths, labels) if k in keys]
    lm_paths = [p for p, _ in items]
    preds = _predict(rec, lm_paths, batch_size, "landmark photos")
    nl_paths = [Path(p) for p in non_landmark]
    nl_preds = _predict(rec, nl_paths, batch_size, "non-landmark photos") if nl_paths else []
    lm, nl = _Answers(), _Answers()
    lm.add(lm_paths, [k for _, k in items], preds)
    nl.add(nl_paths, [None] * len(nl_paths), nl_preds)
    report = {
        "long_tail_source": _counts_source(rec.bundle),
        "n": len(lm.truth),
        "n_non_landmark": len(nl.labels),
        "threshold": float(rec.bundle.no_landmark_threshold),
        "verification": rec.verification_status,
        "model_version": rec.model_version,
        **_metrics(lm, nl, _train_counts(rec.bundle)),
        "unreadable": lm.unreadable + nl.unreadable,
        "skipped_unknown_classes": dict(sorted(unknown.items())),
    }
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in report.items()}


def _train_counts(bundle) -> dict[str, int] | None:
    """Training photos per class key: the bundle's ``class_image_counts``, else its exact gallery's labels."""
    keys = bundle.class_keys
    counts = bundle.training.get("class_image_counts")
    if isinstance(counts, list) and len(counts) == len(keys):
        return {k: int(n) for k, n in zip(keys, counts)}
    if bundle.gallery_embeddings is not None and bundle.gallery_labels is not None:
        per = bundle.gallery_labels.bincount(minlength=len(keys)).tolist()
        return {k: int(n) for k, n in zip(keys, per)}
    return None


def _counts_source(bundle) -> str | None:
    if isinstance(bundle.training.get("class_image_counts"), list):
        return "training photos per class (bundle)"
    if bundle.gallery_embeddings is not None:
        return "gallery photos per class (bundle)"
    return None


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
        ("geometric verification", report.get("verification")),
        ("unreadable files", len(report["unreadable"])),
    ]
    w = max(len(r[0]) for r in rows)
    lines = [f"{name:<{w}}  {_fmt(v)}" for name, v in rows]
    lines.append("")
    lines.append("per-class top-1 accuracy:")
    pcs = report["per_class_accuracy"]
    cw = max((len(k) for k in pcs), default=5)
    lines += [f"  {k:<{cw}}  {v:.3f}" for k, v in pcs.items()]
    if report.get("long_tail"):
        lines.append("")
        lines.append("by training photos per class:  classes  photos  top-1   GAP")
        for bucket, m in report["long_tail"].items():
            lines.append(f"  {bucket:<8}  {m['classes']:>7}  {m['n']:>6}  {m['top1']:.3f}  {_fmt(m['gap'])}")
    if report["skipped_unknown_classes"]:
        lines.append(
            "skipped (class unknown to the model): "
            + ", ".join(f"{k} ({n})" for k, n in report["skipped_unknown_classes"].items())
        )
    return "\n".join(lines)
