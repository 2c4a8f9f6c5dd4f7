"""Training the linear head on cached embeddings (frozen-backbone mode).

The head is ``LandmarkNet.head``: ``nn.Linear(D, C)`` applied to the unit-norm embedding. It is
trained with cross-entropy (label smoothing optional), AdamW and cosine learning-rate decay; batches
are drawn class-balanced with ``WeightedRandomSampler`` when asked (long-tailed data). The epoch
with the lowest validation loss is kept (early stopping with ``patience``).

Outlier Exposure (Hendrycks, Mazeika & Dietterich 2019, "Deep Anomaly Detection with Outlier
Exposure", ICLR; eq. for classifiers: cross-entropy to the uniform distribution): when embeddings of
photos *without* a landmark are given, each step adds ``λ · mean_i[ −(1/C) Σ_c log softmax(head(x_i))_c ]``
over a batch of them, so the head learns to spread its probability on such photos and the app's
"top-1 confidence below threshold → no landmark" rule can reject them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler
from tqdm import tqdm

from training.datasets import class_balanced_weights
from training.optim import cosine_schedule

__all__ = ["HeadConfig", "train_head"]


@dataclass
class HeadConfig:
    """Hyper-parameters of head training.

    Attributes: epochs, batch_size, lr (AdamW learning rate), weight_decay, label_smoothing,
    balanced (class-balanced sampling), patience (epochs without validation-loss improvement before
    stopping; 0 = never), seed, oe_weight (λ of the Outlier Exposure term).
    """

    epochs: int = 60
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    balanced: bool = True
    patience: int = 15
    seed: int = 0
    oe_weight: float = 0.5


def train_head(
    head: nn.Linear,
    x: torch.Tensor,
    y: torch.Tensor,
    x_val: torch.Tensor | None,
    y_val: torch.Tensor | None,
    cfg: HeadConfig,
    x_out: torch.Tensor | None = None,
) -> tuple[nn.Linear, list[dict]]:
    """Fit ``head`` on embeddings.

    Args:
        head: ``nn.Linear(D, C)`` (modified in place and returned with the best epoch's weights).
        x: ``(N, D)`` float32 training embeddings (all views); y: ``(N,)`` int64.
        x_val, y_val: validation embeddings/targets for model selection, or None (last epoch kept).
        cfg: hyper-parameters.
        x_out: ``(M, D)`` float32 embeddings of photos without a landmark (Outlier Exposure), or None.
    Returns:
        ``(head, history)``; history has one dict per epoch: epoch, train_loss (including the OE term when used), train_acc,
        val_loss, val_acc, lr.
    """
    g = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    ds = TensorDataset(x.float(), y.long())
    if cfg.balanced:
        sampler = WeightedRandomSampler(
            class_balanced_weights(y.tolist()), num_samples=len(ds), replacement=True, generator=g
        )
        dl = DataLoader(ds, batch_size=cfg.batch_size, sampler=sampler)
    else:
        dl = DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, generator=g)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = cosine_schedule(opt, cfg.epochs * len(dl))
    best_loss, best_state, bad = float("inf"), copy.deepcopy(head.state_dict()), 0
    history: list[dict] = []
    from training.calibration import single_thread

    with single_thread():
        return _fit(head, dl, opt, sched, x_val, y_val, cfg, best_loss, best_state, bad, history, x_out, g)


def _fit(head, dl, opt, sched, x_val, y_val, cfg, best_loss, best_state, bad, history, x_out, g):
    use_oe = x_out is not None and len(x_out) > 0 and cfg.oe_weight > 0
    for epoch in tqdm(range(1, cfg.epochs + 1), desc="head", unit="epoch", leave=False):
        head.train()
        tot, correct, n = 0.0, 0, 0
        for xb, yb in dl:
            logits = head(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=cfg.label_smoothing)
            if use_oe:
                xo = x_out[torch.randint(len(x_out), (min(len(xb), len(x_out)),), generator=g)]
                loss = loss - cfg.oe_weight * F.log_softmax(head(xo), dim=1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(yb)
            correct += int((logits.argmax(1) == yb).sum())
            n += len(yb)
        rec = {"epoch": epoch, "train_loss": tot / n, "train_acc": correct / n, "lr": opt.param_groups[0]["lr"]}
        if x_val is not None and len(x_val):
            head.eval()
            with torch.no_grad():
                vl = head(x_val.float())
                rec["val_loss"] = float(F.cross_entropy(vl, y_val.long()))
                rec["val_acc"] = float((vl.argmax(1) == y_val).float().mean())
            if rec["val_loss"] < best_loss - 1e-5:
                best_loss, best_state, bad = rec["val_loss"], copy.deepcopy(head.state_dict()), 0
            else:
                bad += 1
        else:
            best_state = copy.deepcopy(head.state_dict())
        history.append(rec)
        if cfg.patience and bad >= cfg.patience:
            break
    head.load_state_dict(best_state)
    return head, history
