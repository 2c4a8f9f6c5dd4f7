"""Shared pytest fixtures.

``shared_dir`` points at ``../shared`` beside the checkout (override with ``LANDMARK_SHARED``);
tests that need it use the ``shared_data`` fixture, which skips with that reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("LANDMARK_SHARED", REPO_ROOT.parent / "shared")).resolve()
SHARED_DATA = SHARED_DIR / "data"
MOBILENET_V2_WEIGHTS = SHARED_DIR / "torch-home" / "derived" / "mobilenet_v2_coral_tf2ptq_calib-a812eb75.pth"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; skips the test when it is absent (CI always has it)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs ../shared/data (not found at {SHARED_DATA})")
    return SHARED_DATA


@pytest.fixture(scope="session")
def mobilenet_v2_weights() -> Path:
    """The ImageNet-pretrained MobileNetV2 state_dict in ``../shared/torch-home``; skips when absent."""
    if not MOBILENET_V2_WEIGHTS.is_file():
        pytest.skip(f"needs ../shared/torch-home (not found at {MOBILENET_V2_WEIGHTS})")
    return MOBILENET_V2_WEIGHTS


def make_tiny_bundle(class_keys=("alpha", "beta", "gamma"), *, gallery_per_class: int = 2, seed: int = 0):
    """A small random-weight ``simple_cnn`` bundle (input 64 px) for fast tests of the plumbing.

    Returns a ``core.model_bundle.ModelBundle``; its predictions are meaningless but deterministic.
    """
    import torch

    from core.backbones import LandmarkNet
    from core.model_bundle import LandmarkClass, ModelBundle

    torch.manual_seed(seed)
    net = LandmarkNet("simple_cnn", len(class_keys))
    n = gallery_per_class * len(class_keys)
    gal = torch.nn.functional.normalize(torch.randn(n, net.embedding_dim), dim=1)
    labels = torch.arange(len(class_keys)).repeat_interleave(gallery_per_class)
    return ModelBundle(
        backbone="simple_cnn", input_size=64, resize_size=72,
        mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
        classes=[LandmarkClass(k, k.title(), 10.0 + i, 20.0 + i, "Testland") for i, k in enumerate(class_keys)],
        temperature=1.0, no_landmark_threshold=0.2, embedding_dim=net.embedding_dim,
        model_version=f"tiny-{seed}", state_dict=net.state_dict(),
        gallery_embeddings=gal if gallery_per_class else None,
        gallery_labels=labels if gallery_per_class else None,
        training={"note": "random weights, tests only"},
    )


@pytest.fixture()
def tiny_bundle_path(tmp_path) -> Path:
    """Path of a freshly written tiny random bundle (see ``make_tiny_bundle``)."""
    from core.model_bundle import save_bundle

    return save_bundle(make_tiny_bundle(), tmp_path / "tiny.safetensors")
