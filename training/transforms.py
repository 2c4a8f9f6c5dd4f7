"""Path → tensor loaders used by the training module: the app's evaluation transform and augmentation.

The *evaluation* loader is exactly the app's: ``core.recognition.preprocess.Preprocessor.load`` (decoding with
``core.photos.image_io.open_photo``: EXIF orientation, RGB, JPEG draft decoding; shorter side resized to
``resize_size``, centre crop ``input_size``, ImageNet mean/std). This matters: the kNN gallery stored
in a bundle is made of training-image embeddings computed with it, and calibration is fitted on it.

The *training* augmentation follows the usual ImageNet recipe (random-resized crop, Szegedy et al.
2015; horizontal flip; mild colour jitter), never rotation (photos have an up direction).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from core.photos.image_io import open_photo
from core.recognition.preprocess import Preprocessor

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "AUGMENTATION_ID", "eval_loader", "train_loader"]

#: ImageNet per-channel mean/std of [0, 1] RGB (torchvision's ImageNet weights' transforms).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Identifies the augmentation recipe of ``train_loader`` (change it whenever the recipe changes).
AUGMENTATION_ID = "rrc35-flip-cj332"


def eval_loader(
    input_size: int, resize_size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD
) -> Callable[[str | Path], torch.Tensor]:
    """Photo path → ``(3, input_size, input_size)`` float32, exactly as the app preprocesses.

    Raises (when called): ``core.photos.image_io.ImageDecodeError`` for an unreadable photo.
    """
    return Preprocessor(input_size, resize_size, tuple(mean), tuple(std)).load


def train_loader(
    input_size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD, *, min_scale: float = 0.35
) -> Callable[[str | Path], torch.Tensor]:
    """Photo path → random augmented view ``(3, input_size, input_size)`` float32.

    RandomResizedCrop(input_size, scale=(min_scale, 1)), RandomHorizontalFlip, ColorJitter(brightness 0.3,
    contrast 0.3, saturation 0.2; no hue jitter: it costs ~35 ms per photo in Pillow and landmark colours
    matter), then ImageNet mean/std. ``AUGMENTATION_ID`` names this recipe in feature-cache keys. Uses torch's global RNG (seed it for reproducibility).
    The photo is draft-decoded to about 2 × input_size first (enough pixels for any crop of the scale
    range on the ≤ 384 px training photos; faster on large JPEGs).
    Raises (when called): ``core.photos.image_io.ImageDecodeError``.
    """
    from torchvision import transforms as T
    from torchvision.transforms import functional as TF

    aug = T.Compose(
        [
            T.RandomResizedCrop(input_size, scale=(min_scale, 1.0), antialias=True),
            T.RandomHorizontalFlip(),
            T.ColorJitter(0.3, 0.3, 0.2),
        ]
    )

    def load(path) -> torch.Tensor:
        im = open_photo(path, target_size=2 * input_size)
        try:
            return TF.normalize(TF.to_tensor(aug(im)), list(mean), list(std))
        finally:
            im.close()

    return load
