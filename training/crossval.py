"""``landmark-train crossval``: the honest evaluation protocol of a training recipe.

Stratified K-fold cross-validation (default K = 5) over *all* the labelled photos of a data folder —
its ``train/``, ``val/`` and ``test/`` splits pooled — with near-duplicate groups kept inside one fold,
and the photos without a landmark split into K folds the same way. For each fold k:

1. the other K − 1 folds are the training part; inside it a grouped stratified split holds out
   ``val_fraction`` of each class for calibration and model selection (temperature, kNN constants,
   landmark gate, threshold) — nothing of fold k is seen before testing;
2. the training part's non-landmark photos are split in two halves (Outlier Exposure / gate and threshold),
   as in a normal run;
3. the recipe (any ``--mode``) trains a bundle; the app's ``Recognizer`` scores fold k's landmark photos
   and non-landmark photos (``training.evaluate.evaluate_recognizer``), once per evaluation variant
   (e.g. test-time augmentation off/on).

The report gives mean ± sample standard deviation over the folds of every metric, and per class the
mean ± sd of the fold accuracies plus the accuracy over all its photos (each photo is tested exactly
once). Near-duplicate groups come from ``MANIFEST.csv`` beside the splits (column ``near_dup_group``;
rows without a group are their own group). Folds are deterministic given the photos and ``seed``.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch

from training.config import TrainConfig
from training.data_setup import RunData, list_images, split_half
from training.datasets import DatasetError, LabelledImages, read_imagefolder

__all__ = [
    "pooled_dataset",
    "grouped_stratified_folds",
    "fold_run_data",
    "run_crossval",
    "summarize",
    "format_report",
    "EVAL_METRICS",
]

log = logging.getLogger(__name__)

#: Metrics of ``evaluate_recognizer`` summarised over folds.
EVAL_METRICS = (
    "top1",
    "top5",
    "gap",
    "gap_with_non_landmark",
    "non_landmark_labelled_rate",
    "ece",
    "accuracy_with_rejection",
    "landmark_labelled_rate",
)

Variant = Callable[[Path], object]  # bundle path -> a Recognizer-like object


def pooled_dataset(root: str | Path, exclude_classes: Sequence[str] = ()) -> tuple[LabelledImages, list[str]]:
    """Every labelled photo under ``root`` (``train/``, ``val/``, ``test/`` pooled, else ``root`` itself as an
    ImageFolder) and its near-duplicate group id; photos of ``exclude_classes`` are left out.

    Raises:
        DatasetError: no photos, or a class folder name that is not the same in every split.
    """
    root = Path(root)
    splits = [root / s for s in ("train", "val", "test") if (root / s).is_dir()]
    parts = [read_imagefolder(s) for s in splits] if splits else [read_imagefolder(root)]
    excluded = set(exclude_classes)
    paths = [p for d in parts for p, k in zip(d.paths, d.labels) if k not in excluded]
    labels = [k for d in parts for k in d.labels if k not in excluded]
    if not paths:
        raise DatasetError(f"no photos under {root}")
    groups = {}
    manifest = root / "MANIFEST.csv"
    if manifest.is_file():
        with open(manifest, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row.get("near_dup_group"):
                    groups[str((root / row["path"]).resolve())] = f"dup:{row['near_dup_group']}"
    group_of = [groups.get(str(Path(p).resolve()), f"file:{Path(p).resolve()}") for p in paths]
    return LabelledImages(paths, labels), group_of


def _rank(seed: int, text: str) -> str:
    return hashlib.sha256(f"{seed}|{text}".encode()).hexdigest()


def grouped_stratified_folds(labels: Sequence[str], groups: Sequence[str], k: int, seed: int = 0) -> list[int]:
    """Fold index (0..k-1) of every item: each group whole in one fold, every class spread evenly.

    Per class, its groups (largest first, ties in ``sha256(seed|group)`` order) go one by one to the fold
    that holds the fewest photos of that class so far (ties: fewest photos overall, then the lowest index).
    A group whose photos carry several labels follows its most common label.

    Raises:
        ValueError: ``k < 2`` or lengths differ.
    """
    if k < 2:
        raise ValueError(f"need at least 2 folds, got {k}")
    if len(labels) != len(groups):
        raise ValueError(f"{len(labels)} labels but {len(groups)} groups")
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    by_class: dict[str, list[str]] = defaultdict(list)
    for g, idx in members.items():
        by_class[Counter(labels[i] for i in idx).most_common(1)[0][0]].append(g)
    fold_of_group: dict[str, int] = {}
    total = [0] * k
    for cls in sorted(by_class):
        per_class = [0] * k
        for g in sorted(by_class[cls], key=lambda g: (-len(members[g]), _rank(seed, g))):
            f = min(range(k), key=lambda j: (per_class[j], total[j], j))
            fold_of_group[g] = f
            per_class[f] += len(members[g])
            total[f] += len(members[g])
    return [fold_of_group[g] for g in groups]


def _simple_folds(paths: Sequence[Path], k: int, seed: int) -> list[int]:
    """Fold of each photo without labels: round robin in ``sha256(seed|file name)`` order."""
    order = sorted(range(len(paths)), key=lambda i: _rank(seed, Path(paths[i]).name))
    out = [0] * len(paths)
    for r, i in enumerate(order):
        out[i] = r % k
    return out


def fold_run_data(
    data: LabelledImages,
    groups: Sequence[str],
    folds: Sequence[int],
    k: int,
    non_landmark: Sequence[Path],
    nl_folds: Sequence[int],
    val_fraction: float,
    seed: int,
) -> tuple[RunData, LabelledImages, list[Path]]:
    """The training ``RunData`` of fold ``k`` and its test photos ``(landmark photos, non-landmark photos)``.

    The validation split inside the training part is grouped and stratified too
    (``grouped_stratified_folds`` with ``round(1 / val_fraction)`` parts, part 0 held out).
    """
    train_idx = [i for i, f in enumerate(folds) if f != k]
    test_idx = [i for i, f in enumerate(folds) if f == k]
    part = data.subset(train_idx, classes=sorted(set(data.labels)))
    inner = grouped_stratified_folds(part.labels, [groups[i] for i in train_idx], max(2, round(1 / val_fraction)), seed)
    train = part.subset([i for i, f in enumerate(inner) if f != 0])
    val = part.subset([i for i, f in enumerate(inner) if f == 0])
    nl_train = [p for p, f in zip(non_landmark, nl_folds) if f != k]
    nl_test = [p for p, f in zip(non_landmark, nl_folds) if f == k]
    outliers, threshold_nl = split_half(list(nl_train))
    run = RunData(
        train=train,
        val=val,
        non_landmark=threshold_nl,
        dropped_classes=[],
        val_source=f"cross-validation fold {k}: grouped stratified {val_fraction:.0%} of the training part",
        outliers=outliers,
        outlier_source=f"fold {k} training part: the half with even rank by SHA-1 of the file name "
        f"({len(outliers)} photos); the other half ({len(threshold_nl)}) chose the gate and threshold",
    )
    return run, data.subset(test_idx), nl_test


def _mean_sd(values: Sequence[float | None]) -> dict:
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"mean": None, "sd": None, "folds": list(values)}
    return {
        "mean": statistics.fmean(vals),
        "sd": statistics.stdev(vals) if len(vals) > 1 else 0.0,
        "folds": [None if v is None else float(v) for v in values],
    }


def summarize(fold_reports: Sequence[dict], test_counts: Sequence[Counter]) -> dict:
    """Mean ± sd over folds of ``EVAL_METRICS``, and per class: fold accuracies and the pooled accuracy.

    Args:
        fold_reports: one ``evaluate_recognizer`` report per fold (same variant).
        test_counts: per fold, ``Counter`` of test photos per class (weights of the pooled accuracy).
    """
    out: dict = {m: _mean_sd([r.get(m) for r in fold_reports]) for m in EVAL_METRICS}
    classes = sorted({c for r in fold_reports for c in r["per_class_accuracy"]})
    per_class = {}
    for c in classes:
        accs = [r["per_class_accuracy"].get(c) for r in fold_reports]
        n = [cnt.get(c, 0) for cnt in test_counts]
        right = sum(a * m for a, m in zip(accs, n) if a is not None)
        total = sum(m for a, m in zip(accs, n) if a is not None)
        per_class[c] = {**_mean_sd(accs), "pooled": right / total if total else None, "photos": total}
    out["per_class_accuracy"] = per_class
    pooled = [v["pooled"] for v in per_class.values() if v["pooled"] is not None]
    out["worst_class_accuracy"] = min(pooled) if pooled else None
    return out


def run_crossval(
    cfg: TrainConfig,
    runner: Callable[[TrainConfig, torch.device, RunData], tuple[Path, dict]],
    variants: Mapping[str, Variant],
    *,
    folds: int = 5,
    out_dir: Path,
    device: torch.device,
    only_folds: Sequence[int] | None = None,
    after_training: Callable[[Path, RunData], None] | None = None,
    reuse_bundles: bool = False,
    exclude_classes: Sequence[str] = (),
) -> dict:
    """Run the protocol (module docstring) and write ``out_dir/crossval.json``.

    Args:
        cfg: the recipe (``cfg.data`` the labelled photos, ``cfg.non_landmark`` the photos without a landmark;
            output/work dir are set per fold under ``out_dir/fold<k>``; runs share ``out_dir/cache``).
        runner: the mode's ``run_*`` function taking ``(cfg, device, data)``.
        variants: evaluation variants, name → function(bundle path) → Recognizer (e.g. TTA off/on).
        only_folds: run only these folds (the report then covers them alone).
        after_training: called with each fold's bundle and training data before testing (e.g. to build the
            geometric-verification features from that fold's training photos).
        reuse_bundles: a fold whose bundle and ``metrics.json`` exist already is not trained again (its
            variants are evaluated again: e.g. a new variant on the same fold bundles).
        exclude_classes: landmarks left out of the protocol entirely (their photos are never seen: e.g. to
            measure teaching with landmarks the fold models never saw, ``bench/bench_teaching.py --heldout``).
    Returns:
        ``{"protocol": ..., "folds": [...], "summary": {variant: summarize(...)}}``.
    """
    data, groups = pooled_dataset(cfg.data, exclude_classes)
    fold_of = grouped_stratified_folds(data.labels, groups, folds, cfg.seed)
    nl = list_images(cfg.non_landmark) if cfg.non_landmark else []
    nl_folds = _simple_folds(nl, folds, cfg.seed)
    from training.evaluate import evaluate_recognizer

    results: list[dict] = []
    counts: list[Counter] = []
    for k in only_folds if only_folds is not None else range(folds):
        run_data, test, nl_test = fold_run_data(data, groups, fold_of, k, nl, nl_folds, cfg.val_fraction, cfg.seed)
        fold_cfg = dataclasses.replace(
            cfg,
            output=out_dir / f"fold{k}" / "model.safetensors",
            work_dir=out_dir / f"fold{k}",
            cache_dir=cfg.cache_dir or out_dir / "cache",
            non_landmark=None,
            outlier_exposure=None,
        )
        log.info(
            "fold %d/%d: %d training, %d validation, %d test photos",
            k + 1,
            folds,
            len(run_data.train),
            len(run_data.val),
            len(test),
        )
        metrics_file = fold_cfg.resolved_work_dir() / "metrics.json"
        if reuse_bundles and fold_cfg.output.is_file() and metrics_file.is_file():
            bundle_path = fold_cfg.output
            train_metrics = json.loads(metrics_file.read_text())
        else:
            bundle_path, train_metrics = runner(fold_cfg, device, run_data)
        if after_training is not None:
            after_training(bundle_path, run_data)
        reports = {}
        for name, make in variants.items():
            rec = make(bundle_path)
            reports[name] = evaluate_recognizer(rec, test.paths, test.labels, nl_test)
            log.info(
                "fold %d %s: top-1 %.4f, GAP+NL %s",
                k,
                name,
                reports[name]["top1"],
                reports[name]["gap_with_non_landmark"],
            )
        results.append(
            {
                "fold": k,
                "train": len(run_data.train),
                "val": len(run_data.val),
                "test": len(test),
                "test_non_landmark": len(nl_test),
                "bundle": str(bundle_path),
                "reports": reports,
                "validation": train_metrics.get("validation"),
            }
        )
        counts.append(Counter(test.labels))
    summary = {name: summarize([r["reports"][name] for r in results], counts) for name in variants}
    report = {
        "protocol": {
            "folds": folds,
            "photos": len(data),
            "classes": len(set(data.labels)),
            "non_landmark_photos": len(nl),
            "near_duplicate_groups": sum(1 for g in set(groups) if g.startswith("dup:")),
            "val_fraction": cfg.val_fraction,
            "seed": cfg.seed,
            "mode": cfg.mode,
            "excluded_classes": sorted(exclude_classes),
            "config": cfg.to_json(),
        },
        "folds": results,
        "summary": summary,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "crossval.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return report


def _pm(s: dict, pct: bool = False) -> str:
    if s["mean"] is None:
        return "–"
    f = 100.0 if pct else 1.0
    return f"{s['mean'] * f:.{1 if pct else 3}f} ± {s['sd'] * f:.{1 if pct else 3}f}"


def format_report(report: dict) -> str:
    """Markdown tables of a ``run_crossval`` report: metrics per variant, then per-class accuracy."""
    p = report["protocol"]
    lines = [
        f"{p['folds']}-fold cross-validation, {p['photos']} photos of {p['classes']} landmarks "
        f"(+ {p['non_landmark_photos']} without a landmark), near-duplicate groups kept in one fold; "
        f"mode {p['mode']}; mean ± sd over folds.",
        "",
        "| variant | top-1 | top-5 | GAP | GAP with non-landmark | non-landmark labelled | ECE |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in report["summary"].items():
        lines.append(
            f"| {name} | {_pm(s['top1'])} | {_pm(s['top5'])} | {_pm(s['gap'])} | {_pm(s['gap_with_non_landmark'])} "
            f"| {_pm(s['non_landmark_labelled_rate'], pct=True)} % | {_pm(s['ece'])} |"
        )
    first = next(iter(report["summary"].values()))
    names = list(report["summary"])
    lines += [
        "",
        "| class | photos | " + " | ".join(f"{n} (pooled; mean ± sd)" for n in names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for c in sorted(first["per_class_accuracy"], key=lambda c: first["per_class_accuracy"][c]["pooled"] or 0):
        cells = []
        for n in names:
            v = report["summary"][n]["per_class_accuracy"][c]
            cells.append(f"{v['pooled']:.3f} ({_pm(v)})")
        lines.append(f"| {c} | {first['per_class_accuracy'][c]['photos']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
