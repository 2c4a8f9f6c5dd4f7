"""End-to-end training loops: ``finetune`` (last N backbone blocks + head) and ``scratch`` (simple_cnn).

* Augmentation: ``training.transforms.train_loader``; evaluation with the app's preprocessing.
* Fine-tuning keeps the frozen blocks' BatchNorm layers in eval mode (their running statistics are
  never updated): the converted MobileNetV2's depthwise BatchNorm breaks with small-batch statistics
  (``../shared/torch-home/README.md``), and frozen features must stay what the gallery was built on.
* AMP (fp16 autocast + GradScaler) on CUDA; AdamW with cosine decay; backbone learning rate 0.1 × the
  head's when fine-tuning.
* Early stopping on the validation loss (``patience`` epochs); a checkpoint after every epoch
  (``checkpoint.pt`` in the work dir: model, optimiser, scheduler, scaler, epoch, history) and the
  best weights (``best.pt``); ``--resume`` continues from ``checkpoint.pt``.
* DistributedDataParallel under ``torchrun`` (``training.distributed``): the training batches are
  sharded, validation loss/accuracy are summed over processes, rank 0 writes checkpoints and the bundle.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from core.recognition.backbones import backbone_blocks
from training.config import TrainConfig
from training.data_setup import prepare_data
from training.datasets import class_balanced_weights
from training.distributed import (
    DistInfo,
    DistributedWeightedSampler,
    all_reduce_sum,
    cleanup_distributed,
    setup_distributed,
)
from training.features import extract_embeddings
from training.finalize import Embedded, finalize_run
from training.transforms import eval_loader, train_loader
from training.weights import build_model

__all__ = ["LabelledImageDataset", "freeze_for_finetune", "set_train_mode", "run_loop"]

log = logging.getLogger(__name__)


class LabelledImageDataset(Dataset):
    """``(image (3, S, S) float32, target int64, ok bool)``; an unreadable image gives zeros, ok=False."""

    def __init__(self, paths, targets, load, size: int) -> None:
        self.paths, self.targets, self.load, self.size = list(paths), list(targets), load, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            return self.load(self.paths[i]), self.targets[i], True
        except Exception as exc:  # noqa: BLE001 - corrupt file: skipped in the loss, never fatal
            log.warning("skipping %s: %s", self.paths[i], exc)
            return torch.zeros(3, self.size, self.size), self.targets[i], False


def freeze_for_finetune(model: nn.Module, backbone: str, unfreeze_blocks: int) -> list[nn.Module]:
    """Freeze the whole backbone except its last ``unfreeze_blocks`` blocks; the head stays trainable.

    Returns:
        the frozen blocks (their BatchNorm layers must stay in eval mode, see ``set_train_mode``).
    Raises:
        ValueError: ``unfreeze_blocks`` < 0.
    """
    if unfreeze_blocks < 0:
        raise ValueError("unfreeze_blocks must be >= 0")
    blocks = backbone_blocks(backbone, model.backbone)
    n_frozen = max(0, len(blocks) - unfreeze_blocks)
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    for b in blocks[n_frozen:]:
        for p in b.parameters():
            p.requires_grad_(True)
    return blocks[:n_frozen]


def set_train_mode(model: nn.Module, frozen_blocks: list[nn.Module]) -> None:
    """``model.train()`` but frozen blocks (and every BatchNorm inside them) in eval mode."""
    model.train()
    for b in frozen_blocks:
        b.eval()


def run_loop(cfg: TrainConfig, device: torch.device):
    """Train in ``finetune`` or ``scratch`` mode (optionally distributed) and write the bundle on rank 0.

    ``device``: the single-process device; under ``torchrun`` on CUDA each process takes ``cuda:LOCAL_RANK``.

    Returns:
        ``(bundle path, metrics)`` on rank 0, ``None`` on other ranks.
    Raises:
        DatasetError, WeightsError, ValueError (bad settings), RuntimeError (process group).
    """
    t0 = time.monotonic()
    info = setup_distributed(device)
    try:
        return _run(cfg, info, t0)
    finally:
        cleanup_distributed(info)


def _run(cfg: TrainConfig, info: DistInfo, t0: float):
    device = info.device
    torch.manual_seed(cfg.seed + info.rank)
    data = prepare_data(cfg)
    classes = data.train.classes
    if cfg.mode == "scratch":
        model = build_model("simple_cnn", len(classes), "none")
        frozen: list[nn.Module] = []
    else:
        model = build_model(cfg.backbone, len(classes), cfg.weights, cfg.backbone_weights)
        frozen = freeze_for_finetune(model, cfg.backbone, cfg.unfreeze_blocks)
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    work = cfg.resolved_work_dir()
    if info.is_main:
        work.mkdir(parents=True, exist_ok=True)

    y_train = data.train.targets()
    y_val = data.val.targets()
    train_ds = LabelledImageDataset(data.train.paths, y_train, train_loader(cfg.input_size), cfg.input_size)
    ev = eval_loader(cfg.input_size, cfg.resize_size)
    val_ds = LabelledImageDataset(data.val.paths, y_val, ev, cfg.input_size)
    if cfg.balanced:
        weights = class_balanced_weights(y_train)
        sampler = (
            DistributedWeightedSampler(weights, len(train_ds), info.rank, info.world_size, cfg.seed)
            if info.enabled
            else WeightedRandomSampler(weights, len(train_ds), replacement=True)
        )
    else:
        sampler = (
            DistributedSampler(train_ds, info.world_size, info.rank, shuffle=True, seed=cfg.seed)
            if info.enabled
            else None
        )
    pin = device.type == "cuda"
    train_dl = DataLoader(
        train_ds,
        batch_size=cfg.batch_size,
        sampler=sampler,
        shuffle=sampler is None,
        num_workers=cfg.workers,
        pin_memory=pin,
        drop_last=len(train_ds) > cfg.batch_size * info.world_size,
    )
    val_sampler = DistributedSampler(val_ds, info.world_size, info.rank, shuffle=False) if info.enabled else None
    val_dl = DataLoader(val_ds, batch_size=cfg.batch_size, sampler=val_sampler, num_workers=cfg.workers, pin_memory=pin)

    lr = cfg.lr or (3e-3 if cfg.mode == "scratch" else 1e-3)
    head_params = list(model.head.parameters())
    bb_params = [p for p in model.backbone.parameters() if p.requires_grad]
    groups = [{"params": head_params, "lr": lr}]
    if bb_params:
        groups.append({"params": bb_params, "lr": lr if cfg.mode == "scratch" else lr * 0.1})
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    steps = max(1, cfg.epochs * len(train_dl))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    net: nn.Module = model
    if info.enabled:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    start_epoch, history, best_loss, bad = 1, [], float("inf"), 0
    ckpt_path, best_path = work / "checkpoint.pt", work / "best.pt"
    if cfg.resume and ckpt_path.is_file():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        scaler.load_state_dict(ck["scaler"])
        start_epoch, history, best_loss, bad = ck["epoch"] + 1, ck["history"], ck["best_loss"], ck["bad_epochs"]
        if info.is_main:
            log.info("resumed from %s at epoch %d", ckpt_path, start_epoch)
    elif cfg.resume and info.is_main:
        log.warning("--resume: no checkpoint at %s, starting fresh", ckpt_path)

    amp_ctx = (lambda: torch.autocast("cuda", dtype=torch.float16)) if use_amp else contextlib.nullcontext
    for epoch in range(start_epoch, cfg.epochs + 1):
        if bad >= cfg.patience > 0:
            break
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        set_train_mode(model, frozen)
        tot = [0.0, 0.0, 0.0]  # loss sum, correct, count
        for x, y, ok in tqdm(
            train_dl, desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", leave=False, disable=not info.is_main
        ):
            x, y, ok = x.to(device, non_blocking=True), y.to(device), ok.to(device)
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with amp_ctx():
                _, logits = net(x)
                losses = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing, reduction="none")
                loss = (losses * ok).sum() / ok.sum().clamp(min=1)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            tot[0] += float(losses.detach()[ok].sum())
            tot[1] += float((logits.detach().argmax(1) == y)[ok].sum())
            tot[2] += float(ok.sum())
        model.eval()
        vt = [0.0, 0.0, 0.0]
        with torch.no_grad(), amp_ctx():
            for x, y, ok in val_dl:
                x, y, ok = x.to(device), y.to(device), ok.to(device)
                _, logits = net(x)
                vt[0] += float(F.cross_entropy(logits.float(), y, reduction="none")[ok].sum())
                vt[1] += float((logits.argmax(1) == y)[ok].sum())
                vt[2] += float(ok.sum())
        tot = all_reduce_sum(tot, info)
        vt = all_reduce_sum(vt, info)
        rec = {
            "epoch": epoch,
            "train_loss": tot[0] / max(tot[2], 1),
            "train_acc": tot[1] / max(tot[2], 1),
            "val_loss": vt[0] / max(vt[2], 1),
            "val_acc": vt[1] / max(vt[2], 1),
            "lr": opt.param_groups[0]["lr"],
            "seconds": round(time.monotonic() - t0, 1),
        }
        history.append(rec)
        improved = rec["val_loss"] < best_loss - 1e-5
        if improved:
            best_loss, bad = rec["val_loss"], 0
        else:
            bad += 1
        if info.is_main:
            log.info(
                "epoch %d: train loss %.3f acc %.3f | val loss %.3f acc %.3f",
                epoch,
                rec["train_loss"],
                rec["train_acc"],
                rec["val_loss"],
                rec["val_acc"],
            )
            state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            if improved:
                torch.save(state, best_path)
            tmp = ckpt_path.with_name("checkpoint.pt.tmp")
            torch.save(
                {
                    "model": state,
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "scaler": scaler.state_dict(),
                    "epoch": epoch,
                    "history": history,
                    "best_loss": best_loss,
                    "bad_epochs": bad,
                },
                tmp,
            )
            tmp.replace(ckpt_path)

    if not info.is_main:
        return None
    if best_path.is_file():
        model.load_state_dict(torch.load(best_path, map_location="cpu", weights_only=True))
    model.eval()
    kw = dict(batch_size=cfg.batch_size, num_workers=cfg.workers, device=device)
    tr_e, tr_ok = extract_embeddings(model, data.train.paths, ev, cfg.input_size, desc="gallery", **kw)
    va_e, va_ok = extract_embeddings(model, data.val.paths, ev, cfg.input_size, desc="validation", **kw)
    nl_e = None
    if data.non_landmark:
        nl_e, nl_ok = extract_embeddings(model, data.non_landmark, ev, cfg.input_size, desc="non-landmark", **kw)
        nl_e = nl_e[nl_ok]
    yt, yv = torch.tensor(y_train), torch.tensor(y_val)
    summary = {
        "mode": cfg.mode,
        "backbone": model.backbone_name,
        "backbone_weights": "none (random init)"
        if cfg.mode == "scratch"
        else (str(cfg.backbone_weights) if cfg.backbone_weights else cfg.weights),
        "num_classes": len(classes),
        "train_images": int(tr_ok.sum()),
        "val_images": int(va_ok.sum()),
        "non_landmark_images": 0 if nl_e is None else int(nl_e.shape[0]),
        "val_source": data.val_source,
        "dropped_classes_min_images": data.dropped_classes,
        "min_images": cfg.min_images,
        "unfreeze_blocks": cfg.unfreeze_blocks if cfg.mode == "finetune" else None,
        "world_size": info.world_size,
        "device": str(device),
        "amp": use_amp,
        "epochs_run": len(history),
        "train_seconds": round(time.monotonic() - t0, 1),
    }
    return finalize_run(
        cfg,
        model.cpu(),
        classes,
        Embedded(tr_e[tr_ok], yt[tr_ok]),
        Embedded(va_e[va_ok], yv[va_ok]),
        nl_e,
        history,
        summary,
    )
