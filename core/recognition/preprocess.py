"""Photo → network input tensor, the way a model bundle says.

The transform is torchvision's standard ImageNet evaluation transform
(``Resize(resize_size)`` on a PIL image, ``CenterCrop(input_size)``, ``ToTensor``,
``Normalize(mean, std)``; see ``torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.transforms()``):

1. resize so that the shorter side is ``resize_size`` pixels (bilinear, antialiased — Pillow's
   resampling filter widens its support when downscaling), the longer side ``int(resize_size ·
   long / short)`` as torchvision computes it;
2. centre crop ``input_size × input_size`` (offsets ``int(round((side - input_size) / 2))``, as
   ``torchvision.transforms.functional.center_crop``);
3. scale to [0, 1] and normalise per channel: ``(x - mean) / std``.

Steps 1-2 are done in one Pillow call: ``Image.resize(..., box=...)`` resamples only the source
region that ends up in the crop, with the same filter scale as resizing the whole photo, so the
result equals resize-then-crop (up to float rounding) while doing a fraction of the work.

Everything is deterministic and holds no shared mutable state, so a ``Preprocessor`` can be used
from several threads at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from core.photos.image_io import ImageDecodeError, open_photo

if TYPE_CHECKING:
    from core.recognition.bundle import ModelBundle

__all__ = ["Preprocessor", "resized_size", "preprocess"]


def resized_size(width: int, height: int, resize_size: int) -> tuple[int, int]:
    """Size ``(width, height)`` in pixels after resizing the shorter side to ``resize_size``.

    Same rule as ``torchvision.transforms.functional.resize`` with an int size: the longer side is
    ``int(resize_size * long / short)`` (truncated).
    """
    if width <= height:
        return resize_size, int(resize_size * height / width)
    return int(resize_size * width / height), resize_size


def _crop_box(width: int, height: int, resize_size: int, input_size: int) -> tuple[float, float, float, float]:
    """Source-pixel box ``(left, top, right, bottom)`` that resize + centre crop maps onto the output."""
    rw, rh = resized_size(width, height, resize_size)
    left = int(round((rw - input_size) / 2.0))
    top = int(round((rh - input_size) / 2.0))
    sx, sy = width / rw, height / rh
    return (left * sx, top * sy, (left + input_size) * sx, (top + input_size) * sy)


def preprocess(
    image: Image.Image,
    *,
    input_size: int,
    resize_size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
) -> torch.Tensor:
    """PIL image → normalised network input.

    Args:
        image: any Pillow image (converted to RGB when it is not).
        input_size: side S of the square output, pixels.
        resize_size: shorter side after resizing, pixels, ``>= input_size``.
        mean, std: per-channel RGB normalisation of [0, 1] values (e.g. ImageNet mean/std).
    Returns:
        ``(3, S, S)`` float32 tensor, contiguous, CPU.
    Raises:
        ValueError: ``resize_size < input_size`` or an image with an empty side.
    """
    return Preprocessor(input_size, resize_size, tuple(mean), tuple(std))(image)


@dataclass(frozen=True)
class Preprocessor:
    """The bundle's image transform (see the module docstring), callable on PIL images.

    Attributes:
        input_size: side S of the square network input, pixels.
        resize_size: shorter side after resizing, pixels (``>= input_size``).
        mean, std: per-channel RGB normalisation of [0, 1] values.
    """

    input_size: int
    resize_size: int
    mean: tuple[float, ...]  # 3 values (checked)
    std: tuple[float, ...]
    _scale: torch.Tensor = field(init=False, repr=False, compare=False)  # (3, 1, 1) float32, set in __post_init__
    _shift: torch.Tensor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.input_size < 1 or self.resize_size < self.input_size:
            raise ValueError(f"need 1 <= input_size <= resize_size, got {self.input_size} / {self.resize_size}")
        if len(self.mean) != 3 or len(self.std) != 3 or any(s <= 0 for s in self.std):
            raise ValueError("mean and std need 3 values each, std > 0")
        # x_norm = x_uint8 * scale + shift, with scale = 1 / (255 std), shift = -mean / std.
        object.__setattr__(
            self, "_scale", torch.tensor([1.0 / (255.0 * s) for s in self.std], dtype=torch.float32).view(3, 1, 1)
        )
        object.__setattr__(
            self,
            "_shift",
            torch.tensor([-m / s for m, s in zip(self.mean, self.std)], dtype=torch.float32).view(3, 1, 1),
        )

    @classmethod
    def from_bundle(cls, bundle: ModelBundle) -> Preprocessor:
        """The transform stored in ``bundle`` (``input_size``, ``resize_size``, ``mean``, ``std``)."""
        return cls(int(bundle.input_size), int(bundle.resize_size), tuple(bundle.mean), tuple(bundle.std))

    def crop(self, image: Image.Image) -> Image.Image:
        """Resize + centre crop: RGB PIL image of ``input_size × input_size`` pixels.

        Raises:
            ValueError: an image with an empty side.
        """
        if image.mode != "RGB":
            image = image.convert("RGB")
        w, h = image.size
        if w < 1 or h < 1:
            raise ValueError(f"cannot preprocess an empty image ({w} × {h})")
        s = self.input_size
        return image.resize((s, s), Image.Resampling.BILINEAR, box=_crop_box(w, h, self.resize_size, s))

    def to_uint8(self, image: Image.Image) -> torch.Tensor:
        """Resize + centre crop, unnormalised: ``(3, S, S)`` uint8 tensor (RGB, CHW)."""
        arr = np.asarray(self.crop(image), dtype=np.uint8)  # (S, S, 3) HWC
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))

    def normalize(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 ``(3, S, S)`` or ``(B, 3, S, S)`` → float32 normalised, same shape.

        Works on any device (the constants follow the input's device).
        """
        scale = self._scale.to(batch.device)
        shift = self._shift.to(batch.device)
        out = batch.contiguous().to(torch.float32)
        if out.data_ptr() == batch.data_ptr():  # already float32: never modify the caller's tensor
            out = out.clone()
        return out.mul_(scale).add_(shift)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        """PIL image → ``(3, S, S)`` float32 normalised tensor (CPU, contiguous)."""
        return self.normalize(self.to_uint8(image))

    def load_uint8(self, path: str | os.PathLike) -> torch.Tensor:
        """Decode a photo file (``core.photos.image_io.open_photo`` with draft decoding down to
        ``resize_size``), resize and centre crop it, unnormalised.

        Returns:
            ``(3, S, S)`` uint8 tensor (RGB, CHW), CPU; ``normalize`` turns it into network input.
        Raises:
            ImageDecodeError: the file cannot be decoded (see ``open_photo``).
        """
        image = open_photo(path, target_size=self.resize_size)
        try:
            return self.to_uint8(image)
        except (ValueError, OSError, MemoryError) as exc:
            raise ImageDecodeError(
                path, f"cannot prepare the image ({exc.__class__.__name__}: {exc})", "corrupt"
            ) from None
        finally:
            image.close()

    def load(self, path: str | os.PathLike) -> torch.Tensor:
        """Decode and preprocess a photo file: ``(3, S, S)`` float32 normalised tensor, CPU.

        Raises:
            ImageDecodeError: the file cannot be decoded (see ``open_photo``).
        """
        return self.normalize(self.load_uint8(path))
