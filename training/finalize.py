"""From a trained ``LandmarkNet`` and its embeddings to a calibrated, documented model bundle.

Steps (all on the validation split, with ``core.recognition.scoring`` exactly as the app scores):
kNN constants + temperature (``training.calibration.tune_knn``; with non-landmark photos the grid
point whose threshold gives the best validation+non-landmark GAP), "no landmark" threshold,
``user_match_cosine``, validation metrics (with the long-tail view: top-1 and GAP by class-frequency bucket,
``training.metrics.long_tail_metrics``), plots, metrics JSON, the bundle.

Classes the head has no row for (fewer photos than ``--min-images``: the head's H outputs are the first H classes)
are scored through the gallery alone. A gallery of more than ``core.recognition.gallery.EXACT_LIMIT`` photos (or
``--gallery compressed``) becomes a compressed one (class prototypes in a FAISS IVF-SQ8 index, bundle format 2),
and the calibration then scores exactly as the app scores such a bundle: over each photo's candidate classes
(``_calibrate_compressed``). Landmark display names come from the catalog, else from the dataset's categories
(GLDv2's ``train_label_to_category.csv``), else from the key.
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
from core.recognition.bundle import LandmarkClass, ModelBundle, ScoringParams, save_bundle
from core.recognition.catalog import classes_for_keys, load_catalog
from core.recognition.gallery import EXACT_LIMIT, CompressedGallery, build_compressed_gallery
from core.recognition.scoring import (
    calibrated_probs,
    candidate_log_probs,
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
    if gallery is not None:  # embeddings (float16 as stored) or a compressed gallery's index bytes
        h.update((gallery if gallery.dtype == torch.uint8 else gallery.to(torch.float16)).numpy().tobytes())
    return f"{backbone}-{when:%Y%m%d}-{h.hexdigest()[:8]}"


def scored_metrics(
    probs: torch.Tensor,
    targets: torch.Tensor,
    threshold: float,
    classes: list[str],
    non_landmark_probs: torch.Tensor | None = None,
    no_landmark_index: int | None = None,
    train_counts: list[int] | None = None,
) -> dict:
    """Every reported metric from the app's final probabilities (what ``Recognizer`` computes).

    ``train_counts``: training photos per class (C ints): adds ``long_tail`` (``metrics.long_tail_metrics``).

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
    if train_counts is not None:
        out["long_tail"] = metrics.long_tail_metrics(
            pred, labelled, conf, y, {c: n for c, n in enumerate(train_counts)}
        )
    if c_count <= 500:  # a 81 000² matrix is of no use to anyone
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
    """The app's probabilities (``Recognizer._score`` without a user gallery): ``(N, C)`` or ``(N, C+1)``;
    ``logits`` are already padded to C columns (``-inf`` for classes without a head row)."""
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
        gallery: ``(G, D)`` float32 training embeddings rounded to float16 (what the bundle stores), or ``None``
            for a compressed gallery; gallery_labels ``(G,)`` int64 (the prototypes' classes when compressed).
        gallery_index: ``(S,)`` uint8 FAISS index of a compressed gallery, or ``None``; gallery_params its JSON.
        temperature: T. threshold: the "no landmark" threshold choice. scoring: the bundle's constants.
        doc: the bundle's ``training.calibration`` (method, grid, rules, values).
        val_metrics: ``scored_metrics`` of the validation (+ non-landmark) photos, plus
            ``ece_before_temperature``.
    """

    gallery: torch.Tensor | None
    gallery_labels: torch.Tensor
    temperature: float
    threshold: calibration.ThresholdChoice
    scoring: ScoringParams
    doc: dict
    val_metrics: dict
    gallery_index: torch.Tensor | None = None
    gallery_params: dict | None = None


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

    Args: as ``finalize_run`` (``head``: the model's linear head, CPU, with H ≤ C outputs: the first H classes).
    """
    c_count = len(classes)
    train_counts = torch.bincount(train.targets.long(), minlength=c_count).tolist()
    if _compressed(cfg, len(train.targets)):
        return _calibrate_compressed(cfg, head, classes, train, val, non_landmark, train_counts)
    # the bundle stores the gallery as float16; calibrate on exactly what the app will read
    gallery = train.embeddings.to(torch.float16).float()
    g_labels = train.targets.long()
    with torch.no_grad():
        val_logits = _pad(head(val.embeddings), c_count)
        nl_logits = _pad(head(non_landmark), c_count) if non_landmark is not None and len(non_landmark) else None
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
    val_metrics = scored_metrics(val_probs, val.targets, choice.threshold, classes, nl_probs, nl_idx, train_counts)
    uncal = calibrated_probs(
        fused_log_probs(val_logits, val.embeddings, gallery, g_labels, fusion.knn_weight, fusion.knn_temperature), 1.0
    )
    val_metrics["ece_before_temperature"] = metrics.expected_calibration_error(
        uncal.max(1).values.tolist(), (uncal.argmax(1) == val.targets).tolist()
    )
    doc = _calibration_doc(cfg, fusion, choice, teach, median_match)
    return Calibration(gallery, g_labels, fusion.temperature, choice, scoring, doc, val_metrics)


def _pad(logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(N, H)`` head logits → ``(N, C)`` with ``-inf`` for the classes without a head row."""
    if logits.shape[1] == num_classes:
        return logits
    out = torch.full((logits.shape[0], num_classes), float("-inf"), dtype=logits.dtype)
    out[:, : logits.shape[1]] = logits
    return out


def _compressed(cfg: TrainConfig, photos: int) -> bool:
    """Whether the bundle gets a compressed gallery (``cfg.gallery``: auto = more than ``EXACT_LIMIT`` photos)."""
    return cfg.gallery == "compressed" or (cfg.gallery == "auto" and photos > EXACT_LIMIT)


class _Candidates(NamedTuple):
    """Photos scored over their candidate classes (``core.recognition.scoring.candidate_log_probs``): classes
    ``(N, K)`` (-1 masked), head logits and class similarities ``(N, K)`` (-inf masked), top-1 similarity ``(N,)``."""

    classes: torch.Tensor
    logits: torch.Tensor
    sims: torch.Tensor
    s_max: torch.Tensor

    def slot_of(self, targets: torch.Tensor) -> torch.Tensor:
        """``(N,)`` the slot holding each photo's true class, or -1 when the gallery did not retrieve it."""
        hit = self.classes == targets.long().unsqueeze(1)
        return torch.where(hit.any(1), hit.float().argmax(1), -1)

    def probs(self, w: float, tau: float, temp: float, gate: tuple[float, float] | None) -> torch.Tensor:
        """``(N, K)`` (``(N, K + 1)`` with the gate, column K = "no landmark") calibrated probabilities."""
        p = torch.nan_to_num(calibrated_probs(candidate_log_probs(self.logits, self.sims, w, tau), temp), nan=0.0)
        if gate is None:
            return p
        return with_no_landmark(p, landmark_probability(self.s_max, gate[0], gate[1]))


def _candidates(gallery: CompressedGallery, head: torch.nn.Module, emb: torch.Tensor, chunk: int = 4096) -> _Candidates:
    """Score ``emb`` ``(N, D)`` against a compressed gallery as ``Recognizer._score_compressed`` does (with the head
    weights rounded to float16, as the bundle stores them)."""
    parts = []
    weight, bias = head.weight, head.bias
    assert isinstance(weight, torch.Tensor) and isinstance(bias, torch.Tensor)
    w, b = weight.detach().to(torch.float16).float(), bias.detach().float()
    n_head = w.shape[0]
    for i in range(0, emb.shape[0], chunk):
        e = emb[i : i + chunk].float()
        cls_np, sims_np = gallery.class_candidates(e.numpy())
        cls, sims = torch.from_numpy(cls_np), torch.from_numpy(sims_np)
        rows = cls.clamp(min=0, max=n_head - 1)
        logits = torch.einsum("nkd,nd->nk", w[rows], e) + b[rows]
        logits = torch.where((cls >= 0) & (cls < n_head), logits, float("-inf"))
        s_max = torch.where(torch.isfinite(sims[:, 0]), sims[:, 0], -1.0)
        parts.append((cls, logits, sims, s_max))
    return _Candidates(*(torch.cat([p[j] for p in parts]) for j in range(4)))


def _calibrate_compressed(
    cfg: TrainConfig,
    head: torch.nn.Module,
    classes: list[str],
    train: Embedded,
    val: Embedded,
    non_landmark: torch.Tensor | None,
    train_counts: list[int],
) -> Calibration:
    """``calibrate`` for a compressed gallery: build it, then fit w, τ, T (validation NLL over the photos whose
    true class was retrieved), the landmark gate and the threshold on the candidate-class probabilities."""
    data, plabels, params = build_compressed_gallery(
        train.embeddings.float().numpy(), train.targets.numpy(), per_class=cfg.prototypes_per_class, seed=cfg.seed
    )
    gallery = CompressedGallery(data, plabels, params, train.embeddings.shape[1])
    with torch.no_grad():
        vc = _candidates(gallery, head, val.embeddings)
        nc = _candidates(gallery, head, non_landmark) if non_landmark is not None and len(non_landmark) else None
    slot = vc.slot_of(val.targets)
    found = slot >= 0
    grid = []
    best = None
    for w, tau in calibration.KNN_GRID:
        lp = candidate_log_probs(vc.logits, vc.sims, w, tau)
        t = calibration.fit_temperature(lp[found], slot[found]) if bool(found.any()) else 1.0
        loss = calibration.nll(lp[found], slot[found], t) if bool(found.any()) else float("inf")
        row = {"knn_weight": w, "knn_temperature": tau, "temperature": t, "nll": loss}
        grid.append(row)
        if best is None or loss < best["nll"]:
            best = row
    assert best is not None
    gate = None
    if nc is not None:
        gate = calibration.fit_landmark_gate(vc.s_max, nc.s_max)
    w, tau, temp = best["knn_weight"], best["knn_temperature"], best["temperature"]
    nl_idx = None if gate is None else vc.classes.shape[1]
    val_p = vc.probs(w, tau, temp, gate)
    nl_p = None if nc is None else nc.probs(w, tau, temp, gate)
    choice = calibration.choose_threshold(val_p, slot, nl_p, cfg.max_non_landmark_rate, nl_idx)
    fusion = _FusionFit(w, tau, temp, grid, "lowest validation NLL (photos whose class was retrieved)", gate)
    scoring = _scoring_params(fusion, float("nan"))
    # metrics in class space: a slot's class, "no landmark" as None
    classes_ext = torch.cat([vc.classes, torch.full((len(vc.classes), 1), -1)], 1)
    val_metrics = _slot_metrics(val_p, classes_ext, val.targets, choice.threshold, nl_idx, nl_p, train_counts)
    doc = _calibration_doc(cfg, fusion, choice, {"cosine": None, "rule": "not simulated for compressed galleries"}, 0.0)
    doc["gallery"] = params.to_json()
    doc["retrieved_true_class_rate"] = float(found.float().mean()) if len(found) else None
    return Calibration(
        None,
        torch.from_numpy(plabels),
        temp,
        choice,
        scoring,
        doc,
        val_metrics,
        gallery_index=torch.from_numpy(data),
        gallery_params=params.to_json(),
    )


def _slot_metrics(
    probs: torch.Tensor,
    slot_classes: torch.Tensor,
    targets: torch.Tensor,
    threshold: float,
    nl_idx: int | None,
    nl_probs: torch.Tensor | None,
    train_counts: list[int],
) -> dict:
    """The metrics of ``scored_metrics`` (no confusion matrix, no per-class table) from candidate-slot probabilities."""
    k = min(5, probs.shape[1])
    conf, top = probs.topk(k, dim=1)
    ranked = torch.gather(slot_classes, 1, top).tolist()
    pred = [r[0] for r in ranked]
    c0 = conf[:, 0].tolist()
    y = targets.tolist()
    labelled = [
        p if (c >= threshold and p >= 0 and (nl_idx is None or t != nl_idx)) else None
        for p, c, t in zip(pred, c0, top[:, 0].tolist())
    ]
    out = {
        "n": len(y),
        "top1": metrics.top_k_accuracy(ranked, y, 1),
        "top5": metrics.top_k_accuracy(ranked, y, k),
        "gap": metrics.global_average_precision(labelled, c0, y),
        "ece": metrics.expected_calibration_error(
            [min(max(c, 0.0), 1.0) for c in c0], [a == b for a, b in zip(pred, y)]
        ),
        "accuracy_with_rejection": float(np.mean([p == t for p, t in zip(labelled, y)])) if y else float("nan"),
        "landmark_labelled_rate": float(np.mean([p is not None for p in labelled])) if y else float("nan"),
        "long_tail": metrics.long_tail_metrics(pred, labelled, c0, y, {c: n for c, n in enumerate(train_counts)}),
        "n_non_landmark": 0,
        "non_landmark_labelled_rate": None,
        "gap_with_non_landmark": None,
    }
    if nl_probs is not None and nl_probs.shape[0]:
        nconf, ntop = nl_probs.max(1)
        nl = [
            0 if (c >= threshold and (nl_idx is None or t != nl_idx)) else None
            for c, t in zip(nconf.tolist(), ntop.tolist())
        ]
        out["n_non_landmark"] = len(nl)
        out["non_landmark_labelled_rate"] = metrics.non_landmark_labelled_rate(nl)
        out["gap_with_non_landmark"] = metrics.global_average_precision(
            labelled + [-2 if v is not None else None for v in nl], c0 + nconf.tolist(), y + [None] * len(nl)
        )
    return out


def _make_bundle(
    cfg: TrainConfig,
    model: LandmarkNet,
    classes: list[str],
    cal: Calibration,
    training_doc: dict,
    now: _dt.datetime,
    names: dict[str, str] | None = None,
) -> ModelBundle:
    """The bundle of the calibrated model; ``training_doc`` (summary, config, calibration, validation
    metrics, history) is stored as ``bundle.training``; ``names``: display names of keys the catalog lacks."""
    catalog = dict(load_catalog(cfg.catalog) if cfg.catalog else load_catalog())
    for key, name in (names or {}).items():
        if key not in catalog and name:
            catalog[key] = LandmarkClass(key=key, name=name)
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
        model_version=model_version_for(
            model.backbone_name,
            state,
            cal.gallery if cal.gallery is not None else cal.gallery_index,
            now,
            scoring_doc,
        ),
        state_dict=state,
        gallery_embeddings=cal.gallery,
        gallery_labels=cal.gallery_labels,
        scoring=cal.scoring,
        training=_jsonable(training_doc),
        head_classes=model.head.out_features if model.head.out_features != len(classes) else None,
        gallery_index=cal.gallery_index,
        gallery_params=cal.gallery_params,
    )


def _write_reports(work: Path, all_metrics: dict, history: list[dict], val_metrics: dict, version: str) -> None:
    """``metrics.json``, ``curves.png`` and ``confusion.png`` in ``work`` (a plot that fails is a warning)."""
    from training.plots import plot_confusion, plot_curves

    (work / "metrics.json").write_text(json.dumps(_jsonable(all_metrics), indent=2, ensure_ascii=False))
    try:
        plot_curves(history, work / "curves.png")
        if "confusion" not in val_metrics:  # left out for thousands of classes
            return
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
    names: dict[str, str] | None = None,
) -> tuple[Path, dict]:
    """Calibrate, measure, plot and write the bundle.

    Args:
        model: trained ``LandmarkNet`` (CPU). classes: C keys in head order.
        train: clean-view training embeddings (the kNN gallery) and targets.
        val: clean-view validation embeddings and targets.
        non_landmark: ``(M, D)`` embeddings of non-landmark photos or None.
        history: per-epoch training records (for the curves). summary: run facts for ``bundle.training``.
        names: display names of class keys the landmark catalog does not know (GLDv2 categories).
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
    training_doc["class_image_counts"] = torch.bincount(train.targets.long(), minlength=len(classes)).tolist()
    bundle = _make_bundle(cfg, model, classes, cal, training_doc, now, names)
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
