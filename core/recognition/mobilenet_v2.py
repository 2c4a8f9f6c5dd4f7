"""MobileNetV2 without torchvision: the app's backbone, built from ``torch.nn`` alone.

Importing torchvision costs ~180 MB of resident memory and ~1.4 s of CPU on top of torch (measured with the CUDA
build of torch 2.14 / torchvision 0.29, ``bench/bench_camera.py``), and all the app needs from it is this one
architecture. This module is the same network as ``torchvision.models.mobilenet_v2`` (Sandler et al., "MobileNetV2:
Inverted Residuals and Linear Bottlenecks", CVPR 2018; torchvision's ``mobilenetv2.py``), with the same module tree,
so its ``state_dict`` keys and shapes are torchvision's (``features.0.0.weight`` … ``features.18.1.running_var``) and
a bundle or ImageNet checkpoint made with either loads into the other (``tests/core/recognition/test_mobilenet_v2.py``
checks keys, shapes and outputs against torchvision). Training still uses torchvision for its weights and for the
other backbones.

Input ``(B, 3, H, W)`` float32 (ImageNet mean/std normalised), output ``(B, 1280)`` features after global average
pooling and ``classifier`` (``nn.Identity`` here: ``core.recognition.backbones`` strips the ImageNet head).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["MobileNetV2", "INVERTED_RESIDUAL_SETTING", "LAST_CHANNEL"]

#: ``(t, c, n, s)`` per stage: expansion factor, output channels, repeats, stride of the first (Table 2 of the paper).
INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
#: Channels of the last 1×1 convolution: the feature size D.
LAST_CHANNEL = 1280
_FIRST_CHANNEL = 32


class ConvBNReLU6(nn.Sequential):
    """``Conv2d`` (no bias, "same" padding) → ``BatchNorm2d`` → ``ReLU6``; children ``0``, ``1``, ``2`` like
    torchvision's ``Conv2dNormActivation``."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """Expand (1×1, ×``t``) → depthwise 3×3 (stride ``s``) → project (1×1, linear); a residual connection when the
    shape is kept. ``conv`` holds the layers with torchvision's indices."""

    def __init__(self, cin: int, cout: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = int(round(cin * expand_ratio))
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU6(cin, hidden, kernel_size=1))
        layers += [
            ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, 1, 0, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2, width 1.0 (see the module docstring). ``features`` is the ``nn.Sequential`` of 19 stages that
    fine-tuning unfreezes from the end (``core.recognition.backbones.backbone_blocks``).

    Weights are initialised as torchvision does (Kaiming-normal fan-out convolutions, unit/zero batch norm), so
    training from scratch behaves the same.
    """

    def __init__(self) -> None:
        super().__init__()
        features: list[nn.Module] = [ConvBNReLU6(3, _FIRST_CHANNEL, stride=2)]
        cin = _FIRST_CHANNEL
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            for i in range(n):
                features.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        features.append(ConvBNReLU6(cin, LAST_CHANNEL, kernel_size=1))
        self.features = nn.Sequential(*features)
        self.classifier: nn.Module = nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))
