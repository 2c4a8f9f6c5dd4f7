"""Frozen-backbone mode: cache embeddings of a few views per image, train only the head.

The backbone (ImageNet weights) stays in eval mode — its BatchNorm statistics are never updated,
which matters for the converted MobileNetV2 whose depthwise BatchNorm layers break with small-batch
statistics (``../shared/torch-home/README.md``). Cost: (1 + views) CNN forward passes per training
image, once; later runs with the same data and weights read the cache.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch

from core.recognition.backbones import LandmarkNet
from training.config import TrainConfig
from training.data_setup import RunData, prepare_data
from training.datasets import LabelledImages, dataset_fingerprint
from training.features import cached_embeddings, weights_hash
from training.finalize import Embedded, finalize_run
from training.head import HeadConfig, train_head
from training.transforms import AUGMENTATION_ID, eval_loader, train_loader
from training.weights import build_model

__all__ = ["FrozenEmbedder", "run_frozen"]

#: Default learning rate of the head.
DEFAULT_LR = 3e-3

Views = tuple[torch.Tensor, torch.Tensor]  # embeddings (N, D) float32 unit-norm, valid (N,) bool


class FrozenEmbedder:
    """Cached embeddings of photo lists with a frozen backbone: view 0 is the app's preprocessing, views
    1..``cfg.views`` are augmentations seeded with ``cfg.seed · 1000 + view``.

    The cache key (``training.features``) covers the photo list (paths, sizes, mtimes) and its ``name``,
    the backbone and a hash of its weights, the input/resize sizes, the view, and for augmented views the
    recipe (``AUGMENTATION_ID``) and seed.
    """

    def __init__(self, cfg: TrainConfig, model: LandmarkNet, device: torch.device) -> None:
        self.cfg, self.model, self.device = cfg, model, device
        self.cache = cfg.resolved_work_dir() / "cache"
        self.clean = eval_loader(cfg.input_size, cfg.resize_size)
        self.augmented = train_loader(cfg.input_size)
        self.tag = f"{cfg.backbone}-{weights_hash(model)}-{cfg.input_size}-{cfg.resize_size}"

    def view(self, paths: Sequence[Path], name: str, view: int) -> Views:
        """Embeddings of one view of ``paths`` (``name`` tells photo lists apart in the cache and the logs)."""
        seed = None if view == 0 else self.cfg.seed * 1000 + view
        fp = dataset_fingerprint(LabelledImages(list(paths), ["_"] * len(paths), ["_"]), name)
        return cached_embeddings(
            self.model,
            paths,
            self.clean if view == 0 else self.augmented,
            self.cfg.input_size,
            key=f"{fp}-{self.tag}-v{view}" + (f"-{AUGMENTATION_ID}-s{seed}" if view else ""),
            seed=seed,
            desc=f"{name} view {view}",
            cache_dir=self.cache,
            batch_size=self.cfg.batch_size,
            num_workers=self.cfg.workers,
            device=self.device,
        )

    def all_views(self, paths: Sequence[Path], name: str) -> list[Views]:
        """Views 0..``cfg.views`` of ``paths``."""
        return [self.view(paths, name, v) for v in range(self.cfg.views + 1)]


def _frozen_model(cfg: TrainConfig, num_classes: int) -> LandmarkNet:
    """The pretrained backbone in eval mode with gradients off, and a new head."""
    model = build_model(cfg.backbone, num_classes, cfg.weights, cfg.backbone_weights)
    model.eval()
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    return model


def _head_config(cfg: TrainConfig) -> HeadConfig:
    return HeadConfig(
        epochs=cfg.epochs,
        batch_size=max(cfg.batch_size, 128),
        lr=cfg.lr or DEFAULT_LR,
        weight_decay=cfg.weight_decay,
        label_smoothing=cfg.label_smoothing,
        balanced=cfg.balanced,
        patience=cfg.patience,
        seed=cfg.seed,
        oe_weight=cfg.oe_weight,
    )


def _summary(
    cfg: TrainConfig,
    data: RunData,
    device: torch.device,
    train_ok: torch.Tensor,
    val_ok: torch.Tensor,
    nl_count: int,
    seconds: tuple[float, float],
    history: list[dict],
) -> dict:
    """The run facts of ``bundle.training`` (``seconds``: embedding, total)."""
    return {
        "mode": "frozen",
        "backbone": cfg.backbone,
        "backbone_weights": str(cfg.backbone_weights) if cfg.backbone_weights else cfg.weights,
        "num_classes": len(data.train.classes),
        "train_images": int(train_ok.sum()),
        "val_images": int(val_ok.sum()),
        "non_landmark_images": nl_count,
        "augmented_views_per_image": cfg.views,
        "outlier_exposure": (
            {"photos": len(data.outliers), "source": data.outlier_source, "weight": cfg.oe_weight}
            if data.outliers
            else None
        ),
        "val_source": data.val_source,
        "head_classes": data.train.num_head_classes,
        "gallery_only_classes": data.dropped_classes,
        "data_report": data.train.report.to_json(),
        "min_images": cfg.min_images,
        "unreadable_images": int((~train_ok).sum()) + int((~val_ok).sum()),
        "embedding_seconds": round(seconds[0], 1),
        "train_seconds": round(seconds[1], 1),
        "device": str(device),
        "epochs_run": len(history),
    }


def run_frozen(cfg: TrainConfig, device: torch.device, data: RunData | None = None) -> tuple[Path, dict]:
    """Train a head on cached embeddings and write the bundle.

    Every view of a training photo is one training sample when its clean view (0) is readable; the
    clean views are the bundle's kNN gallery. Outlier-exposure photos (all views) are the head's negatives.

    ``data``: the run's photo lists (cross-validation passes a fold); default ``prepare_data(cfg)``.

    Returns:
        ``(bundle path, metrics dict)`` from ``training.finalize.finalize_run``.
    Raises:
        DatasetError, WeightsError, BundleError (see those modules).
    """
    t0 = time.monotonic()
    data = data or prepare_data(cfg)
    n_head = data.train.num_head_classes  # the gallery-only classes (fewer than --min-images photos) come after
    model = _frozen_model(cfg, n_head)
    embedder = FrozenEmbedder(cfg, model, device)
    y_train = torch.tensor(data.train.targets())
    y_val = torch.tensor(data.val.targets())
    train_views = embedder.all_views(data.train.paths, "train")
    val_e, val_ok = embedder.view(data.val.paths, "val", 0)
    x_out = torch.cat([e[ok] for e, ok in embedder.all_views(data.outliers, "outliers")]) if data.outliers else None
    nl_e = None
    if data.non_landmark:
        nl_e, nl_ok = embedder.view(data.non_landmark, "non_landmark", 0)
        nl_e = nl_e[nl_ok]
    t_embed = time.monotonic() - t0

    ok0 = train_views[0][1]
    in_head = y_train < n_head
    x = torch.cat([e[ok0 & ok & in_head] for e, ok in train_views])
    y = torch.cat([y_train[ok0 & ok & in_head] for e, ok in train_views])
    val_head = val_ok & (y_val < n_head)
    model.head, history = train_head(model.head, x, y, val_e[val_head], y_val[val_head], _head_config(cfg), x_out)
    nl_count = 0 if nl_e is None else int(nl_e.shape[0])
    summary = _summary(cfg, data, device, ok0, val_ok, nl_count, (t_embed, time.monotonic() - t0), history)
    return finalize_run(
        cfg,
        model,
        data.train.classes,
        Embedded(train_views[0][0][ok0], y_train[ok0]),
        Embedded(val_e[val_ok], y_val[val_ok]),
        nl_e,
        history,
        summary,
        names=data.train.categories,
    )
