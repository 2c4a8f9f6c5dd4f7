"""The run of an end-to-end mode (the network trained on images: ``finetune``, ``scratch``), data to bundle.

1. Join the process group under ``torchrun`` (``training.distributed``); seed torch with seed + rank.
2. Read the data (``training.data_setup``); the mode builds its network (``FitPlan``) for the classes.
3. Loaders (``training.loaders``), the epoch loop (``training.fit``).
4. Rank 0 only: the best epoch's weights, clean-view embeddings of the training (kNN gallery),
   validation and non-landmark photos with the app's preprocessing, then ``training.finalize``
   (calibration, metrics, plots, the bundle). Other ranks return None.

On CUDA the model runs channels-last (faster convolutions on tensor cores).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from training.checkpoint import load_best_weights
from training.config import TrainConfig
from training.data_setup import RunData, head_part, prepare_data
from training.distributed import DistInfo, cleanup_distributed, setup_distributed
from training.engine import uses_amp
from training.features import extract_embeddings
from training.finalize import Embedded, finalize_run
from training.fit import FitPlan, StoppedEarly, fit
from training.loaders import build_loaders
from training.transforms import eval_loader

__all__ = ["RunResult", "run_end_to_end"]

#: ``(bundle path, metrics)`` of ``training.finalize.finalize_run``.
RunResult = tuple[Path, dict]


def run_end_to_end(cfg: TrainConfig, device: torch.device, make_plan: Callable[[int], FitPlan]) -> RunResult | None:
    """Train the network ``make_plan(number of classes)`` returns and write the bundle on rank 0.

    Args:
        device: the single-process device; under ``torchrun`` on CUDA each process takes ``cuda:LOCAL_RANK``.
    Returns:
        ``(bundle path, metrics)`` on rank 0, None on other ranks, and on every rank when ``--max-steps`` stopped the
        run before its end (the checkpoint is written; ``--resume`` continues it).
    Raises:
        DatasetError, WeightsError, ValueError (bad settings), RuntimeError (process group, checkpoint).
    """
    t0 = time.monotonic()
    info = setup_distributed(device)
    try:
        torch.manual_seed(cfg.seed + info.rank)
        data = prepare_data(cfg)
        plan = make_plan(data.train.num_head_classes)  # gallery-only classes have no head row
        plan.model.to(info.device)
        if info.device.type == "cuda":
            plan.model.to(memory_format=torch.channels_last)
        try:
            history = fit(cfg, plan, build_loaders(cfg, head_part(data), info), info, t0)
        except StoppedEarly as exc:  # --max-steps: the checkpoint is written, no bundle yet
            if info.is_main:
                print(f"landmark-train: {exc}", flush=True)
            return None
        if not info.is_main:
            return None
        load_best_weights(cfg.resolved_work_dir(), plan.model)
        return _finalize(cfg, plan, data, info, history, t0)
    finally:
        cleanup_distributed(info)


def _embed(plan: FitPlan, paths: Sequence[Path], cfg: TrainConfig, device: torch.device, desc: str):
    """Clean-view embeddings ``(N, D)`` and validity ``(N,)`` of ``paths`` (the app's preprocessing)."""
    loader = eval_loader(cfg.input_size, cfg.resize_size)
    return extract_embeddings(
        plan.model,
        paths,
        loader,
        cfg.input_size,
        desc=desc,
        batch_size=cfg.batch_size,
        num_workers=cfg.workers,
        device=device,
    )


def _finalize(
    cfg: TrainConfig, plan: FitPlan, data: RunData, info: DistInfo, history: list[dict], t0: float
) -> RunResult:
    """Embed with the trained network and hand everything to ``finalize_run``."""
    model, device = plan.model, info.device
    model.eval()
    tr_e, tr_ok = _embed(plan, data.train.paths, cfg, device, "gallery")
    va_e, va_ok = _embed(plan, data.val.paths, cfg, device, "validation")
    nl_e = None
    if data.non_landmark:
        nl_e, nl_ok = _embed(plan, data.non_landmark, cfg, device, "non-landmark")
        nl_e = nl_e[nl_ok]
    yt, yv = torch.tensor(data.train.targets()), torch.tensor(data.val.targets())
    summary = {
        "mode": cfg.mode,
        "backbone": model.backbone_name,
        "backbone_weights": plan.backbone_weights,
        "num_classes": len(data.train.classes),
        "train_images": int(tr_ok.sum()),
        "val_images": int(va_ok.sum()),
        "non_landmark_images": 0 if nl_e is None else int(nl_e.shape[0]),
        "val_source": data.val_source,
        "head_classes": data.train.num_head_classes,
        "gallery_only_classes": data.dropped_classes,
        "data_report": data.train.report.to_json(),
        "min_images": cfg.min_images,
        "unfreeze_blocks": plan.unfreeze_blocks,
        "world_size": info.world_size,
        "device": str(device),
        "amp": uses_amp(cfg.amp, device),
        "epochs_run": len(history),
        "train_seconds": round(time.monotonic() - t0, 1),
    }
    return finalize_run(
        cfg,
        model.cpu(),
        data.train.classes,
        Embedded(tr_e[tr_ok], yt[tr_ok]),
        Embedded(va_e[va_ok], yv[va_ok]),
        nl_e,
        history,
        summary,
        names=data.train.categories,
    )
