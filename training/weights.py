"""Building a ``LandmarkNet`` with pretrained backbone weights.

Two sources of ImageNet weights:

* torchvision's weights enum of the backbone (``core.recognition.backbones.BACKBONES[name].weights_enum``),
  downloaded and cached by torchvision the normal way (needs internet once);
* a local file (``--backbone-weights FILE``): the ``state_dict`` of the *full* torchvision classifier
  network (e.g. ``torchvision.models.mobilenet_v2()``), such as
  ``../shared/torch-home/derived/mobilenet_v2_coral_tf2ptq_calib-a812eb75.pth``. Its ImageNet
  classifier keys are removed and the rest must match ``LandmarkNet.backbone`` exactly (strict load).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from core.recognition.backbones import BACKBONES, LandmarkNet

__all__ = ["WeightsError", "classifier_prefix", "load_backbone_state", "build_model"]


class WeightsError(ValueError):
    """Backbone weights that cannot be used (unreadable file, keys that do not fit the architecture)."""


def classifier_prefix(backbone: str) -> tuple[str, ...]:
    """State-dict key prefixes of the ImageNet classifier that ``BackboneSpec.strip`` removes.

    Derived by comparing the full torchvision model's keys with the stripped backbone's keys.
    """
    import torchvision

    full = set(getattr(torchvision.models, backbone)(weights=None).state_dict())
    stripped = set(LandmarkNet(backbone, 1).backbone.state_dict())
    return tuple(sorted(full - stripped))


def load_backbone_state(model: LandmarkNet, weights_file: str | Path) -> None:
    """Load a full torchvision classifier ``state_dict`` file into ``model.backbone`` (strict).

    Args:
        model: a ``LandmarkNet`` of the same torchvision architecture as the file.
        weights_file: ``torch.save``-d state_dict (loaded with ``weights_only=True``: no code runs), or a model
            bundle (``.safetensors``, e.g. the shipped model: its backbone is fine-tuned further).
    Raises:
        WeightsError: unreadable file, not a state_dict, or missing/unexpected keys after removing
            the classifier keys (names the first few).
    """
    path = Path(weights_file)
    if path.suffix == ".safetensors":
        from core.recognition.bundle import BundleError, load_bundle

        try:
            bundle = load_bundle(path)
        except BundleError as exc:
            raise WeightsError(f"cannot use {path.name} as backbone weights: {exc}") from None
        if bundle.backbone != model.backbone_name:
            raise WeightsError(f"{path.name} holds a {bundle.backbone} backbone, not {model.backbone_name}")
        prefix = "backbone."
        model.backbone.load_state_dict(
            {k[len(prefix) :]: v for k, v in bundle.state_dict.items() if k.startswith(prefix)}, strict=True
        )
        return
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise WeightsError(f"cannot read backbone weights {path}: {exc}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path.name} is not a state_dict of tensors")
    drop = set(classifier_prefix(model.backbone_name))
    state = {k: v for k, v in state.items() if k not in drop}
    try:
        model.backbone.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise WeightsError(
            f"{path.name} does not fit backbone {model.backbone_name}: {' '.join(first)[:400]}"
        ) from None


def build_model(
    backbone: str, num_classes: int, weights: str = "imagenet", weights_file: str | Path | None = None
) -> LandmarkNet:
    """A ``LandmarkNet`` with a freshly initialised head and the requested backbone weights.

    Args:
        backbone: key of ``core.recognition.backbones.BACKBONES``.
        num_classes: C, the head's output size.
        weights: ``"imagenet"`` (torchvision's enum, downloaded by torchvision) or ``"none"`` (random init).
            Ignored when ``weights_file`` is given. ``simple_cnn`` always starts from random weights.
        weights_file: local full-classifier state_dict (see module docstring).
    Raises:
        ValueError: unknown backbone or weights choice. WeightsError: bad weights file.
        (torchvision raises its own URLError/RuntimeError when the download fails.)
    """
    model = LandmarkNet(backbone, num_classes)
    spec = BACKBONES[backbone]
    if weights_file is not None:
        if backbone == "simple_cnn":
            raise ValueError("simple_cnn has no pretrained weights; drop --backbone-weights")
        load_backbone_state(model, weights_file)
    elif weights == "imagenet" and spec.weights_enum is not None:
        import torchvision

        enum_name, member = spec.weights_enum.split(".")
        w = getattr(getattr(torchvision.models, enum_name), member)
        full = getattr(torchvision.models, backbone)(weights=w)
        model.backbone.load_state_dict(spec.strip(full).state_dict(), strict=True)
    elif weights not in ("imagenet", "none"):
        raise ValueError(f"weights must be 'imagenet' or 'none', got {weights!r}")
    nn.init.normal_(model.head.weight, std=0.01)
    nn.init.zeros_(model.head.bias)
    return model
