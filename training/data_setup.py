"""Resolving a run's training/validation/non-landmark image lists from a ``TrainConfig``."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from training.config import TrainConfig
from training.datasets import (
    IMAGE_EXTENSIONS,
    DatasetError,
    LabelledImages,
    read_dataset,
    split_min_images,
    stratified_split,
)

__all__ = ["RunData", "head_part", "list_images", "prepare_data", "split_half"]

log = logging.getLogger(__name__)


@dataclass
class RunData:
    """The data of one run: ``train``/``val`` share one class list; ``non_landmark`` paths may be empty.

    ``dropped_classes``: classes with fewer training images than ``--min-images``: they get no head row and are
    recognised through the kNN gallery only (the last classes of the list, ``train.head_classes``).

    ``outliers``: non-landmark photos for Outlier Exposure (disjoint from ``non_landmark``).

    ``val_source`` says where validation came from ("val folder", "--val-dir", or "stratified split ...").
    """

    train: LabelledImages
    val: LabelledImages
    non_landmark: list[Path]
    dropped_classes: list[str]
    val_source: str
    outliers: list[Path] = field(default_factory=list)
    outlier_source: str = ""


def list_images(folder: str | Path) -> list[Path]:
    """Every image file under ``folder`` (recursive, sorted, hidden entries skipped).

    Raises DatasetError when the folder does not exist."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"folder {folder} does not exist")
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def prepare_data(cfg: TrainConfig) -> RunData:
    """Read the training data, apply the min-images filter and make/validate the validation split.

    ``cfg.data`` may be an ImageFolder root with ``train/`` (and optionally ``val/``) sub-folders, a
    split folder itself, a GLDv2 root or a CSV. Classes with fewer than ``cfg.min_images`` images stay, for the
    kNN gallery only (``training.datasets.split_min_images``). Validation: ``cfg.val_dir``, else ``<data>/val``, else
    a stratified split of ``cfg.val_fraction`` with ``cfg.seed`` (classes with fewer than 2 images stay
    in training only). Validation images of classes absent from training are dropped with a warning.

    Raises:
        DatasetError: unreadable data, or no class left after filtering.
    """
    root = Path(cfg.data)
    src = root / "train" if (root / "train").is_dir() and not (root / "train.csv").is_file() else root
    data, dropped = split_min_images(read_dataset(src), cfg.min_images)
    val_dir = cfg.val_dir or (root / "val" if src != root and (root / "val").is_dir() else None)
    if val_dir is not None:
        train = data
        val_all = read_dataset(val_dir)
        keep = [i for i, k in enumerate(val_all.labels) if k in set(train.classes)]
        if len(keep) < len(val_all):
            log.warning("dropping %d validation images of classes not in training", len(val_all) - len(keep))
        val = val_all.subset(keep, classes=train.classes)
        val.head_classes = train.head_classes
        val_source = f"folder {val_dir}"
    else:
        train, val = stratified_split(data, cfg.val_fraction, seed=cfg.seed)
        val_source = f"stratified split of the training data: {cfg.val_fraction:.0%} per class, seed {cfg.seed}"
    if len(val) == 0:
        raise DatasetError("the validation split is empty; give --val-dir or more images per class")
    nl = list_images(cfg.non_landmark) if cfg.non_landmark else []
    outliers: list[Path] = []
    outlier_source = ""
    if cfg.outlier_exposure:
        oe = list_images(cfg.outlier_exposure)
        if cfg.non_landmark and Path(cfg.outlier_exposure).resolve() == Path(cfg.non_landmark).resolve():
            outliers, nl = split_half(oe)
            outlier_source = (
                f"{cfg.outlier_exposure}: the half with even rank by SHA-1 of the file name "
                f"({len(outliers)} photos); the other half ({len(nl)}) chose the threshold"
            )
        else:
            overlap = {p.resolve() for p in oe} & {p.resolve() for p in nl}
            if overlap:
                raise DatasetError(f"{len(overlap)} photos are both outlier-exposure and threshold photos")
            outliers = oe
            outlier_source = f"{cfg.outlier_exposure} ({len(outliers)} photos)"
    return RunData(train, val, nl, dropped, val_source, outliers, outlier_source)


def split_half(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """Deterministic disjoint halves of a photo list: sorted by SHA-1 of the file name, even ranks
    first, odd ranks second (independent of folder order and of the machine)."""
    ranked = sorted(paths, key=lambda p: hashlib.sha1(p.name.encode("utf-8")).hexdigest())
    return sorted(ranked[0::2]), sorted(ranked[1::2])


def head_part(data: RunData) -> RunData:
    """``data`` restricted to the photos of classes with a head row (what the network is trained on); the class list
    is cut to those H classes, so targets stay in [0, H)."""
    h = data.train.num_head_classes
    if h == len(data.train.classes):
        return data
    head = set(data.train.classes[:h])
    cls = data.train.classes[:h]
    train = data.train.subset([i for i, k in enumerate(data.train.labels) if k in head], classes=cls)
    val = data.val.subset([i for i, k in enumerate(data.val.labels) if k in head], classes=cls)
    return RunData(
        train, val, data.non_landmark, data.dropped_classes, data.val_source, data.outliers, data.outlier_source
    )
