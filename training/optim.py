"""Optimisation of the training loops: AdamW parameter groups, cosine learning-rate decay, one AMP step.

* AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization") with one parameter group
  for the head and one for the trainable backbone layers (fine-tuning trains them 10× slower).
* Cosine decay without restarts (Loshchilov & Hutter 2017, "SGDR"), stepped once per batch: the
  learning rate of step s of S is ``lr · 0.5 · (1 + cos(π · min(s, S) / S))``.
* Mixed precision: ``torch.amp.GradScaler`` scales the loss so fp16 gradients do not underflow
  (https://pytorch.org/docs/stable/amp.html); disabled it is a no-op.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["Optimisation", "build_optimisation", "cosine_schedule", "parameter_groups"]


def cosine_schedule(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Cosine decay of every group's learning rate from its initial value to 0 over ``total_steps``
    scheduler steps (at least 1), then 0."""
    steps = max(1, total_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))


def parameter_groups(head: nn.Module, backbone: nn.Module, lr: float, backbone_lr: float) -> list[dict]:
    """AdamW groups: the head's parameters at ``lr``; the backbone's trainable ones (``requires_grad``)
    at ``backbone_lr``, a group left out when there are none."""
    groups = [{"params": list(head.parameters()), "lr": lr}]
    trainable = [p for p in backbone.parameters() if p.requires_grad]
    if trainable:
        groups.append({"params": trainable, "lr": backbone_lr})
    return groups


@dataclass
class Optimisation:
    """Optimiser, per-batch scheduler and gradient scaler of one training run (all checkpointed)."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler

    def step(self, loss: torch.Tensor) -> None:
        """One optimisation step on a scalar ``loss``: zero the gradients, (scaled) backward, optimiser
        step, scaler update, scheduler step."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()

    @property
    def lr(self) -> float:
        """The learning rate of the first group (the head's), as it is now."""
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict:
        """``{"optimizer", "scheduler", "scaler"}`` state dicts (the checkpoint's keys)."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore from a dict with the keys of ``state_dict`` (raises KeyError when one is missing)."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])


def build_optimisation(groups: list[dict], *, weight_decay: float, total_steps: int, use_amp: bool) -> Optimisation:
    """AdamW over ``groups`` (see ``parameter_groups``) with cosine decay over ``total_steps`` batches
    and a CUDA ``GradScaler`` that is enabled only with ``use_amp``."""
    optimizer = torch.optim.AdamW(groups, weight_decay=weight_decay)
    return Optimisation(
        optimizer, cosine_schedule(optimizer, total_steps), torch.amp.GradScaler("cuda", enabled=use_amp)
    )
