"""``finetune-cached`` mode: fine-tune the upper backbone blocks and the head on cached lower-block activations.

The lower blocks stay frozen (ImageNet weights, eval mode), so their output for every training photo is
computed once for ``1 + views`` views (``training.activations.ActivationCache``) and the upper blocks
plus the head train on that cache: each step draws one cached view per photo. This is bottleneck
training one level lower than the frozen mode, and fits a 2-core CPU (the shipped MobileNetV2 trains
``features[14:]`` — the last five of its 19 blocks — in minutes per epoch instead of an hour).

Recipe (defaults; every value is in ``TrainConfig``):

* BatchNorm layers stay in eval mode (ImageNet statistics; the converted MobileNetV2's depthwise
  BatchNorm breaks with small-batch statistics, see ``../shared/torch-home/README.md``);
* the head starts from the class means of the clean-view embeddings ("weight imprinting", Qi, Brown &
  Lowe 2018, "Low-Shot Learning with Imprinted Weights", CVPR) scaled by ``IMPRINT_SCALE``;
* AdamW, one-cycle learning rate (Smith & Topin 2019) peaking at ``lr`` for the head and ``lr / 10``
  for the backbone blocks, label smoothing, class-balanced sampling;
* Outlier Exposure (Hendrycks et al. 2019) when non-landmark photos are given: cross-entropy to the
  uniform distribution on a batch of their views, weight ``oe_weight``;
* the epoch with the lowest validation loss is kept.

Afterwards the clean-view embeddings (computed through the tuned blocks) become the kNN gallery and
``training.finalize`` calibrates and writes the bundle, exactly as in the other modes.
"""

from __future__ import annotations

import copy
import time

import torch
from torch.nn import functional as F
from tqdm import tqdm

from training.activations import ActivationCache, UpperNet, split_point
from training.config import TrainConfig
from training.data_setup import RunData, prepare_data
from training.datasets import class_balanced_weights
from training.finalize import Embedded, finalize_run
from training.weights import build_model

__all__ = ["run_cached_finetune", "train_top", "IMPRINT_SCALE", "DEFAULT_LR"]

#: Head learning rate (the backbone blocks get a tenth of it).
DEFAULT_LR = 3e-3
#: Scale of the imprinted head weights (logits = scale · cosine to the class mean at the start).
IMPRINT_SCALE = 16.0
#: Fraction of the steps spent warming up in the one-cycle schedule.
WARMUP = 0.15


def _embed_all(upper: UpperNet, acts: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """``(N, C, H, W)`` activations → ``(N, D)`` float32 unit embeddings (eval mode, no gradients)."""
    upper.eval()
    with torch.inference_mode():
        parts = [upper.embed(acts[i : i + batch]) for i in range(0, acts.shape[0], batch)]
    return torch.cat(parts) if parts else torch.zeros(0, upper.head.in_features)


def _imprint(upper: UpperNet, clean: torch.Tensor, y: torch.Tensor, num_classes: int) -> None:
    """Set the head to ``IMPRINT_SCALE`` × the unit class means of the clean-view embeddings, bias 0."""
    emb = _embed_all(upper, clean)
    with torch.no_grad():
        means = torch.zeros(num_classes, emb.shape[1])
        means.index_add_(0, y, emb)
        upper.head.weight.copy_(F.normalize(means, dim=1) * IMPRINT_SCALE)
        upper.head.bias.zero_()


def _eval_mode_batchnorm(upper: UpperNet) -> None:
    for m in upper.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()


def train_top(
    upper: UpperNet,
    acts: torch.Tensor,
    ok: torch.Tensor,
    y: torch.Tensor,
    val_acts: torch.Tensor | None,
    val_y: torch.Tensor | None,
    cfg: TrainConfig,
    out_acts: torch.Tensor | None = None,
    out_ok: torch.Tensor | None = None,
) -> list[dict]:
    """Train ``upper`` (blocks + head, in place) on cached views; keeps the best validation epoch.

    Args:
        upper: the model's top (``UpperNet``); its head is imprinted first.
        acts: ``(N, V, C, H, W)`` float16 training activations (view 0 = clean); ok ``(N, V)`` bool.
        y: ``(N,)`` int64 targets. val_acts ``(M, C, H, W)`` / val_y ``(M,)``: clean validation views, or None.
        cfg: epochs, batch_size, lr, weight_decay, label_smoothing, balanced, oe_weight, seed, unfreeze_blocks.
        out_acts ``(K, V', C, H, W)`` / out_ok: non-landmark photos for Outlier Exposure, or None.
    Returns:
        one dict per epoch: epoch, train_loss, train_acc, val_loss, val_acc, lr (head).
    """
    g = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    n, num_classes = acts.shape[0], upper.head.out_features
    _imprint(upper, acts[:, 0], y, num_classes)
    lr = cfg.lr or DEFAULT_LR
    train_blocks = cfg.unfreeze_blocks > 0
    for p in upper.blocks.parameters():
        p.requires_grad_(train_blocks)
    lrs = [lr, lr / 10] if train_blocks else [lr]
    groups: list[dict] = [{"params": list(upper.head.parameters()), "lr": lr}]
    if train_blocks:
        groups.append({"params": list(upper.blocks.parameters()), "lr": lr / 10})
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, (n + cfg.batch_size - 1) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lrs, total_steps=cfg.epochs * steps_per_epoch, pct_start=WARMUP
    )
    weights = torch.tensor(class_balanced_weights(y.tolist()) if cfg.balanced else [1.0] * n)
    use_oe = out_acts is not None and out_ok is not None and len(out_acts) > 0 and cfg.oe_weight > 0
    best, best_state, history = float("inf"), copy.deepcopy(upper.state_dict()), []
    for epoch in tqdm(range(1, cfg.epochs + 1), desc="top blocks", unit="epoch", leave=False):
        upper.train()
        _eval_mode_batchnorm(upper)
        order = torch.multinomial(weights, n, replacement=cfg.balanced, generator=g)
        tot, correct = 0.0, 0
        for i in range(0, n, cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            a = _random_views(acts, ok, idx, g)
            e, logits = upper(a)
            loss = F.cross_entropy(logits, y[idx], label_smoothing=cfg.label_smoothing)
            if use_oe:
                assert out_acts is not None and out_ok is not None
                j = torch.randint(len(out_acts), (min(len(idx), len(out_acts)),), generator=g)
                loss = loss - cfg.oe_weight * F.log_softmax(upper(_random_views(out_acts, out_ok, j, g))[1], 1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y[idx]).sum())
        rec = {"epoch": epoch, "train_loss": tot / n, "train_acc": correct / n, "lr": opt.param_groups[0]["lr"]}
        if val_acts is not None and val_y is not None and len(val_acts):
            upper.eval()
            with torch.inference_mode():
                vl = torch.cat([upper(val_acts[k : k + 256])[1] for k in range(0, len(val_acts), 256)])
            rec["val_loss"] = float(F.cross_entropy(vl, val_y))
            rec["val_acc"] = float((vl.argmax(1) == val_y).float().mean())
            if rec["val_loss"] < best:
                best, best_state = rec["val_loss"], copy.deepcopy(upper.state_dict())
        else:
            best_state = copy.deepcopy(upper.state_dict())
        history.append(rec)
    upper.load_state_dict(best_state)
    upper.eval()
    return history


def _random_views(acts: torch.Tensor, ok: torch.Tensor, idx: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """One readable view per photo of ``idx``, drawn uniformly: ``(B, C, H, W)`` float32."""
    pick = torch.rand(len(idx), ok.shape[1], generator=g) * ok[idx]  # unreadable views get 0
    return acts[idx, pick.argmax(1)].float()


def run_cached_finetune(cfg: TrainConfig, device: torch.device, data: RunData | None = None) -> tuple:
    """Train the ``finetune-cached`` mode and write the bundle.

    Args:
        cfg: the run's settings (``unfreeze_blocks``: blocks trained, 0 = the head only on the cached
            embeddings, i.e. a frozen backbone; ``views``: augmented views cached per photo).
        device: where the lower blocks run while caching (training the top runs on the CPU tensors).
        data: the run's photo lists (cross-validation passes a fold); default ``prepare_data(cfg)``.
    Returns:
        ``(bundle path, metrics dict)`` from ``training.finalize.finalize_run``.
    Raises:
        DatasetError, WeightsError, BundleError, ValueError (a backbone without ``features`` blocks).
    """
    t0 = time.monotonic()
    data = data or prepare_data(cfg)
    n_head = data.train.num_head_classes  # gallery-only classes (fewer than --min-images photos) have no head row
    model = build_model(cfg.backbone, n_head, cfg.weights, cfg.backbone_weights).eval()
    cut = split_point(model, cfg.unfreeze_blocks)
    cache = ActivationCache(
        model,
        cut,
        cfg.input_size,
        cfg.resize_size,
        cfg.cache_dir or cfg.resolved_work_dir() / "cache",
        seed=cfg.seed,
        device=device,
        batch_size=cfg.batch_size,
        workers=cfg.workers,
    )
    acts, ok = cache.views(data.train.paths, cfg.views)
    keep = ok[:, 0]  # a photo whose clean view is unreadable is left out
    acts, ok = acts[keep], ok[keep]
    y = torch.tensor(data.train.targets())[keep]
    val_acts, val_ok = cache.view(data.val.paths, 0)
    val_y = torch.tensor(data.val.targets())[val_ok]
    val_acts = val_acts[val_ok]
    out_acts = out_ok = None
    if data.outliers:
        out_acts, out_ok = cache.views(data.outliers, cfg.views)
    nl_acts = None
    if data.non_landmark:
        nl_all, nl_ok = cache.view(data.non_landmark, 0)
        nl_acts = nl_all[nl_ok]
    t_cache = time.monotonic() - t0

    upper = UpperNet(model, cut)
    if bool((y < n_head).all()) and bool((val_y < n_head).all()):
        history = train_top(upper, acts, ok, y, val_acts, val_y, cfg, out_acts, out_ok)
    else:  # the head trains on its classes only (no copy of the cache in the usual case above)
        h, vh = y < n_head, val_y < n_head
        history = train_top(upper, acts[h], ok[h], y[h], val_acts[vh], val_y[vh], cfg, out_acts, out_ok)
    model.eval()
    train_emb = _embed_all(upper, acts[:, 0])
    val_emb = _embed_all(upper, val_acts)
    nl_emb = _embed_all(upper, nl_acts) if nl_acts is not None else None
    summary = {
        "mode": "finetune-cached",
        "backbone": cfg.backbone,
        "backbone_weights": str(cfg.backbone_weights) if cfg.backbone_weights else cfg.weights,
        "trained_blocks": cfg.unfreeze_blocks,
        "first_trained_block": cut,
        "num_classes": len(data.train.classes),
        "train_images": int(keep.sum()),
        "val_images": int(len(val_y)),
        "non_landmark_images": 0 if nl_emb is None else int(nl_emb.shape[0]),
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
        "unreadable_images": int((~keep).sum()),
        "activation_seconds": round(t_cache, 1),
        "train_seconds": round(time.monotonic() - t0, 1),
        "device": str(device),
        "epochs_run": len(history),
    }
    return finalize_run(
        cfg,
        model,
        data.train.classes,
        Embedded(train_emb, y),
        Embedded(val_emb, val_y),
        nl_emb,
        history,
        summary,
        names=data.train.categories,
    )
