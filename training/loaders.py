"""Image datasets and data loaders of the end-to-end modes (``finetune``, ``scratch``).

* Training images go through the augmentation (``training.transforms.train_loader``), validation
  images through the app's preprocessing (``eval_loader``).
* Sampling: ``training.distributed.ResumableSampler`` (sharded over ``torchrun`` processes, resumable mid-epoch):
  class-balanced with replacement when ``cfg.balanced`` (the long tail: every class drawn equally often), else a
  permutation. Validation is sharded over processes without shuffling.
* Streaming: the dataset holds a compact index of the photos (``PhotoIndex``: their root and relative paths as
  bytes, 4-byte targets; ~40 bytes per photo, 60 MB for GLDv2's 1.58 M) and decodes each photo when a worker asks
  for it: nothing else of the dataset is ever in memory.
* The last incomplete training batch is dropped when there is more than one global batch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler

from training.config import TrainConfig
from training.data_setup import RunData
from training.datasets import class_balanced_weights
from training.distributed import DistInfo, ResumableSampler
from training.transforms import eval_loader, train_loader

__all__ = ["LabelledImageDataset", "Loaders", "PhotoIndex", "build_loaders", "make_loaders", "training_sampler"]

log = logging.getLogger(__name__)


class PhotoIndex:
    """A compact, picklable index of photo paths: their common folder and each relative path as bytes.

    ``PhotoIndex(paths)[i]`` is ``paths[i]``. A NumPy byte-string array holds the relative paths (GLDv2's
    ``a/b/c/<16 hex>.jpg``: 26 bytes each), so a DataLoader worker process gets a few tens of MB, not a list of
    1.58 M ``Path`` objects (~300 MB, copied on write into every worker as their reference counts change).
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        texts = [os.fsencode(p) for p in paths]
        root = os.path.commonpath([os.fsdecode(t) for t in texts]) if len(texts) > 1 else ""
        if len(texts) == 1:
            root = os.path.dirname(os.fsdecode(texts[0]))
        self.root = os.fsencode(root)
        cut = len(self.root) + 1 if self.root else 0
        self.rel = np.array([t[cut:] for t in texts], dtype=np.bytes_)

    def __len__(self) -> int:
        return len(self.rel)

    def __getitem__(self, i: int) -> Path:
        rel = bytes(self.rel[i])
        return Path(os.fsdecode(os.path.join(self.root, rel) if self.root else rel))


class LabelledImageDataset(Dataset):
    """``(image (3, S, S) float32, target int64, ok bool)``; an unreadable image gives zeros, ok=False (one warning
    line naming the file; the epoch's count of them is in the training records).

    Args:
        paths: image files (kept as a ``PhotoIndex``). targets: their class indices. load: path → ``(3, S, S)``
            tensor. size: S, for the zeros of an unreadable image.
    """

    def __init__(
        self, paths: Sequence[Path], targets: Sequence[int], load: Callable[[Path], torch.Tensor], size: int
    ) -> None:
        self.paths = PhotoIndex(paths)
        self.targets = np.asarray(targets, dtype=np.int32)
        self.load, self.size = load, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, bool]:
        path, target = self.paths[i], int(self.targets[i])
        try:
            return self.load(path), target, True
        except Exception as exc:  # noqa: BLE001 - corrupt file: skipped in the loss, never fatal
            log.warning("skipping %s: %s", path, exc)
            return torch.zeros(3, self.size, self.size), target, False


@dataclass
class Loaders:
    """The training and validation loaders of a run, and the training sampler (``training.fit`` calls its
    ``set_epoch`` each epoch and keeps its position in the checkpoints)."""

    train: DataLoader
    val: DataLoader
    sampler: ResumableSampler


def training_sampler(dataset: Dataset, targets: Sequence[int], cfg: TrainConfig, info: DistInfo) -> ResumableSampler:
    """The training sampler (see the module docstring)."""
    weights = class_balanced_weights(list(targets)) if cfg.balanced else None
    return ResumableSampler(len(targets), info.rank, info.world_size, cfg.seed, weights)


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
