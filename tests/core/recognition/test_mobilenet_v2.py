"""``core.recognition.mobilenet_v2`` is torchvision's MobileNetV2: same state_dict keys and shapes, same outputs."""

from __future__ import annotations

import torch

from core.recognition.backbones import LandmarkNet, backbone_blocks, build_backbone
from core.recognition.mobilenet_v2 import MobileNetV2


def _torchvision_backbone():
    import torchvision

    model = torchvision.models.mobilenet_v2(weights=None)
    model.classifier = torch.nn.Identity()
    return model


def test_state_dict_keys_and_shapes_are_torchvisions():
    ours = MobileNetV2().state_dict()
    theirs = _torchvision_backbone().state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape and ours[k].dtype == theirs[k].dtype for k in ours)


def test_outputs_equal_torchvisions_on_the_same_weights():
    torch.manual_seed(0)
    tv = _torchvision_backbone().eval()
    for m in tv.modules():  # non-trivial batch-norm statistics, so that every buffer matters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    ours = MobileNetV2().eval()
    ours.load_state_dict(tv.state_dict(), strict=True)
    x = torch.randn(2, 3, 96, 96)
    with torch.inference_mode():
        a, b = tv(x), ours(x)
    assert a.shape == b.shape == (2, 1280)
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def test_the_app_builds_mobilenet_v2_without_torchvision_and_fine_tuning_sees_its_19_stages():
    backbone, dim = build_backbone("mobilenet_v2")
    assert isinstance(backbone, MobileNetV2) and dim == 1280
    assert len(backbone_blocks("mobilenet_v2", backbone)) == 19
    net = LandmarkNet("mobilenet_v2", 3)
    assert set(net.state_dict()) == {f"backbone.{k}" for k in _torchvision_backbone().state_dict()} | {
        "head.weight",
        "head.bias",
    }
