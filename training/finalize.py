"""From a trained ``LandmarkNet`` and its embeddings to a calibrated, documented model bundle.

Steps (all on the validation split, with ``core.scoring`` exactly as the app scores):
kNN constants + temperature (``training.calibration.tune_knn``; with non-landmark photos the grid
point whose threshold gives the best validation+non-landmark GAP), "no landmark" threshold,
``user_match_cosine``, validation metrics, plots, metrics JSON, the bundle.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.backbones import LandmarkNet
from core.catalog import classes_for_keys, load_catalog
from core.model_bundle import ModelBundle, ScoringParams, save_bundle
from core.scoring import calibrated_probs, fused_log_probs
from training import calibration, metrics
from training.config import TrainConfig
from training.transforms import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["Embedded", "finalize_run", "scored_metrics", "model_version_for"]

log = logging.getLogger(__name__)


@dataclass
class Embedded:
    """Unit embeddings ``(N, D)`` float32 and targets ``(N,)`` int64 (-1 for non-landmark photos)."""

    embeddings: torch.Tensor
    targets: torch.Tensor


def model_version_for(backbone: str, state_dict: dict, gallery: torch.Tensor | None, when: _dt.datetime) -> str:
    """``"<backbone>-<YYYYMMDD>-<8 hex of SHA-256 over head + gallery>"`` (changes whenever the weights change)."""
    h = hashlib.sha256()
    for k in sorted(state_dict):
        h.update(k.encode())
        h.update(state_dict[k].detach().cpu().contiguous().numpy().tobytes())
    if gallery is not None:
        h.update(gallery.to(torch.float16).numpy().tobytes())
    return f"{backbone}-{when:%Y%m%d}-{h.hexdigest()[:8]}"


def scored_metrics(probs: torch.Tensor, targets: torch.Tensor, threshold: float, classes: list[str],
                   non_landmark_probs: torch.Tensor | None = None) -> dict:
    """Every reported metric from calibrated probabilities.

    Args:
        probs: ``(N, C)`` calibrated probabilities of landmark photos; targets ``(N,)`` int64.
        threshold: "no landmark" threshold (label iff top-1 confidence ≥ threshold).
        classes: the C class keys. non_landmark_probs: ``(M, C)`` or None.
    Returns:
        dict with n, top1, top5, gap (landmark photos only), gap_with_non_landmark, ece (15 bins, top-1 of
        landmark photos), accuracy_with_rejection (labelled and right), landmark_labelled_rate,
        non_landmark_labelled_rate (None without such photos), per_class_accuracy, confusion (C×C list).
    """
    k = min(5, probs.shape[1])
    conf, pred = probs.max(1)
    topk = probs.topk(k, dim=1).indices.tolist()
    y = targets.tolist()
    labelled = [p if c >= threshold else None for p, c in zip(pred.tolist(), conf.tolist())]
    out = {
        "n": len(y),
        "top1": metrics.top_k_accuracy(topk, y, 1),
        "top5": metrics.top_k_accuracy(topk, y, k),
        "gap": metrics.global_average_precision(labelled, conf.tolist(), y),
        "ece": metrics.expected_calibration_error(conf.tolist(), (pred == targets).tolist()),
        "accuracy_with_rejection": float(np.mean([p == t for p, t in zip(labelled, y)])) if y else float("nan"),
        "landmark_labelled_rate": float(np.mean([p is not None for p in labelled])) if y else float("nan"),
        "per_class_accuracy": {classes[c]: a for c, a in metrics.per_class_accuracy(pred.tolist(), y).items()},
        "confusion": metrics.confusion_matrix(pred.tolist(), y, len(classes)).tolist(),
    }
    if non_landmark_probs is not None and non_landmark_probs.shape[0]:
        nconf, npred = non_landmark_probs.max(1)
        nl = [p if c >= threshold else None for p, c in zip(npred.tolist(), nconf.tolist())]
        out["n_non_landmark"] = len(nl)
        out["non_landmark_labelled_rate"] = metrics.non_landmark_labelled_rate(nl)
        out["gap_with_non_landmark"] = metrics.global_average_precision(
            labelled + nl, conf.tolist() + nconf.tolist(), y + [None] * len(nl))
    else:
        out["n_non_landmark"] = 0
        out["non_landmark_labelled_rate"] = None
        out["gap_with_non_landmark"] = None
    return out


def finalize_run(cfg: TrainConfig, model: LandmarkNet, classes: list[str], train: Embedded, val: Embedded,
                 non_landmark: torch.Tensor | None, history: list[dict], summary: dict) -> tuple[Path, dict]:
    """Calibrate, measure, plot and write the bundle.

    Args:
        model: trained ``LandmarkNet`` (CPU). classes: C keys in head order.
        train: clean-view training embeddings (the kNN gallery) and targets.
        val: clean-view validation embeddings and targets.
        non_landmark: ``(M, D)`` embeddings of non-landmark photos or None.
        history: per-epoch training records (for the curves). summary: run facts for ``bundle.training``.
    Returns:
        ``(bundle path, metrics dict)``; also writes ``metrics.json``, ``curves.png``, ``confusion.png``
        to the work dir.
    """
    from training.plots import plot_confusion, plot_curves

    work = cfg.resolved_work_dir()
    work.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    head = model.head
    # the bundle stores the gallery as float16; calibrate on exactly what the app will read
    gallery = train.embeddings.to(torch.float16).float()
    g_labels = train.targets.long()
    with torch.no_grad():
        val_logits = head(val.embeddings)
        nl_logits = head(non_landmark) if non_landmark is not None and len(non_landmark) else None
    w, tau, temp, grid = calibration.tune_knn(val_logits, val.embeddings, val.targets, gallery, g_labels)
    knn_rule = "lowest validation NLL after temperature scaling"
    if nl_logits is not None:
        # with non-landmark photos, pick the grid point that serves the app's decision best: the GAP
        # (validation + non-landmark) reached by its threshold; ties → lower NLL
        for row in grid:
            lp_v = fused_log_probs(val_logits, val.embeddings, gallery, g_labels, row["knn_weight"], row["knn_temperature"])
            lp_n = fused_log_probs(nl_logits, non_landmark, gallery, g_labels, row["knn_weight"], row["knn_temperature"])
            ch = calibration.choose_threshold(calibrated_probs(lp_v, row["temperature"]), val.targets,
                                              calibrated_probs(lp_n, row["temperature"]), cfg.max_non_landmark_rate)
            row["threshold_gap"] = ch.gap
        best = max(grid, key=lambda r: (round(r["threshold_gap"], 6), -r["nll"]))
        w, tau, temp = best["knn_weight"], best["knn_temperature"], best["temperature"]
        knn_rule = ("highest validation+non-landmark GAP at the chosen threshold; ties -> lower NLL "
                    "(T fitted by NLL for each grid point)")
    val_probs = calibrated_probs(fused_log_probs(val_logits, val.embeddings, gallery, g_labels, w, tau), temp)
    nl_probs = (calibrated_probs(fused_log_probs(nl_logits, non_landmark, gallery, g_labels, w, tau), temp)
                if nl_logits is not None else None)
    choice = calibration.choose_threshold(val_probs, val.targets, nl_probs, cfg.max_non_landmark_rate)
    match = calibration.median_same_class_cosine(val.embeddings, val.targets, gallery, g_labels, len(classes))
    defaults = ScoringParams()
    scoring = ScoringParams(knn_weight=w, knn_temperature=tau,
                            user_match_cosine=match if np.isfinite(match) else defaults.user_match_cosine,
                            user_match_width=defaults.user_match_width)
    val_metrics = scored_metrics(val_probs, val.targets, choice.threshold, classes, nl_probs)
    uncal = calibrated_probs(fused_log_probs(val_logits, val.embeddings, gallery, g_labels, w, tau), 1.0)
    val_metrics["ece_before_temperature"] = metrics.expected_calibration_error(
        uncal.max(1).values.tolist(), (uncal.argmax(1) == val.targets).tolist())

    now = _dt.datetime.now(_dt.timezone.utc)
    catalog = load_catalog(cfg.catalog) if cfg.catalog else load_catalog()
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    version = model_version_for(model.backbone_name, state, gallery, now)
    training_doc = {
        **summary,
        "created_utc": now.isoformat(timespec="seconds"),
        "config": cfg.to_json(),
        "calibration": {
            "method": "temperature scaling (Guo et al. 2017) of core.scoring.fused_log_probs, LBFGS on log T, "
                      "validation NLL; kNN gallery = training-split embeddings",
            "temperature": temp, "knn_weight": w, "knn_temperature": tau, "knn_rule": knn_rule, "grid": grid,
            "threshold_rule": f"largest validation+non-landmark GAP subject to <= {cfg.max_non_landmark_rate:.0%} "
                              "of non-landmark photos labelled; ties -> smallest threshold",
            "threshold": choice.threshold, "threshold_gap": choice.gap,
            "threshold_non_landmark_rate": choice.non_landmark_rate,
            "user_match_cosine_rule": "median over validation photos of the max cosine to a same-class "
                                      "training embedding",
        },
        "validation_metrics": {k: v for k, v in val_metrics.items() if k not in ("confusion",)},
        "history": history,
    }
    bundle = ModelBundle(
        backbone=model.backbone_name, input_size=cfg.input_size, resize_size=cfg.resize_size,
        mean=IMAGENET_MEAN, std=IMAGENET_STD, classes=classes_for_keys(classes, catalog),
        temperature=temp, no_landmark_threshold=choice.threshold, embedding_dim=model.embedding_dim,
        model_version=version, state_dict=state, gallery_embeddings=gallery, gallery_labels=g_labels,
        scoring=scoring, training=_jsonable(training_doc))
    path = save_bundle(bundle, cfg.output)
    all_metrics = {"model_version": version, "bundle": str(path), "validation": val_metrics,
                   "calibration": training_doc["calibration"], "summary": summary}
    (work / "metrics.json").write_text(json.dumps(_jsonable(all_metrics), indent=2, ensure_ascii=False))
    try:
        plot_curves(history, work / "curves.png")
        plot_confusion(np.asarray(val_metrics["confusion"]), classes, work / "confusion.png",
                       title=f"validation confusion matrix ({version})")
    except Exception as exc:  # plots are a convenience; never lose a trained model over them
        log.warning("could not draw plots: %s", exc)
    return path, all_metrics


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    if isinstance(x, Path):
        return str(x)
    return x
