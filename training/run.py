"""Dispatch a ``TrainConfig`` to its mode, on the device it asks for."""

from __future__ import annotations

import torch

from core.recognition.device import resolve_device
from training.config import MODES, TrainConfig

__all__ = ["train"]


def train(cfg: TrainConfig):
    """Run one training; returns ``(bundle path, metrics)`` on the process that wrote the bundle, else None.

    The device follows the app's rule (``core.recognition.device.resolve_device``): ``auto`` = CUDA, then
    MPS, then CPU.

    Raises ValueError for an unknown mode or a device this machine does not have (and the errors of the
    mode's module)."""
    torch.manual_seed(cfg.seed)
    if cfg.mode not in MODES:
        raise ValueError(f"unknown mode {cfg.mode!r}; one of {', '.join(MODES)}")
    device = resolve_device(cfg.device)
    if cfg.mode == "frozen":
        from training.frozen import run_frozen

        return run_frozen(cfg, device)
    from training.loop import run_loop

    return run_loop(cfg, device)
