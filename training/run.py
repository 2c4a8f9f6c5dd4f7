"""Dispatch a ``TrainConfig`` to its mode and pick the device."""

from __future__ import annotations

import torch

from training.config import MODES, TrainConfig

__all__ = ["pick_device", "train"]


def pick_device(name: str = "auto") -> torch.device:
    """The app's device rule (``core.recognition.device.resolve_device``): ``auto`` = CUDA, then MPS, then CPU.

    Raises ValueError for an unknown name or a device this machine does not have."""
    from core.recognition.device import resolve_device

    return resolve_device(name)


def train(cfg: TrainConfig):
    """Run one training; returns ``(bundle path, metrics)`` on the process that wrote the bundle, else None.

    Raises ValueError for an unknown mode (and the errors of the mode's module)."""
    torch.manual_seed(cfg.seed)
    if cfg.mode not in MODES:
        raise ValueError(f"unknown mode {cfg.mode!r}; one of {', '.join(MODES)}")
    if cfg.mode == "frozen":
        from training.frozen import run_frozen

        return run_frozen(cfg, pick_device(cfg.device))
    from training.loop import run_loop

    return run_loop(cfg)
