"""Shared pytest fixtures.

``shared_dir`` points at ``../shared`` beside the checkout (override with ``LANDMARK_SHARED``);
tests that need it use the ``shared_data`` fixture, which skips with that reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, make_tiny_bundle

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


@pytest.fixture()
def tiny_bundle_path(tmp_path) -> Path:
    """Path of a freshly written tiny random bundle (see ``make_tiny_bundle``)."""
    from core.recognition.bundle import save_bundle

    return save_bundle(make_tiny_bundle(), tmp_path / "tiny.safetensors")
