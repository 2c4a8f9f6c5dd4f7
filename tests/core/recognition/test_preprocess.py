"""``core.recognition.preprocess``: the bundle's resize / centre crop / mean-std transform."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from core.photos.image_io import ImageDecodeError
from core.recognition.preprocess import Preprocessor, preprocess, resized_size
from tests.helpers import make_tiny_bundle

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _photo(w=400, h=300, seed=0):
    """A smooth random colour field (like a photo: neighbouring pixels correlate)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 20 + 1, w // 20 + 1, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)


def test_resized_size_follows_torchvision():
    assert resized_size(400, 300, 256) == (341, 256)  # int(256 · 400/300) = 341
    assert resized_size(300, 400, 256) == (256, 341)
    assert resized_size(256, 256, 256) == (256, 256)
    assert resized_size(100, 50, 72) == (144, 72)


def test_output_shape_dtype_and_normalisation_of_a_flat_image():
    img = Image.new("RGB", (300, 200), (255, 128, 0))
    x = preprocess(img, input_size=224, resize_size=256, mean=MEAN, std=STD)
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32 and x.is_contiguous()
    expected = [(255 / 255 - MEAN[0]) / STD[0], (128 / 255 - MEAN[1]) / STD[1], (0 - MEAN[2]) / STD[2]]
    for c in range(3):
        assert torch.allclose(x[c], torch.full((224, 224), expected[c]), atol=1e-5)


def test_matches_torchvision_imagenet_transform():
    from torchvision.transforms import v2

    tv = v2.Compose(
        [
            v2.Resize(256),
            v2.CenterCrop(224),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(MEAN, STD),
        ]
    )
    p = Preprocessor(224, 256, MEAN, STD)
    lsb = 1 / 255 / min(STD)  # one 8-bit step after normalisation
    for w, h, seed in [(400, 300, 0), (300, 533, 1), (1024, 256, 2), (120, 90, 3), (256, 256, 4)]:
        img = _photo(w, h, seed)
        ours, ref = p(img), tv(img)
        assert ours.shape == ref.shape == (3, 224, 224)
        assert (ours - ref).abs().max().item() <= lsb + 1e-4, (w, h)


def test_centre_crop_keeps_the_middle():
    # 600 × 200: resized to 768 × 256, crop 224 from x = 272; the outer thirds must not appear
    arr = np.zeros((200, 600, 3), np.uint8)
    arr[:, :200] = (255, 0, 0)
    arr[:, 200:400] = (0, 255, 0)
    arr[:, 400:] = (0, 0, 255)
    u8 = Preprocessor(224, 256, MEAN, STD).to_uint8(Image.fromarray(arr))
    assert u8.dtype == torch.uint8 and u8.shape == (3, 224, 224)
    assert (u8[1] == 255).all() and (u8[0] == 0).all() and (u8[2] == 0).all()


def test_non_rgb_input_and_upscaling():
    x = Preprocessor(64, 72, MEAN, STD)(Image.new("L", (10, 20), 200))
    assert x.shape == (3, 64, 64)
    assert torch.allclose(x[0], torch.full((64, 64), (200 / 255 - MEAN[0]) / STD[0]), atol=1e-5)


def test_deterministic_and_does_not_touch_the_input():
    img = _photo()
    before = np.asarray(img).copy()
    p = Preprocessor(224, 256, MEAN, STD)
    assert torch.equal(p(img), p(img))
    assert np.array_equal(np.asarray(img), before)
    t = torch.zeros(3, 4, 4)
    p.normalize(t)
    assert (t == 0).all()  # a float input is not normalised in place


def test_from_bundle_and_load(tmp_path):
    p = Preprocessor.from_bundle(make_tiny_bundle())
    assert (p.input_size, p.resize_size, p.mean, p.std) == (64, 72, MEAN, STD)
    path = tmp_path / "a.jpg"
    _photo().save(path, quality=95)
    x = p.load(path)
    assert x.shape == (3, 64, 64)
    assert torch.equal(p.normalize(p.load_uint8(path)), x)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a photo")
    with pytest.raises(ImageDecodeError):
        p.load(bad)


def test_invalid_sizes_are_refused():
    with pytest.raises(ValueError):
        Preprocessor(224, 200, MEAN, STD)
    with pytest.raises(ValueError):
        Preprocessor(224, 256, MEAN, (0.2, 0.0, 0.2))
