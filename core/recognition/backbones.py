"""Backbone construction: torchvision ImageNet architectures turned into embedding extractors.

Every model the app runs is ``LandmarkNet``: a backbone that maps an image batch of shape
``(B, 3, H, W)`` float32 (ImageNet mean/std normalised) to a feature vector ``(B, D)``, the
L2-normalised *embedding* ``(B, D)``, and a linear classification head on that embedding giving
logits ``(B, C)``.  Because the head reads the L2-normalised embedding, a stored embedding is
enough to re-score a photo later (new gallery entries, user corrections) without running the CNN.

The architecture is always built from code by name (``BACKBONES``); a model bundle only carries
tensors, so no code can run from a model file. MobileNetV2 (the shipped model's backbone) is built by
``core.recognition.mobilenet_v2`` without importing torchvision (~180 MB and ~1.4 s of CPU saved in the app);
the other torchvision architectures import torchvision when built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["BACKBONES", "BackboneSpec", "LandmarkNet", "SimpleCNN", "build_backbone", "backbone_blocks"]


class SimpleCNN(nn.Module):
    """Small CNN trained from scratch: the baseline transfer learning is compared against.

    Five conv-BN-ReLU-maxpool stages (32-64-128-256-256 channels) and global average pooling.
    Input ``(B, 3, H, W)`` float32, output ``(B, 256)`` float32.
    """

    def __init__(self) -> None:
        super().__init__()
        chans = [3, 32, 64, 128, 256, 256]
        layers: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.features(x)), 1)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone.

    Attributes:
        name: torchvision builder name (``torchvision.models.<name>``) or ``"simple_cnn"``.
        embedding_dim: size D of the feature vector the stripped network returns.
        weights_enum: name of torchvision's ImageNet weights enum member
            (e.g. ``"MobileNet_V2_Weights.IMAGENET1K_V1"``), ``None`` for ``simple_cnn``.
        strip: turns the full torchvision classifier network into a feature extractor in place.
        blocks: returns the backbone's sequential stages, input side first (for fine-tuning the
            last N blocks).
    """

    name: str
    embedding_dim: int
    weights_enum: str | None
    strip: Callable[[nn.Module], nn.Module]
    blocks: Callable[[nn.Module], list[nn.Module]]


def _strip_attr(attr: str, index: int | None = None) -> Callable[[nn.Module], nn.Module]:
    def strip(model: nn.Module) -> nn.Module:
        if index is None:
            setattr(model, attr, nn.Identity())
        else:
            getattr(model, attr)[index] = nn.Identity()
        return model

    return strip


def _features_blocks(model: Any) -> list[nn.Module]:
    return list(model.features.children())


def _resnet_blocks(model: Any) -> list[nn.Module]:
    return [nn.Sequential(model.conv1, model.bn1), model.layer1, model.layer2, model.layer3, model.layer4]


BACKBONES: dict[str, BackboneSpec] = {
    "mobilenet_v2": BackboneSpec(
        "mobilenet_v2", 1280, "MobileNet_V2_Weights.IMAGENET1K_V1", _strip_attr("classifier"), _features_blocks
    ),
    "mobilenet_v3_large": BackboneSpec(
        "mobilenet_v3_large",
        960,
        "MobileNet_V3_Large_Weights.IMAGENET1K_V1",
        _strip_attr("classifier"),
        _features_blocks,
    ),
    "efficientnet_b0": BackboneSpec(
        "efficientnet_b0", 1280, "EfficientNet_B0_Weights.IMAGENET1K_V1", _strip_attr("classifier"), _features_blocks
    ),
    "resnet50": BackboneSpec("resnet50", 2048, "ResNet50_Weights.IMAGENET1K_V1", _strip_attr("fc"), _resnet_blocks),
    "convnext_tiny": BackboneSpec(
        "convnext_tiny", 768, "ConvNeXt_Tiny_Weights.IMAGENET1K_V1", _strip_attr("classifier", 2), _features_blocks
    ),
    "vgg16": BackboneSpec("vgg16", 4096, "VGG16_Weights.IMAGENET1K_V1", _strip_attr("classifier", 6), _features_blocks),
    "simple_cnn": BackboneSpec("simple_cnn", 256, None, lambda m: m, _features_blocks),
}


def build_backbone(name: str) -> tuple[nn.Module, int]:
    """Build an *uninitialised-weights* backbone by name and strip its ImageNet classifier.

    Args:
        name: a key of ``BACKBONES``.
    Returns:
        ``(module, embedding_dim)``; the module maps ``(B, 3, H, W)`` float32 to ``(B, D)`` float32.
    Raises:
        ValueError: unknown backbone name.
    """
    spec = BACKBONES.get(name)
    if spec is None:
        raise ValueError(f"unknown backbone {name!r}; supported: {', '.join(sorted(BACKBONES))}")
    if name == "simple_cnn":
        return SimpleCNN(), spec.embedding_dim
    if name == "mobilenet_v2":  # torchvision's module tree and state_dict keys, without torchvision
        from core.recognition.mobilenet_v2 import MobileNetV2

        return spec.strip(MobileNetV2()), spec.embedding_dim
    import torchvision  # deferred: keeps `import core` light

    model = getattr(torchvision.models, name)(weights=None)
    return spec.strip(model), spec.embedding_dim


def backbone_blocks(name: str, backbone: nn.Module) -> list[nn.Module]:
    """The backbone's sequential stages, input side first (used to unfreeze the last N)."""
    return BACKBONES[name].blocks(backbone)


class LandmarkNet(nn.Module):
    """Backbone + L2-normalised embedding + linear head.

    ``forward(x)`` takes ``(B, 3, H, W)`` float32 and returns ``(embedding, logits)``:
    ``embedding`` ``(B, D)`` float32 with unit L2 norm, ``logits`` ``(B, C)`` float32 = ``head(embedding)``.
    State-dict keys are ``backbone.*`` and ``head.weight`` / ``head.bias``.
    """

    def __init__(self, backbone_name: str, num_classes: int) -> None:
        super().__init__()
        self.backbone_name = backbone_name
        self.backbone, self.embedding_dim = build_backbone(backbone_name)
        self.head = nn.Linear(self.embedding_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` float32 → L2-normalised embedding ``(B, D)`` float32."""
        return F.normalize(self.backbone(x).float(), dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.embed(x)
        return emb, self.head(emb)
