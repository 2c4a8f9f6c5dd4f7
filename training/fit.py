"""The epoch loop of the end-to-end modes: optimisation, DistributedDataParallel, early stopping,
a checkpoint after every epoch and ``--resume``.

Each epoch is ``engine.train_one_epoch`` then ``engine.evaluate``; its record (``history``) holds epoch,
train_loss, train_acc, val_loss, val_acc, lr (the head's, after the epoch) and seconds since the run
started. Training stops after ``cfg.epochs`` epochs, or once ``cfg.patience`` (> 0) epochs in a row
did not lower the best validation loss by more than ``MIN_IMPROVEMENT``.

Mid-epoch: with ``cfg.checkpoint_every`` the checkpoint is also written every that many steps, with the sampler's
position (``training.distributed.ResumableSampler``); ``--resume`` then trains the rest of that epoch on exactly the
samples an uninterrupted run would have seen (its record's train loss/accuracy cover that rest). ``cfg.max_steps``
stops a run after that many steps of this process (checkpoint written): ``fit`` then raises ``StoppedEarly``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from core.recognition.backbones import LandmarkNet
from training.checkpoint import CHECKPOINT_FILE, TrainState, load_checkpoint, save_checkpoint
from training.config import TrainConfig
from training.distributed import DistInfo
from training.engine import PassMetrics, evaluate, train_one_epoch, uses_amp
from training.loaders import Loaders
from training.optim import Optimisation, build_optimisation, parameter_groups

__all__ = ["MIN_IMPROVEMENT", "FitPlan", "StoppedEarly", "fit"]

log = logging.getLogger(__name__)

#: A validation loss counts as better when it is below the best so far by more than this.
MIN_IMPROVEMENT = 1e-5


class StoppedEarly(Exception):
    """``cfg.max_steps`` reached: the checkpoint holds the run's state; ``--resume`` continues it."""


@dataclass
class FitPlan:
    """What an end-to-end mode trains: the model, the backbone blocks kept frozen (their BatchNorm in
    eval mode), the learning rates of the head and of the trainable backbone layers, and how the
    bundle's training summary describes the start (``backbone_weights``, ``unfreeze_blocks``)."""

    model: LandmarkNet
    frozen_blocks: list[nn.Module]
    lr: float
    backbone_lr: float
    backbone_weights: str
    unfreeze_blocks: int | None = None


def _parallel(model: nn.Module, info: DistInfo) -> nn.Module:
    """``model`` wrapped in DistributedDataParallel under ``torchrun``, else itself."""
    if not info.enabled:
        return model
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def _resume(cfg: TrainConfig, work: Path, plan: FitPlan, optimisation: Optimisation, info: DistInfo) -> TrainState:
    """The state to start from: the work dir's checkpoint with ``--resume`` (a warning when there is
    none), else a fresh one."""
    if not cfg.resume:
        return TrainState()
    state = load_checkpoint(work, plan.model, optimisation)
    if state is None:
        if info.is_main:
            log.warning("--resume: no checkpoint at %s, starting fresh", work / CHECKPOINT_FILE)
        return TrainState()
    if info.is_main:
        at = f", sample {state.position} of each process's shard" if state.position else ""
        log.info("resumed from %s at epoch %d%s", work / CHECKPOINT_FILE, state.epoch + 1, at)
    return state


def _record(epoch: int, train: PassMetrics, val: PassMetrics, lr: float, t0: float) -> dict:
    return {
        "epoch": epoch,
        "train_loss": train.loss,
        "train_acc": train.accuracy,
        "val_loss": val.loss,
        "val_acc": val.accuracy,
        "lr": lr,
        "seconds": round(time.monotonic() - t0, 1),
    }


def _update(state: TrainState, rec: dict) -> bool:
    """Add an epoch's record to ``state``; returns whether it is the best epoch so far."""
    state.epoch = rec["epoch"]
    state.history.append(rec)
    improved = rec["val_loss"] < state.best_loss - MIN_IMPROVEMENT
    if improved:
        state.best_loss, state.bad_epochs = rec["val_loss"], 0
    else:
        state.bad_epochs += 1
    return improved


def fit(cfg: TrainConfig, plan: FitPlan, loaders: Loaders, info: DistInfo, t0: float) -> list[dict]:
    """Train ``plan.model`` (already on ``info.device``) epoch by epoch; rank 0 writes the checkpoints.

    Args:
        cfg: epochs, patience, weight_decay, label_smoothing, amp, resume and the work dir.
        t0: ``time.monotonic()`` at the start of the run (for the records' ``seconds``).
    Returns:
        the per-epoch records of the whole run (a resumed run's earlier epochs included).
    Raises:
        RuntimeError / KeyError: an unusable checkpoint with ``--resume`` (see ``load_checkpoint``).
    """
    use_amp = uses_amp(cfg.amp, info.device)
    groups = parameter_groups(plan.model.head, plan.model.backbone, plan.lr, plan.backbone_lr)
    opt = build_optimisation(
        groups, weight_decay=cfg.weight_decay, total_steps=cfg.epochs * len(loaders.train), use_amp=use_amp
    )
    net = _parallel(plan.model, info)
    work = cfg.resolved_work_dir()
    state = _resume(cfg, work, plan, opt, info)
    sampler = loaders.sampler
    if state.sampler:
        sampler.load_state_dict(state.sampler)
    steps = 0
    batch = loaders.train.batch_size or 1
    for epoch in range(state.epoch + 1, cfg.epochs + 1):
        if state.bad_epochs >= cfg.patience > 0:
            break
        sampler.set_epoch(epoch)  # a resumed epoch keeps its position
        start = sampler.position

        def on_step(done: int, epoch: int = epoch, start: int = start) -> bool:
            nonlocal steps
            steps += 1
            state.position = start + done * batch
            sampler.set_position(state.position)
            state.sampler = sampler.state_dict()
            stop = cfg.max_steps > 0 and steps >= cfg.max_steps
            if info.is_main and (stop or (cfg.checkpoint_every > 0 and steps % cfg.checkpoint_every == 0)):
                save_checkpoint(work, plan.model, opt, state, is_best=False)
            return stop

        train = train_one_epoch(
            net,
            plan.frozen_blocks,
            loaders.train,
            opt,
            info,
            label_smoothing=cfg.label_smoothing,
            use_amp=use_amp,
            desc=f"epoch {epoch}/{cfg.epochs}",
            on_step=on_step,
        )
        if cfg.max_steps > 0 and steps >= cfg.max_steps and state.position < len(sampler):
            if info.is_main:
                log.info(
                    "stopped after %d steps (--max-steps) in epoch %d at sample %d of %d per process; "
                    "continue with --resume",
                    steps,
                    epoch,
                    state.position,
                    len(sampler),
                )
            raise StoppedEarly(f"stopped after {steps} steps in epoch {epoch}; continue with --resume")
        rec = _record(epoch, train, evaluate(net, loaders.val, info, use_amp=use_amp), opt.lr, t0)
        improved = _update(state, rec)
        state.position = 0
        sampler.set_position(0)
        state.sampler = sampler.state_dict()
        if info.is_main:
            log.info(
                "epoch %d: train loss %.3f acc %.3f | val loss %.3f acc %.3f",
                *(rec[k] for k in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")),
            )
            save_checkpoint(work, plan.model, opt, state, is_best=improved)
        if cfg.max_steps > 0 and steps >= cfg.max_steps and epoch < cfg.epochs:
            raise StoppedEarly(f"stopped after {steps} steps at the end of epoch {epoch}; continue with --resume")
    return state.history
