"""From a trained ``LandmarkNet`` and its embeddings to a calibrated, documented model bundle.

Steps (all on the validation split, with ``core.recognition.scoring`` exactly as the app scores):
kNN constants + temperature (``training.calibration.tune_knn``; with non-landmark photos the grid
point whose threshold gives the best validation+non-landmark GAP), "no landmark" threshold,
``user_match_cosine``, validation metrics, plots, metrics JSON, the bundle.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from core.recognition.backbones import LandmarkNet
from core.recognition.bundle import ModelBundle, ScoringParams, save_bundle
from core.recognition.catalog import classes_for_keys, load_catalog
from core.recognition.scoring import (
    calibrated_probs,
    fused_log_probs,
    landmark_probability,
    max_similarity,
    with_no_landmark,
)
from training import calibration, metrics
from training.config import TrainConfig
from training.transforms import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["Calibration", "Embedded", "calibrate", "finalize_run", "model_version_for", "scored_metrics"]

log = logging.getLogger(__name__)


@dataclass
class Embedded:
    """Unit embeddings ``(N, D)`` float32 and targets ``(N,)`` int64 (-1 for non-landmark photos)."""

    embeddings: torch.Tensor
    targets: torch.Tensor


def model_version_for(
    backbone: str, state_dict: dict, gallery: torch.Tensor | None, when: _dt.datetime, scoring_doc: dict | None = None
) -> str:
    """``"<backbone>-<YYYYMMDD>-<8 hex of SHA-256>"`` over the weights, the gallery and ``scoring_doc``
    (temperature, threshold, scoring constants, class keys): it changes whenever anything that changes
    a prediction changes, so labels stored by the app under an older version are recognisably stale."""
    h = hashlib.sha256(json.dumps(scoring_doc or {}, sort_keys=True).encode())
    for k in sorted(state_dict):
        h.update(k.encode())
        h.update(state_dict[k].detach().cpu().contiguous().numpy().tobytes())
    if gallery is not None:
        h.update(gallery.to(torch.float16).numpy().tobytes())
    return f"{backbone}-{when:%Y%m%d}-{h.hexdigest()[:8]}"


def scored_metrics(
    probs: torch.Tensor,
    targets: torch.Tensor,
    threshold: float,
    classes: list[str],
    non_landmark_probs: torch.Tensor | None = None,
    no_landmark_index: int | None = None,
) -> dict:
    """Every reported metric from the app's final probabilities (what ``Recognizer`` computes).

    Args:
        probs: ``(N, L)`` probabilities of landmark photos, L = C, or C + 1 with ``NO_LANDMARK`` in column
            ``no_landmark_index`` (= C) when the bundle has a landmark gate; targets ``(N,)`` int64 in [0, C).
        threshold: a photo is labelled iff its top-1 is a landmark and its confidence ≥ threshold.
        classes: the C class keys. non_landmark_probs: ``(M, L)`` or None.
    Returns:
        dict with n, top1, top5 (ranking over the L labels: "no landmark" ranked first counts as wrong),
        gap (landmark photos only), gap_with_non_landmark, ece (15 bins, top-1 of landmark photos),
        accuracy_with_rejection (labelled and right), landmark_labelled_rate, non_landmark_labelled_rate
        (None without such photos), per_class_accuracy (top-1), confusion (rows true, columns the app's
        decision; with a gate one extra row/column "no landmark" holding the non-landmark photos).
    """
    c_count = len(classes)
    nl_idx = no_landmark_index

    def decide(p: torch.Tensor):
        conf, pred = p.max(1)
        conf_l, pred_l = conf.tolist(), pred.tolist()
        labelled = [k if (c >= threshold and k != nl_idx) else None for k, c in zip(pred_l, conf_l)]
        return conf_l, pred_l, labelled

    k = min(5, probs.shape[1])
    conf, pred, labelled = decide(probs)
    topk = probs.topk(k, dim=1).indices.tolist()
    y = targets.tolist()
    width = c_count + 1
    decision = [c_count if lab is None else lab for lab in labelled]  # the app's answer; C = "no landmark"
    out = {
        "n": len(y),
        "top1": metrics.top_k_accuracy(topk, y, 1),
        "top5": metrics.top_k_accuracy(topk, y, k),
        "gap": metrics.global_average_precision(labelled, conf, y),
        "ece": metrics.expected_calibration_error(conf, [a == b for a, b in zip(pred, y)]),
        "accuracy_with_rejection": float(np.mean([p == t for p, t in zip(labelled, y)])) if y else float("nan"),
        "landmark_labelled_rate": float(np.mean([p is not None for p in labelled])) if y else float("nan"),
        "per_class_accuracy": {classes[c]: a for c, a in metrics.per_class_accuracy(pred, y).items()},
    }
    truth_rows, decided = list(y), list(decision)
    if non_landmark_probs is not None and non_landmark_probs.shape[0]:
        nconf, _, nl = decide(non_landmark_probs)
        out["n_non_landmark"] = len(nl)
        out["non_landmark_labelled_rate"] = metrics.non_landmark_labelled_rate(nl)
        out["gap_with_non_landmark"] = metrics.global_average_precision(
            labelled + nl, conf + nconf, y + [None] * len(nl)
        )
        truth_rows += [c_count] * len(nl)
        decided += [c_count if lab is None else lab for lab in nl]
    else:
        out["n_non_landmark"] = 0
        out["non_landmark_labelled_rate"] = None
        out["gap_with_non_landmark"] = None
    out["confusion"] = metrics.confusion_matrix(decided, truth_rows, width).tolist()
    out["confusion_labels"] = list(classes) + ["(no landmark)"]
    return out


def _final_probs(
    logits: torch.Tensor,
    emb: torch.Tensor,
    gallery: torch.Tensor,
    g_labels: torch.Tensor,
    w: float,
    tau: float,
    temp: float,
    gate: tuple[float, float] | None,
) -> torch.Tensor:
    """The app's probabilities (``Recognizer._score`` without a user gallery): ``(N, C)`` or ``(N, C+1)``."""
    p = calibrated_probs(fused_log_probs(logits, emb, gallery, g_labels, w, tau), temp)
    if gate is None:
        return p
    return with_no_landmark(p, landmark_probability(max_similarity(emb, gallery), gate[0], gate[1]))


class _FusionFit(NamedTuple):
    """kNN fusion constants, temperature and landmark gate chosen on validation (see ``_fit_fusion``)."""

    knn_weight: float
    knn_temperature: float
    temperature: float
    grid: list[dict]
    knn_rule: str
    gate: tuple[float, float] | None

    def probs(self, logits: torch.Tensor, emb: torch.Tensor, gallery: torch.Tensor, g_labels: torch.Tensor):
        return _final_probs(
            logits, emb, gallery, g_labels, self.knn_weight, self.knn_temperature, self.temperature, self.gate
        )


def _fit_fusion(
    cfg: TrainConfig,
    val_logits: torch.Tensor,
    val: Embedded,
    nl_logits: torch.Tensor | None,
    non_landmark: torch.Tensor | None,
    gallery: torch.Tensor,
    g_labels: torch.Tensor,
    num_classes: int,
) -> _FusionFit:
    """kNN constants + temperature by validation NLL; with non-landmark photos, the landmark gate and
    the grid point whose threshold gives the best validation+non-landmark GAP (ties → lower NLL)."""
    w, tau, temp, grid = calibration.tune_knn(val_logits, val.embeddings, val.targets, gallery, g_labels)
    if nl_logits is None or non_landmark is None:
        return _FusionFit(w, tau, temp, grid, "lowest validation NLL after temperature scaling", None)
    # open-set landmark gate (core.recognition.scoring step 5) from the nearest-gallery cosine
    gate = calibration.fit_landmark_gate(max_similarity(val.embeddings, gallery), max_similarity(non_landmark, gallery))
    for row in grid:
        fit = _FusionFit(row["knn_weight"], row["knn_temperature"], row["temperature"], grid, "", gate)
        ch = calibration.choose_threshold(
            fit.probs(val_logits, val.embeddings, gallery, g_labels),
            val.targets,
            fit.probs(nl_logits, non_landmark, gallery, g_labels),
            cfg.max_non_landmark_rate,
            num_classes,
        )
        row["threshold_gap"] = ch.gap
    best = max(grid, key=lambda r: (round(r["threshold_gap"], 6), -r["nll"]))
    rule = (
        "highest validation+non-landmark GAP at the chosen threshold; ties -> lower NLL "
        "(T fitted by NLL for each grid point)"
    )
    return _FusionFit(best["knn_weight"], best["knn_temperature"], best["temperature"], grid, rule, gate)


@dataclass
class Calibration:
    """What ``calibrate`` fits on the validation split and what it measures there.

    Attributes:
        gallery: ``(G, D)`` float32 training embeddings rounded to float16 (what the bundle stores);
            gallery_labels ``(G,)`` int64.
        temperature: T. threshold: the "no landmark" threshold choice. scoring: the bundle's constants.
        doc: the bundle's ``training.calibration`` (method, grid, rules, values).
        val_metrics: ``scored_metrics`` of the validation (+ non-landmark) photos, plus
            ``ece_before_temperature``.
    """

    gallery: torch.Tensor
    gallery_labels: torch.Tensor
    temperature: float
    threshold: calibration.ThresholdChoice
    scoring: ScoringParams
    doc: dict
    val_metrics: dict


def _scoring_params(fusion: _FusionFit, match: float) -> ScoringParams:
    defaults = ScoringParams()
    gate = fusion.gate
    return ScoringParams(
        knn_weight=fusion.knn_weight,
        knn_temperature=fusion.knn_temperature,
        user_match_cosine=match if np.isfinite(match) else defaults.user_match_cosine,
        user_match_width=defaults.user_match_width,
        landmark_gate_cosine=None if gate is None else gate[0],
        landmark_gate_width=defaults.landmark_gate_width if gate is None else gate[1],
    )


def _calibration_doc(
    cfg: TrainConfig, fusion: _FusionFit, choice: calibration.ThresholdChoice, teach: dict, median_match: float
) -> dict:
    """The bundle's ``training.calibration``: every fitted value with the rule that chose it."""
    gate = fusion.gate
    return {
        "method": "temperature scaling (Guo et al. 2017) of core.recognition.scoring.fused_log_probs, LBFGS on log T, "
        "validation NLL; kNN gallery = training-split embeddings",
        "temperature": fusion.temperature,
        "knn_weight": fusion.knn_weight,
        "knn_temperature": fusion.knn_temperature,
        "knn_rule": fusion.knn_rule,
        "grid": fusion.grid,
        "threshold_rule": f"largest validation+non-landmark GAP subject to <= {cfg.max_non_landmark_rate:.0%} "
        "of non-landmark photos labelled; ties -> smallest threshold",
        "landmark_gate": None
        if gate is None
        else {
            "cosine": gate[0],
            "width": gate[1],
            "rule": "class-balanced logistic regression of the highest gallery cosine: validation landmark "
            "photos vs non-landmark photos",
        },
        "threshold": choice.threshold,
        "threshold_gap": choice.gap,
        "threshold_non_landmark_rate": choice.non_landmark_rate,
        "user_match_cosine": teach["cosine"],
        "user_match_simulation": teach,
        "user_match_cosine_rule": "simulated teaching on validation: 3 training photos per landmark taught; "
        "95th percentile of other landmarks' photos' max cosine to them",
        "median_same_class_cosine": median_match,
    }


def calibrate(
    cfg: TrainConfig,
    head: torch.nn.Module,
    classes: list[str],
    train: Embedded,
    val: Embedded,
    non_landmark: torch.Tensor | None,
) -> Calibration:
    """Fit the scoring constants, temperature, landmark gate and threshold on validation, and measure.

    Args: as ``finalize_run`` (``head``: the model's linear head, CPU).
    """
    c_count = len(classes)
    # the bundle stores the gallery as float16; calibrate on exactly what the app will read
    gallery = train.embeddings.to(torch.float16).float()
    g_labels = train.targets.long()
    with torch.no_grad():
        val_logits = head(val.embeddings)
        nl_logits = head(non_landmark) if non_landmark is not None and len(non_landmark) else None
    fusion = _fit_fusion(cfg, val_logits, val, nl_logits, non_landmark, gallery, g_labels, c_count)
    nl_idx = None if fusion.gate is None else c_count
    val_probs = fusion.probs(val_logits, val.embeddings, gallery, g_labels)
    nl_probs = (
        fusion.probs(nl_logits, non_landmark, gallery, g_labels)
        if nl_logits is not None and non_landmark is not None
        else None
    )
    choice = calibration.choose_threshold(val_probs, val.targets, nl_probs, cfg.max_non_landmark_rate, nl_idx)
    median_match = calibration.median_same_class_cosine(val.embeddings, val.targets, gallery, g_labels, c_count)
    teach = calibration.teaching_match_cosine(val.embeddings, val.targets, gallery, g_labels, c_count, seed=cfg.seed)
    scoring = _scoring_params(fusion, teach["cosine"])
    val_metrics = scored_metrics(val_probs, val.targets, choice.threshold, classes, nl_probs, nl_idx)
    uncal = calibrated_probs(
        fused_log_probs(val_logits, val.embeddings, gallery, g_labels, fusion.knn_weight, fusion.knn_temperature), 1.0
    )
    val_metrics["ece_before_temperature"] = metrics.expected_calibration_error(
        uncal.max(1).values.tolist(), (uncal.argmax(1) == val.targets).tolist()
    )
    doc = _calibration_doc(cfg, fusion, choice, teach, median_match)
    return Calibration(gallery, g_labels, fusion.temperature, choice, scoring, doc, val_metrics)


def _make_bundle(
    cfg: TrainConfig, model: LandmarkNet, classes: list[str], cal: Calibration, training_doc: dict, now: _dt.datetime
) -> ModelBundle:
    """The bundle of the calibrated model; ``training_doc`` (summary, config, calibration, validation
    metrics, history) is stored as ``bundle.training``."""
    catalog = load_catalog(cfg.catalog) if cfg.catalog else load_catalog()
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    scoring_doc = {
        "scoring": dataclasses.asdict(cal.scoring),
        "temperature": cal.temperature,
        "threshold": cal.threshold.threshold,
        "classes": list(classes),
        "input_size": cfg.input_size,
        "resize_size": cfg.resize_size,
    }
    return ModelBundle(
        backbone=model.backbone_name,
        input_size=cfg.input_size,
        resize_size=cfg.resize_size,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        classes=classes_for_keys(classes, catalog),
        temperature=cal.temperature,
        no_landmark_threshold=cal.threshold.threshold,
        embedding_dim=model.embedding_dim,
        model_version=model_version_for(model.backbone_name, state, cal.gallery, now, scoring_doc),
        state_dict=state,
        gallery_embeddings=cal.gallery,
        gallery_labels=cal.gallery_labels,
        scoring=cal.scoring,
        training=_jsonable(training_doc),
    )


def _write_reports(work: Path, all_metrics: dict, history: list[dict], val_metrics: dict, version: str) -> None:
    """``metrics.json``, ``curves.png`` and ``confusion.png`` in ``work`` (a plot that fails is a warning)."""
    from training.plots import plot_confusion, plot_curves

    (work / "metrics.json").write_text(json.dumps(_jsonable(all_metrics), indent=2, ensure_ascii=False))
    try:
        plot_curves(history, work / "curves.png")
        plot_confusion(
            np.asarray(val_metrics["confusion"]),
            val_metrics["confusion_labels"],
            work / "confusion.png",
            title=f"validation confusion matrix ({version})",
        )
    except Exception as exc:  # noqa: BLE001 - plots are a convenience; never lose a trained model over them
        log.warning("could not draw plots: %s", exc)


def finalize_run(
    cfg: TrainConfig,
    model: LandmarkNet,
    classes: list[str],
    train: Embedded,
    val: Embedded,
    non_landmark: torch.Tensor | None,
    history: list[dict],
    summary: dict,
) -> tuple[Path, dict]:
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
    Raises:
        BundleError / OSError: the bundle cannot be written.
    """
    work = cfg.resolved_work_dir()
    work.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    cal = calibrate(cfg, model.head, classes, train, val, non_landmark)
    now = _dt.datetime.now(_dt.timezone.utc)
    training_doc = {
        **summary,
        "created_utc": now.isoformat(timespec="seconds"),
        "config": cfg.to_json(),
        "calibration": cal.doc,
        "validation_metrics": {k: v for k, v in cal.val_metrics.items() if k not in ("confusion", "confusion_labels")},
        "history": history,
    }
    bundle = _make_bundle(cfg, model, classes, cal, training_doc, now)
    path = save_bundle(bundle, cfg.output)
    all_metrics = {
        "model_version": bundle.model_version,
        "bundle": str(path),
        "validation": cal.val_metrics,
        "calibration": cal.doc,
        "summary": summary,
    }
    _write_reports(work, all_metrics, history, cal.val_metrics, bundle.model_version)
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
