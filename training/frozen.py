"""Frozen-backbone mode: cache embeddings of a few views per image, train only the head.

The backbone (ImageNet weights) stays in eval mode — its BatchNorm statistics are never updated,
which matters for the converted MobileNetV2 whose depthwise BatchNorm layers break with small-batch
statistics (``../shared/torch-home/README.md``). Cost: (1 + views) CNN forward passes per training
image, once; later runs with the same data and weights read the cache.
"""

from __future__ import annotations

import logging
import time

import torch

from training.config import TrainConfig
from training.data_setup import prepare_data
from training.datasets import dataset_fingerprint
from training.features import cached_embeddings, weights_hash
from training.finalize import Embedded, finalize_run
from training.head import HeadConfig, train_head
from training.transforms import AUGMENTATION_ID, eval_loader, train_loader
from training.weights import build_model

__all__ = ["run_frozen"]

log = logging.getLogger(__name__)


def run_frozen(cfg: TrainConfig, device: torch.device) -> tuple:
    """Train a head on cached embeddings and write the bundle.

    Returns:
        ``(bundle path, metrics dict)`` from ``training.finalize.finalize_run``.
    Raises:
        DatasetError, WeightsError, BundleError (see those modules).
    """
    t0 = time.monotonic()
    data = prepare_data(cfg)
    classes = data.train.classes
    model = build_model(cfg.backbone, len(classes), cfg.weights, cfg.backbone_weights)
    model.eval()
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    work = cfg.resolved_work_dir()
    cache = work / "cache"
    whash = weights_hash(model)
    ev = eval_loader(cfg.input_size, cfg.resize_size)
    tr = train_loader(cfg.input_size)
    kw = dict(cache_dir=cache, batch_size=cfg.batch_size, num_workers=cfg.workers, device=device)
    tag = f"{cfg.backbone}-{whash}-{cfg.input_size}-{cfg.resize_size}"

    def emb(paths, name, view, seed=None):
        from training.datasets import LabelledImages

        fp = dataset_fingerprint(LabelledImages(list(paths), ["_"] * len(paths), ["_"]), name)
        return cached_embeddings(
            model,
            paths,
            ev if view == 0 else tr,
            cfg.input_size,
            key=f"{fp}-{tag}-v{view}" + (f"-{AUGMENTATION_ID}-s{seed}" if view else ""),
            seed=seed,
            desc=f"{name} view {view}",
            **kw,
        )

    y_train = torch.tensor(data.train.targets())
    y_val = torch.tensor(data.val.targets())
    train_views = []
    for v in range(cfg.views + 1):
        e, ok = emb(data.train.paths, "train", v, seed=None if v == 0 else cfg.seed * 1000 + v)
        train_views.append((e, ok))
    val_e, val_ok = emb(data.val.paths, "val", 0)
    x_out = None
    if data.outliers:
        x_out = torch.cat(
            [
                e[ok]
                for e, ok in (
                    emb(data.outliers, "outliers", v, seed=None if v == 0 else cfg.seed * 1000 + v)
                    for v in range(cfg.views + 1)
                )
            ]
        )
    nl_e = None
    if data.non_landmark:
        nl_e, nl_ok = emb(data.non_landmark, "non_landmark", 0)
        nl_e = nl_e[nl_ok]
    t_embed = time.monotonic() - t0

    ok0 = train_views[0][1]
    x = torch.cat([e[ok0 & ok] for e, ok in train_views])
    y = torch.cat([y_train[ok0 & ok] for e, ok in train_views])
    hc = HeadConfig(
        epochs=cfg.epochs,
        batch_size=max(cfg.batch_size, 128),
        lr=cfg.lr or 3e-3,
        weight_decay=cfg.weight_decay,
        label_smoothing=cfg.label_smoothing,
        balanced=cfg.balanced,
        patience=cfg.patience,
        seed=cfg.seed,
        oe_weight=cfg.oe_weight,
    )
    model.head, history = train_head(model.head, x, y, val_e[val_ok], y_val[val_ok], hc, x_out)
    t_total = time.monotonic() - t0
    summary = {
        "mode": "frozen",
        "backbone": cfg.backbone,
        "backbone_weights": str(cfg.backbone_weights) if cfg.backbone_weights else cfg.weights,
        "num_classes": len(classes),
        "train_images": int(ok0.sum()),
        "val_images": int(val_ok.sum()),
        "non_landmark_images": 0 if nl_e is None else int(nl_e.shape[0]),
        "augmented_views_per_image": cfg.views,
        "outlier_exposure": (
            {"photos": len(data.outliers), "source": data.outlier_source, "weight": cfg.oe_weight}
            if data.outliers
            else None
        ),
        "val_source": data.val_source,
        "dropped_classes_min_images": data.dropped_classes,
        "min_images": cfg.min_images,
        "unreadable_images": int((~ok0).sum()) + int((~val_ok).sum()),
        "embedding_seconds": round(t_embed, 1),
        "train_seconds": round(t_total, 1),
        "device": str(device),
        "epochs_run": len(history),
    }
    return finalize_run(
        cfg,
        model,
        classes,
        Embedded(train_views[0][0][ok0], y_train[ok0]),
        Embedded(val_e[val_ok], y_val[val_ok]),
        nl_e,
        history,
        summary,
    )
