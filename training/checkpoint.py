"""Checkpoints of the end-to-end modes (``--resume``) and the best epoch's weights.

Files in the run's work dir (written by rank 0 only):

* ``checkpoint.pt`` after every epoch and every ``--checkpoint-every`` steps within one: ``{"model", "optimizer",
  "scheduler", "scaler", "epoch", "history", "best_loss", "bad_epochs", "position", "sampler"}`` (``model``: CPU
  state dict; ``epoch``: the last finished epoch, 1-based; ``position``: samples of each process's shard already
  trained on in the next, unfinished epoch, 0 at an epoch's end; ``sampler``: the
  ``training.distributed.ResumableSampler`` state). Written to ``checkpoint.pt.tmp`` first and renamed, so an
  interrupted run never leaves a truncated checkpoint; ``--resume`` continues mid-epoch where it stopped.
* ``best.pt``: the state dict of the epoch with the lowest validation loss so far.

Both are read with ``torch.load(weights_only=True)``: tensors and plain containers only, no code runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from training.optim import Optimisation

__all__ = ["BEST_FILE", "CHECKPOINT_FILE", "TrainState", "load_best_weights", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"


@dataclass
class TrainState:
    """Progress of a run besides the weights: last finished epoch (0 = none), per-epoch records,
    the lowest validation loss so far and the epochs since it (early stopping), the samples per process already
    trained on in the unfinished epoch (``position``) and the sampler's state."""

    epoch: int = 0
    history: list[dict] = field(default_factory=list)
    best_loss: float = float("inf")
    bad_epochs: int = 0
    position: int = 0
    sampler: dict = field(default_factory=dict)


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def save_checkpoint(
    work_dir: Path, model: nn.Module, optimisation: Optimisation, state: TrainState, *, is_best: bool
) -> None:
    """Write ``checkpoint.pt`` (atomically) and, when ``is_best``, ``best.pt`` into ``work_dir``.

    ``model`` is the unwrapped network (not its DistributedDataParallel wrapper). Raises OSError when the
    folder cannot be written."""
    work_dir.mkdir(parents=True, exist_ok=True)
    weights = _cpu_state(model)
    if is_best:
        torch.save(weights, work_dir / BEST_FILE)
    tmp = work_dir / (CHECKPOINT_FILE + ".tmp")
    torch.save(
        {
            "model": weights,
            **optimisation.state_dict(),
            "epoch": state.epoch,
            "history": state.history,
            "best_loss": state.best_loss,
            "bad_epochs": state.bad_epochs,
            "position": state.position,
            "sampler": state.sampler,
        },
        tmp,
    )
    tmp.replace(work_dir / CHECKPOINT_FILE)


def load_checkpoint(work_dir: Path, model: nn.Module, optimisation: Optimisation) -> TrainState | None:
    """Restore ``model`` and ``optimisation`` from ``work_dir/checkpoint.pt``; None when there is none.

    Raises:
        RuntimeError: the weights do not fit ``model`` (torch's message), or the file is not a checkpoint.
        KeyError: a checkpoint entry is missing.
    """
    path = work_dir / CHECKPOINT_FILE
    if not path.is_file():
        return None
    ck = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(ck["model"])
    optimisation.load_state_dict(ck)
    return TrainState(
        ck["epoch"], ck["history"], ck["best_loss"], ck["bad_epochs"], int(ck.get("position", 0)), ck.get("sampler", {})
    )


def load_best_weights(work_dir: Path, model: nn.Module) -> bool:
    """Load ``work_dir/best.pt`` into ``model``; False (model unchanged) when there is no such file."""
    path = work_dir / BEST_FILE
    if not path.is_file():
        return False
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return True
