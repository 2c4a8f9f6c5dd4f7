"""Image datasets and data loaders of the end-to-end modes (``finetune``, ``scratch``).

* Training images go through the augmentation (``training.transforms.train_loader``), validation
  images through the app's preprocessing (``eval_loader``).
* Sampling: class-balanced with replacement (``WeightedRandomSampler``, or under DDP
  ``training.distributed.DistributedWeightedSampler``) when ``cfg.balanced``, else plain shuffling
  (``DistributedSampler`` under DDP). Validation is sharded over processes without shuffling.
* The last incomplete training batch is dropped when there is more than one global batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, WeightedRandomSampler
from torch.utils.data.distributed import DistributedSampler

from training.config import TrainConfig
from training.data_setup import RunData
from training.datasets import class_balanced_weights
from training.distributed import DistInfo, DistributedWeightedSampler
from training.transforms import eval_loader, train_loader

__all__ = ["LabelledImageDataset", "Loaders", "build_loaders", "make_loaders", "training_sampler"]

log = logging.getLogger(__name__)


class LabelledImageDataset(Dataset):
    """``(image (3, S, S) float32, target int64, ok bool)``; an unreadable image gives zeros, ok=False.

    Args:
        paths: image files. targets: their class indices. load: path → ``(3, S, S)`` tensor.
        size: S, for the zeros of an unreadable image.
    """

    def __init__(
        self, paths: Sequence[Path], targets: Sequence[int], load: Callable[[Path], torch.Tensor], size: int
    ) -> None:
        self.paths, self.targets, self.load, self.size = list(paths), list(targets), load, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, bool]:
        try:
            return self.load(self.paths[i]), self.targets[i], True
        except Exception as exc:  # noqa: BLE001 - corrupt file: skipped in the loss, never fatal
            log.warning("skipping %s: %s", self.paths[i], exc)
            return torch.zeros(3, self.size, self.size), self.targets[i], False


@dataclass
class Loaders:
    """The training and validation loaders of a run, and the training sampler (call its ``set_epoch``
    each epoch when it has one; None = plain shuffling by the loader)."""

    train: DataLoader
    val: DataLoader
    sampler: Sampler | None


def training_sampler(dataset: Dataset, targets: Sequence[int], cfg: TrainConfig, info: DistInfo) -> Sampler | None:
    """The training sampler (see the module docstring); None for single-process plain shuffling."""
    n = len(targets)
    if cfg.balanced:
        weights = class_balanced_weights(targets)
        if info.enabled:
            return DistributedWeightedSampler(weights, n, info.rank, info.world_size, cfg.seed)
        return WeightedRandomSampler(weights, n, replacement=True)
    if info.enabled:
        return DistributedSampler(dataset, info.world_size, info.rank, shuffle=True, seed=cfg.seed)
    return None


def make_loaders(
    train_ds: Dataset, val_ds: Dataset, train_targets: Sequence[int], cfg: TrainConfig, info: DistInfo
) -> Loaders:
    """Loaders over any datasets of ``(input, target, ok)`` items (``cfg.batch_size``, ``cfg.workers``;
    pinned memory on CUDA)."""
    sampler = training_sampler(train_ds, train_targets, cfg, info)
    pin = info.device.type == "cuda"
    n_train = len(train_targets)
    train = DataLoader(
        train_ds,
        batch_size=cfg.batch_size,
        sampler=sampler,
        shuffle=sampler is None,
        num_workers=cfg.workers,
        pin_memory=pin,
        drop_last=n_train > cfg.batch_size * info.world_size,
    )
    val_sampler: Sampler | None = (
        DistributedSampler(val_ds, info.world_size, info.rank, shuffle=False) if info.enabled else None
    )
    val = DataLoader(val_ds, batch_size=cfg.batch_size, sampler=val_sampler, num_workers=cfg.workers, pin_memory=pin)
    return Loaders(train, val, sampler)


def build_loaders(cfg: TrainConfig, data: RunData, info: DistInfo) -> Loaders:
    """Training (augmented) and validation (the app's preprocessing) image loaders of ``data``.

    Raises KeyError when a validation label is not one of the training classes (``prepare_data`` drops
    those)."""
    y_train = data.train.targets()
    train_ds = LabelledImageDataset(data.train.paths, y_train, train_loader(cfg.input_size), cfg.input_size)
    val_ds = LabelledImageDataset(
        data.val.paths, data.val.targets(), eval_loader(cfg.input_size, cfg.resize_size), cfg.input_size
    )
    return make_loaders(train_ds, val_ds, y_train, cfg, info)
