"""The ``scratch`` mode: the small ``simple_cnn`` trained from random initialisation, every layer at ``cfg.lr``
(default 3e-3). The run itself (AMP, DDP, checkpoints/resume, bundle) is ``training.end_to_end``."""

from __future__ import annotations

import torch

from training.config import TrainConfig
from training.end_to_end import RunResult, run_end_to_end
from training.fit import FitPlan
from training.weights import build_model

__all__ = ["run_scratch", "scratch_plan"]

#: Default learning rate of every layer.
DEFAULT_LR = 3e-3


def scratch_plan(cfg: TrainConfig, num_classes: int) -> FitPlan:
    """A randomly initialised ``simple_cnn`` for ``num_classes``, every layer trainable."""
    model = build_model("simple_cnn", num_classes, "none")
    lr = cfg.lr or DEFAULT_LR
    return FitPlan(model, [], lr=lr, backbone_lr=lr, backbone_weights="none (random init)")


def run_scratch(cfg: TrainConfig, device: torch.device) -> RunResult | None:
    """Train from scratch and write the bundle: ``(bundle path, metrics)`` on rank 0, None on other ranks."""
    return run_end_to_end(cfg, device, lambda num_classes: scratch_plan(cfg, num_classes))
