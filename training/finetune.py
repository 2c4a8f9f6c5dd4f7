"""The ``finetune`` mode: the last ``unfreeze_blocks`` backbone blocks and the head trained on images.

The pretrained backbone (ImageNet or ``--backbone-weights``) is frozen except its last blocks; the frozen
blocks' BatchNorm layers stay in eval mode (their running statistics are never updated): the converted
MobileNetV2's depthwise BatchNorm breaks with small-batch statistics (``../shared/torch-home/README.md``).
Learning rates: the head ``cfg.lr`` (default 1e-3), the trainable backbone blocks 0.1 × that.
The run itself (AMP, DDP, checkpoints/resume, bundle) is ``training.end_to_end``.
"""

from __future__ import annotations

import torch
from torch import nn

from core.recognition.backbones import LandmarkNet, backbone_blocks
from training.config import TrainConfig
from training.end_to_end import RunResult, run_end_to_end
from training.fit import FitPlan
from training.weights import build_model

__all__ = ["finetune_plan", "freeze_for_finetune", "run_finetune"]

#: Default learning rate of the head; the trainable backbone blocks get ``BACKBONE_LR_FACTOR`` × the head's.
DEFAULT_LR = 1e-3
BACKBONE_LR_FACTOR = 0.1


def freeze_for_finetune(model: LandmarkNet, backbone: str, unfreeze_blocks: int) -> list[nn.Module]:
    """Freeze the whole backbone except its last ``unfreeze_blocks`` blocks; the head stays trainable.

    Returns:
        the frozen blocks (their BatchNorm layers must stay in eval mode, see ``training.engine.set_train_mode``).
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


def finetune_plan(cfg: TrainConfig, num_classes: int) -> FitPlan:
    """The pretrained ``cfg.backbone`` with a new head for ``num_classes``, frozen but for the last blocks.

    Raises WeightsError / ValueError (see ``training.weights.build_model``, ``freeze_for_finetune``)."""
    model = build_model(cfg.backbone, num_classes, cfg.weights, cfg.backbone_weights)
    frozen = freeze_for_finetune(model, cfg.backbone, cfg.unfreeze_blocks)
    lr = cfg.lr or DEFAULT_LR
    return FitPlan(
        model,
        frozen,
        lr=lr,
        backbone_lr=lr * BACKBONE_LR_FACTOR,
        backbone_weights=str(cfg.backbone_weights) if cfg.backbone_weights else cfg.weights,
        unfreeze_blocks=cfg.unfreeze_blocks,
    )


def run_finetune(cfg: TrainConfig, device: torch.device) -> RunResult | None:
    """Fine-tune and write the bundle: ``(bundle path, metrics)`` on rank 0, None on other ranks."""
    return run_end_to_end(cfg, device, lambda num_classes: finetune_plan(cfg, num_classes))
