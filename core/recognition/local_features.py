"""Local features of a photo for geometric verification: RootSIFT keypoints and descriptors.

``extract_local_features(path)`` decodes a photo (``core.photos.image_io.open_photo``, JPEG draft decoding),
converts it to 8-bit greyscale, shrinks it so that its longer side is at most ``ExtractionParams.max_side``
pixels (never enlarges it), and runs OpenCV's SIFT detector and descriptor (Lowe 2004, "Distinctive Image
Features from Scale-Invariant Keypoints"; ``cv2.SIFT.create``), keeping the ``max_keypoints`` keypoints of
highest detector response.

Storage is compact and lossless with respect to what OpenCV computes: OpenCV's SIFT descriptor values are
integers in [0, 255] (it rounds them to 8 bits, ``SIFT_INT_DESCR_FCTR = 512``), so they are kept as
``uint8`` (128 bytes a keypoint); keypoint positions are pixel coordinates in the shrunken image
(float32 in memory, float16 in the features file: 0.25 px resolution below 512 px).

RootSIFT (Arandjelović & Zisserman 2012, "Three things everyone should know to improve object retrieval",
§2): L1-normalise each SIFT vector and take the element-wise square root; the Euclidean distance of
RootSIFT vectors is the Hellinger kernel of the SIFT histograms, which matches better than the
Euclidean distance of raw SIFT. It is computed at matching time (``LocalFeatures.rootsift``), so the
stored bytes stay the raw 8-bit SIFT.

Thread safety: every call builds its own ``cv2.SIFT`` object; OpenCV releases the GIL while it works.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from core.photos.image_io import ImageDecodeError, open_photo

__all__ = [
    "DESCRIPTOR_DIM",
    "DESCRIPTOR_KIND",
    "ExtractionParams",
    "LocalFeatures",
    "extract_local_features",
    "features_from_gray",
    "rootsift",
]

#: Length of a SIFT descriptor.
DESCRIPTOR_DIM = 128
#: Name of the descriptor stored in a features file (checked when one is loaded).
DESCRIPTOR_KIND = "opencv-sift-uint8"


@dataclass(frozen=True)
class ExtractionParams:
    """How local features are extracted (stored in the features file; queries use the same values).

    Attributes:
        max_side: longer side, pixels, the greyscale photo is shrunk to before SIFT (never enlarged).
            512 px keeps a 12 MP photo's extraction at ~60 ms on one core; the developers' gallery
            photos are at most 384 px, so larger sizes add keypoints of detail the gallery cannot match.
        max_keypoints: the strongest keypoints (highest detector response) kept per query photo.
        contrast_threshold: SIFT's contrast threshold (OpenCV default 0.04; lower finds more keypoints in
            small, soft web photos).
    """

    max_side: int = 512
    max_keypoints: int = 600
    contrast_threshold: float = 0.02

    def __post_init__(self) -> None:
        if not (32 <= int(self.max_side) <= 4096 and int(self.max_keypoints) >= 8 and self.contrast_threshold > 0):
            raise ValueError(
                f"implausible extraction parameters: max_side {self.max_side}, max_keypoints {self.max_keypoints}, "
                f"contrast_threshold {self.contrast_threshold}"
            )


@dataclass(frozen=True)
class LocalFeatures:
    """The local features of one photo.

    Attributes:
        keypoints: ``(K, 2)`` float32 ``(x, y)`` pixel positions in the shrunken greyscale photo.
        descriptors: ``(K, 128)`` uint8 SIFT descriptors (OpenCV's 8-bit values), strongest keypoint first.
        size: ``(width, height)`` of the shrunken photo, pixels.
    """

    keypoints: np.ndarray
    descriptors: np.ndarray
    size: tuple[int, int]

    def __len__(self) -> int:
        return int(self.descriptors.shape[0])

    def rootsift(self) -> np.ndarray:
        """``(K, 128)`` float32 RootSIFT vectors (unit L2 norm; see ``rootsift``)."""
        return rootsift(self.descriptors)

    def top(self, n: int) -> LocalFeatures:
        """The ``n`` strongest keypoints (they are stored strongest first)."""
        return LocalFeatures(self.keypoints[:n], self.descriptors[:n], self.size)


def rootsift(descriptors: np.ndarray) -> np.ndarray:
    """RootSIFT (Arandjelović & Zisserman 2012): ``sqrt(d / ||d||_1)`` per row.

    Args:
        descriptors: ``(K, 128)`` SIFT descriptors, any non-negative dtype (uint8 as stored).
    Returns:
        ``(K, 128)`` float32, each row of unit L2 norm (an all-zero row stays zero).
    """
    d = np.asarray(descriptors, dtype=np.float32)
    l1 = d.sum(axis=1, keepdims=True)
    return np.sqrt(d / np.maximum(l1, 1e-7), dtype=np.float32)


def features_from_gray(gray: np.ndarray, params: ExtractionParams | None = None) -> LocalFeatures:
    """SIFT on an already shrunken 8-bit greyscale image.

    Args:
        gray: ``(H, W)`` uint8.
        params: extraction parameters (default ``ExtractionParams()``); only ``max_keypoints`` and
            ``contrast_threshold`` are used here.
    Returns:
        the ``LocalFeatures``, strongest keypoint first (possibly 0 keypoints for a flat image).
    Raises:
        ValueError: ``gray`` is not a 2-D uint8 array.
    """
    import cv2

    p = params or ExtractionParams()
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"expected an (H, W) uint8 image, got {gray.shape} {gray.dtype}")
    sift = cv2.SIFT.create(nfeatures=int(p.max_keypoints), contrastThreshold=float(p.contrast_threshold))
    kps, desc = sift.detectAndCompute(gray, None)
    h, w = gray.shape
    if desc is None or not kps:
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_DIM), np.uint8), (w, h))
    # nfeatures keeps the strongest, but may keep a few more on ties and returns them in scale-space order
    order = np.argsort([-k.response for k in kps], kind="stable")[: int(p.max_keypoints)]
    xy = np.array([kps[i].pt for i in order], dtype=np.float32).reshape(-1, 2)
    d = np.clip(np.rint(desc[order]), 0, 255).astype(np.uint8)
    return LocalFeatures(xy, d, (w, h))


def extract_local_features(path: str | os.PathLike, params: ExtractionParams | None = None) -> LocalFeatures:
    """Decode a photo and extract its local features (see the module docstring).

    Args:
        path: the photo file (any format ``open_photo`` reads; EXIF orientation applied).
        params: extraction parameters (default ``ExtractionParams()``).
    Returns:
        the ``LocalFeatures``.
    Raises:
        ImageDecodeError: the file cannot be decoded (see ``open_photo``).
    """
    from PIL import Image

    p = params or ExtractionParams()
    # draft decoding keeps both sides >= target_size: half the longest side is enough for a 4:3 or 3:2 photo
    image = open_photo(path, target_size=max(1, int(p.max_side) // 2))
    try:
        gray = image.convert("L")
        w, h = gray.size
        scale = min(1.0, int(p.max_side) / max(w, h))
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            gray = gray.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        arr = np.asarray(gray, dtype=np.uint8)
    except (ValueError, OSError, MemoryError) as exc:
        raise ImageDecodeError(path, f"cannot prepare the image ({exc.__class__.__name__}: {exc})", "corrupt") from None
    finally:
        image.close()
    return features_from_gray(arr, p)
