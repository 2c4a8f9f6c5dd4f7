"""Decoding one photo safely: the only place the recognizer opens image files.

``open_photo(path, target_size=...)`` returns an RGB ``PIL.Image.Image`` with the EXIF orientation
applied, or raises ``ImageDecodeError`` with a one-line, user-readable reason. It:

* registers the HEIF/HEIC opener of pillow-heif once (thread-safe);
* refuses zero-byte files, missing/vanished files, non-image files and files whose header
  declares more than ``MAX_IMAGE_PIXELS`` pixels (decompression bombs) *before* decoding pixels;
* decodes large JPEGs in draft mode (libjpeg DCT scaling by 1/2, 1/4 or 1/8) when ``target_size``
  allows, keeping at least ``target_size`` pixels on the shorter side, which is 2-3x faster for
  camera photos (a 12 MP, 3.3 MB camera JPEG: ~29 ms CPU at 1/8 against ~45-67 ms full size,
  ``bench/bench_camera.py``). What is left is libjpeg's Huffman decoding of every byte (~110 MB/s of
  compressed data per core), which no DCT scaling skips: the decode time grows with the file size;
* fully decodes the pixels inside its own error handling, so a truncated or corrupt file fails here,
  not later in a worker that expects pixels. ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` is never set:
  a half-grey photo would silently get a wrong label.

Pillow's warnings about what it reads (``DecompressionBombWarning`` between its own ~89 MP limit and twice that;
"Corrupt EXIF data", "Tag data larger than file" from its TIFF/EXIF parser) are switched off when this module is
imported (``quiet_pillow_warnings``): this module applies its own size limit and turns every real failure into an
``ImageDecodeError``, and a damaged EXIF block is recorded with the photo (``core.photos.exif``), so the warnings
were only noise on the person's terminal.

Thread safety: every call opens its own file handle and image object; the only shared state is the
one-time pillow-heif registration, guarded by a lock. Pillow releases the GIL while decoding, so
calls from several worker threads run in parallel.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "MAX_IMAGE_PIXELS",
    "ImageDecodeError",
    "open_photo",
    "image_size",
    "register_heif",
    "quiet_pillow_warnings",
]

#: Largest image we decode, in pixels (width × height from the file header): 100 MP. Larger
#: headers are refused as possible decompression bombs. (Pillow's own default guard,
#: ``PIL.Image.MAX_IMAGE_PIXELS``, is about 89 MP and only warns below twice that.)
MAX_IMAGE_PIXELS = 100_000_000


def quiet_pillow_warnings() -> None:
    """Ignore Pillow's decompression-bomb and damaged-EXIF/TIFF-tag warnings (see the module docstring).

    Adds ``warnings`` filters once per process (``warnings.filterwarnings`` skips a filter already present).
    """
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")
    warnings.filterwarnings("ignore", message=r"(?i)corrupt exif", category=UserWarning)


quiet_pillow_warnings()

_heif_lock = threading.Lock()
_heif_registered = False
_heif_error: str | None = None


class ImageDecodeError(Exception):
    """A photo that cannot be decoded.

    Attributes:
        path: the file, as given (``str``).
        reason: short, user-readable reason, e.g. ``"the file is empty (0 bytes)"``.
        kind: machine-readable category: ``"missing"``, ``"empty"``, ``"unreadable"``,
            ``"not_image"``, ``"too_large"`` or ``"corrupt"``.

    ``str(err)`` is ``"<file name>: <reason>"``. The exception pickles (``args == (path, reason, kind)``),
    so it can cross process boundaries.
    """

    def __init__(self, path: str | os.PathLike, reason: str, kind: str = "corrupt") -> None:
        super().__init__(str(path), reason, kind)
        self.path = str(path)
        self.reason = reason
        self.kind = kind

    def __str__(self) -> str:
        return f"{Path(self.path).name or self.path}: {self.reason}"


def register_heif() -> bool:
    """Register pillow-heif's HEIF/HEIC opener with Pillow, once per process (thread-safe).

    Returns:
        True when HEIF decoding is available, False when pillow-heif is missing or failed to load
        (HEIF files then fail with ``ImageDecodeError`` kind ``"not_image"``).
    """
    global _heif_registered, _heif_error
    if _heif_registered:
        return _heif_error is None
    with _heif_lock:
        if not _heif_registered:
            try:
                import pillow_heif

                pillow_heif.register_heif_opener()
            except Exception as exc:  # noqa: BLE001 - ImportError, or a broken libheif build
                _heif_error = f"{exc.__class__.__name__}: {exc}"
            _heif_registered = True
    return _heif_error is None


def _too_large(path: str | os.PathLike, size: tuple[int, int]) -> ImageDecodeError:
    w, h = size
    return ImageDecodeError(
        path,
        f"the image is too large to decode safely ({w} × {h} = {w * h / 1e6:.0f} MP; "
        f"limit {MAX_IMAGE_PIXELS / 1e6:.0f} MP), possibly a decompression bomb",
        "too_large",
    )


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode → ``"RGB"``; transparent pixels are composited over white."""
    if img.mode == "RGB":
        return img
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale (some PNG/TIFF scans): scale to 8 bits instead of clipping.
        import numpy as np

        arr = np.asarray(img, dtype=np.float64)
        top = float(arr.max()) or 1.0
        scale = 255.0 / (65535.0 if top > 255.0 else 255.0)
        return Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8), "L").convert("RGB")
    return img.convert("RGB")


def open_photo(path: str | os.PathLike, *, target_size: int | None = None) -> Image.Image:
    """Decode a photo file into an RGB image, EXIF orientation applied.

    Args:
        path: the photo file (JPEG, PNG, TIFF, WebP, HEIF/HEIC, or anything Pillow reads).
        target_size: the smallest shorter side, in pixels, the caller needs (e.g. the bundle's
            ``resize_size``). When given, a JPEG at least twice that size on both sides is decoded
            at 1/2, 1/4 or 1/8 scale (``Image.draft``) so that both sides stay ``>= target_size``.
            ``None`` decodes at full resolution.
    Returns:
        a fully loaded ``PIL.Image.Image`` in mode ``"RGB"``, size ``(width, height)`` in pixels
        after orientation (a photo with EXIF Orientation 6 or 8 comes back rotated upright).
        A malformed EXIF block is ignored (the photo is returned as stored). Multi-frame files give
        their first frame.
    Raises:
        ImageDecodeError: the file is missing or vanished (kind ``"missing"``), empty (``"empty"``),
            unreadable (``"unreadable"``: a directory, no permission, I/O error), not an image or in
            an unsupported format (``"not_image"``), larger than ``MAX_IMAGE_PIXELS``
            (``"too_large"``), or truncated/corrupt (``"corrupt"``).
        ValueError: ``target_size`` is not a positive integer.
    """
    if target_size is not None and (int(target_size) != target_size or target_size < 1):
        raise ValueError(f"target_size must be a positive integer of pixels, got {target_size!r}")
    register_heif()
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise ImageDecodeError(path, "the file does not exist (moved or deleted)", "missing") from None
    except OSError as exc:
        raise ImageDecodeError(path, f"cannot read the file ({exc.strerror or exc})", "unreadable") from None
    if size == 0:
        raise ImageDecodeError(path, "the file is empty (0 bytes)", "empty")

    try:
        fp = open(path, "rb")
    except FileNotFoundError:
        raise ImageDecodeError(path, "the file does not exist (moved or deleted)", "missing") from None
    except OSError as exc:  # IsADirectoryError, PermissionError, …
        raise ImageDecodeError(path, f"cannot read the file ({exc.strerror or exc})", "unreadable") from None

    with fp:
        try:
            img = Image.open(fp)
        except UnidentifiedImageError:
            raise ImageDecodeError(path, "not an image, or an image format this app cannot read", "not_image") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            # Pillow refuses (or, with warnings as errors, warns about) the header size itself.
            raise ImageDecodeError(path, f"the image is too large to decode safely ({exc})", "too_large") from None
        except OSError as exc:
            if exc.errno is not None:  # a real I/O error (disk, network share, permissions)
                raise ImageDecodeError(path, f"cannot read the file ({exc.strerror or exc})", "unreadable") from None
            # Pillow reports bad content as OSError without errno ("Truncated File Read", …)
            raise ImageDecodeError(path, f"the image header is truncated or corrupt ({exc})", "corrupt") from None
        except Exception as exc:  # noqa: BLE001 - plugins raise SyntaxError, ValueError, struct.error … on bad headers
            raise ImageDecodeError(
                path, f"the image header is corrupt ({exc.__class__.__name__}: {exc})", "corrupt"
            ) from None

        try:
            w, h = img.size
            if w < 1 or h < 1:
                raise ImageDecodeError(path, f"the image header declares an empty size ({w} × {h})", "corrupt")
            if w * h > MAX_IMAGE_PIXELS:
                raise _too_large(path, (w, h))
            try:
                if target_size is not None and img.format == "JPEG":
                    img.draft("RGB", (int(target_size), int(target_size)))
                img.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise _too_large(path, (w, h)) from None
            except MemoryError:
                raise ImageDecodeError(path, "not enough memory to decode the image", "too_large") from None
            except OSError as exc:
                if exc.errno is not None:  # the disk, not the data (e.g. a network share went away)
                    raise ImageDecodeError(
                        path, f"cannot read the file ({exc.strerror or exc})", "unreadable"
                    ) from None
                text = str(exc)
                if "truncated" in text:
                    reason = "the image data is truncated (the file was cut short or is still being copied)"
                else:
                    reason = f"the image data is corrupt ({text or exc.__class__.__name__})"
                raise ImageDecodeError(path, reason, "corrupt") from None
            except Exception as exc:  # noqa: BLE001 - decoders raise ValueError, EOFError, SyntaxError … on bad data
                raise ImageDecodeError(
                    path, f"the image data is corrupt ({exc.__class__.__name__}: {exc})", "corrupt"
                ) from None

            try:
                ImageOps.exif_transpose(img, in_place=True)  # in place: no copy of the pixels
            except Exception:  # noqa: BLE001 - malformed EXIF: keep the pixels as stored rather than lose the photo
                pass
            try:
                return _to_rgb(img)
            except Exception as exc:  # noqa: BLE001 - any other decoder failure becomes a readable ImageDecodeError
                raise ImageDecodeError(
                    path, f"cannot convert the image to RGB ({exc.__class__.__name__}: {exc})", "corrupt"
                ) from None
        except BaseException:
            img.close()
            raise


#: EXIF Orientation values that swap width and height (transpose, rotate 90° CW, transverse, rotate 90° CCW).
_SWAPS_SIDES = (5, 6, 7, 8)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` in pixels of the photo as ``open_photo`` returns it at full resolution (EXIF orientation
    applied), read from the header only: no pixels are decoded (a viewer knows the full size before it decodes).

    Raises:
        ImageDecodeError: the file is missing, unreadable, not an image or its header is corrupt (the same kinds as
            ``open_photo``; the pixel limit is not checked here).
    """
    register_heif()
    try:
        with Image.open(path) as img:
            w, h = img.size
            try:
                orientation = int(img.getexif().get(0x0112, 1) or 1)
            except Exception:  # noqa: BLE001 - a malformed EXIF block: open_photo keeps the pixels as stored too
                orientation = 1
    except FileNotFoundError:
        raise ImageDecodeError(path, "the file does not exist (moved or deleted)", "missing") from None
    except UnidentifiedImageError:
        raise ImageDecodeError(path, "not an image, or an image format this app cannot read", "not_image") from None
    except OSError as exc:
        raise ImageDecodeError(path, f"cannot read the file ({exc.strerror or exc})", "unreadable") from None
    except Exception as exc:  # noqa: BLE001 - plugins raise SyntaxError, ValueError … on bad headers
        raise ImageDecodeError(
            path, f"the image header is corrupt ({exc.__class__.__name__}: {exc})", "corrupt"
        ) from None
    return (h, w) if orientation in _SWAPS_SIDES else (w, h)
