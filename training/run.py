"""Dispatch a ``TrainConfig`` to its mode, on the device it asks for.

A mode is a function ``(cfg, device) -> (bundle path, metrics) | None`` (None on the processes of a
``torchrun`` job that do not write the bundle); ``RUNNERS`` maps every name of ``training.config.MODES``
to one. A new mode is a module beside ``frozen``, ``finetune`` and ``scratch`` plus an entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from core.recognition.device import resolve_device
from training.cached_finetune import run_cached_finetune
from training.config import MODES, TrainConfig
from training.finetune import run_finetune
from training.frozen import run_frozen
from training.scratch import run_scratch

__all__ = ["RUNNERS", "train"]

#: Mode name → the function that runs it.
RUNNERS: dict[str, Callable[[TrainConfig, torch.device], tuple[Path, dict] | None]] = {
    "frozen": run_frozen,
    "finetune": run_finetune,
    "finetune-cached": run_cached_finetune,
    "scratch": run_scratch,
}


def train(cfg: TrainConfig) -> tuple[Path, dict] | None:
    """Run one training; returns ``(bundle path, metrics)`` on the process that wrote the bundle, else None.

    The device follows the app's rule (``core.recognition.device.resolve_device``): ``auto`` = CUDA, then
    MPS, then CPU.

    Raises ValueError for an unknown mode or a device this machine does not have (and the errors of the
    mode's module)."""
    torch.manual_seed(cfg.seed)
    if cfg.mode not in MODES:
        raise ValueError(f"unknown mode {cfg.mode!r}; one of {', '.join(MODES)}")
    return RUNNERS[cfg.mode](cfg, resolve_device(cfg.device))
