"""One pass over a data loader: ``train_one_epoch`` and ``evaluate`` (as in torchvision's classification
references, ``references/classification/train.py``).

Batches are ``(x (B, 3, S, S) float32, y (B,) int64, ok (B,) bool)``; images with ``ok`` False (unreadable
files) count neither in the loss nor in the metrics. The network returns ``(embedding, logits)``
(``core.recognition.backbones.LandmarkNet``, possibly wrapped in DistributedDataParallel). Loss: cross-entropy
on float32 logits (label smoothing while training only). Sums are added over processes under DDP.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from training.distributed import DistInfo, all_reduce_sum
from training.optim import Optimisation

__all__ = ["PassMetrics", "autocast", "evaluate", "set_train_mode", "train_one_epoch", "uses_amp"]


@dataclass(frozen=True)
class PassMetrics:
    """Mean loss and top-1 accuracy over the ``count`` readable images of one pass (0 when none)."""

    loss: float
    accuracy: float
    count: int

    @classmethod
    def from_sums(cls, sums: Sequence[float]) -> PassMetrics:
        """From ``[loss sum, correct, count]``."""
        n = max(sums[2], 1)
        return cls(sums[0] / n, sums[1] / n, int(sums[2]))


def uses_amp(amp: bool, device: torch.device) -> bool:
    """Mixed precision is used on CUDA only, when asked."""
    return amp and device.type == "cuda"


def autocast(enabled: bool) -> contextlib.AbstractContextManager:
    """fp16 autocast on CUDA when ``enabled``, else a no-op context."""
    return torch.autocast("cuda", dtype=torch.float16) if enabled else contextlib.nullcontext()


def set_train_mode(model: nn.Module, frozen_blocks: Sequence[nn.Module]) -> None:
    """``model.train()`` but frozen blocks (and every BatchNorm inside them) in eval mode, so their
    running statistics never change."""
    model.train()
    for b in frozen_blocks:
        b.eval()


def train_one_epoch(
    net: nn.Module,
    frozen_blocks: Sequence[nn.Module],
    loader: DataLoader,
    optimisation: Optimisation,
    info: DistInfo,
    *,
    label_smoothing: float = 0.0,
    use_amp: bool = False,
    desc: str = "train",
    on_step: Callable[[int], bool] | None = None,
) -> PassMetrics:
    """Train ``net`` for one pass over ``loader`` (one optimisation step per batch).

    ``on_step(batches done in this pass)`` runs after every step (checkpoints mid-epoch); when it returns True the
    pass stops there (a time-boxed run: ``--max-steps``).

    Args:
        net: the network (or its DDP wrapper); ``frozen_blocks`` stay in eval mode (``set_train_mode``).
        optimisation: optimiser, per-batch scheduler and gradient scaler.
        info: this process's device and rank (the progress bar shows on rank 0 only).
    Returns:
        training loss (with label smoothing) and accuracy over every process's batches.
    """
    device = info.device
    set_train_mode(net, frozen_blocks)
    sums = [0.0, 0.0, 0.0]  # loss sum, correct, count
    batches = 0
    for x, y, ok in tqdm(loader, desc=desc, unit="batch", leave=False, disable=not info.is_main):
        x, y, ok = x.to(device, non_blocking=True), y.to(device), ok.to(device)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(use_amp):
            _, logits = net(x)
            losses = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing, reduction="none")
            loss = (losses * ok).sum() / ok.sum().clamp(min=1)
        optimisation.step(loss)
        sums[0] += float(losses.detach()[ok].sum())
        sums[1] += float((logits.detach().argmax(1) == y)[ok].sum())
        sums[2] += float(ok.sum())
        batches += 1
        if on_step is not None and on_step(batches):
            break
    return PassMetrics.from_sums(all_reduce_sum(sums, info))


@torch.no_grad()
def evaluate(net: nn.Module, loader: DataLoader, info: DistInfo, *, use_amp: bool = False) -> PassMetrics:
    """Validation loss (no label smoothing) and accuracy of ``net`` in eval mode over ``loader``,
    summed over processes."""
    device = info.device
    net.eval()
    sums = [0.0, 0.0, 0.0]
    with autocast(use_amp):
        for x, y, ok in loader:
            x, y, ok = x.to(device), y.to(device), ok.to(device)
            _, logits = net(x)
            sums[0] += float(F.cross_entropy(logits.float(), y, reduction="none")[ok].sum())
            sums[1] += float((logits.argmax(1) == y)[ok].sum())
            sums[2] += float(ok.sum())
    return PassMetrics.from_sums(all_reduce_sum(sums, info))
