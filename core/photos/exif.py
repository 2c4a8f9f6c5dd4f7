"""Read the EXIF fields the app needs: GPS position, capture time, camera, orientation.

``read_exif(path) -> ExifInfo`` reads a photo's EXIF with **exifread** (``process_file(f, details=False)``;
exifread 3.x finds EXIF in JPEG, TIFF, PNG ``eXIf``, WebP ``EXIF`` and HEIC/HEIF/AVIF with the ``heic``,
``mif1`` or ``avif`` brand). A JPEG's EXIF is read from its header only: the first ``EXIF_HEADER_BYTES`` are read at
once and exifread parses them in memory when the EXIF APP1 segment ends inside them (EXIF 2.32 §4.5.4: APP1 comes
right after SOI, or after a JFIF APP0, and holds at most 64 KiB); otherwise (APP segments larger than that before
it, a damaged marker) it reads the file as before. When exifread finds nothing (or fails) in a HEIF, PNG or WebP file, the EXIF
block is read with **pillow-heif** (HEIF: ``open_heif(path).info["exif"]``) or **Pillow** (``getexif()``)
instead, so HEIF files with other brands (``heix``, ``hevc``, ``msf1``…) and PNG ``zTXt`` EXIF are covered.

GPS rules (EXIF 2.32 / CIPA DC-008, GPS IFD tags 0x0001-0x0006):

* latitude  = (deg + min/60 + sec/3600) of ``GPSLatitude`` (1-3 RATIONALs), negative when
  ``GPSLatitudeRef`` is ``S``; longitude likewise with ``GPSLongitudeRef`` ``W``; a missing ref counts as
  N/E. Altitude = ``GPSAltitude`` metres, negative when ``GPSAltitudeRef`` is 1 (below sea level).
* A photo *has GPS* only when both latitude and longitude are present and usable: every component has a
  non-zero denominator, no component is negative, the result is finite, |lat| ≤ 90, |lon| ≤ 180, the ref
  is N/S (E/W) or missing, and the position is not exactly (0, 0) (what phones write without a fix).
  Otherwise ``has_gps`` is False, the coordinates are None and ``gps_reason`` says why.

Nothing here writes to the photo. exifread's own log records (``Possibly corrupted field …``) are kept out
of the application log while ``read_exif`` runs; the ones that mean damaged EXIF end up in ``error``.
"""

from __future__ import annotations

import io
import logging
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Any

import exifread

__all__ = ["ExifInfo", "read_exif", "gps_to_decimal", "EXIF_HEADER_BYTES"]

EXIF_HEADER_BYTES = 128 * 1024
"""Bytes read at the start of a photo for its EXIF (an APP1 segment is at most 64 KiB; a JFIF APP0 or an ICC APP2
may come first)."""

_EXIFREAD_LOGGER = logging.getLogger("exifread")
_capture = threading.local()


class _CaptureExifreadLog(logging.Filter):
    """Diverts exifread's records into the calling thread's list while ``read_exif`` runs (silences them).

    Records logged by exifread outside ``read_exif`` (someone else using the library) pass unchanged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        sink = getattr(_capture, "sink", None)
        if sink is None:
            return True
        if record.levelno >= logging.WARNING:
            try:
                sink.append(record.getMessage())
            except Exception:  # noqa: BLE001 - a malformed log call must not break reading
                sink.append(str(record.msg))
        return False


if not any(isinstance(f, _CaptureExifreadLog) for f in _EXIFREAD_LOGGER.filters):
    _EXIFREAD_LOGGER.addFilter(_CaptureExifreadLog())

# exifread warnings that only say "there is no EXIF here" (not damage); see exifread/core/find_exif.py.
_NO_EXIF_MESSAGES = ("does not have exif data", "file format not recognized", "no exif")

# Pillow / TIFF tag numbers (EXIF 2.32 Table 4, 5 and 15).
_TAG_MAKE, _TAG_MODEL, _TAG_ORIENTATION = 0x010F, 0x0110, 0x0112
_TAG_EXIF_IFD, _TAG_GPS_IFD, _TAG_DATETIME_ORIGINAL = 0x8769, 0x8825, 0x9003
_GPS_TAG_NAMES = {
    0: "GPSVersionID",
    1: "GPSLatitudeRef",
    2: "GPSLatitude",
    3: "GPSLongitudeRef",
    4: "GPSLongitude",
    5: "GPSAltitudeRef",
    6: "GPSAltitude",
    7: "GPSTimeStamp",
    29: "GPSDate",
}


@dataclass(frozen=True)
class ExifInfo:
    """What ``read_exif`` found in one photo.

    Attributes:
        has_gps: True only when the photo has a usable latitude and longitude (see module docstring).
        latitude: decimal degrees in [-90, 90], north positive (``GPSLatitude`` + ``GPSLatitudeRef``);
            None unless ``has_gps``.
        longitude: decimal degrees in [-180, 180], east positive; None unless ``has_gps``.
        altitude: metres above sea level (negative below; ``GPSAltitude`` + ``GPSAltitudeRef``); None when
            absent/unusable or when not ``has_gps``.
        gps_reason: why ``has_gps`` is False ("no EXIF", "no GPS IFD", "GPS IFD holds only GPSVersionID",
            "latitude out of range (…)", …); None when ``has_gps``.
        datetime_original: ``DateTimeOriginal`` as a naive local ``datetime`` (EXIF stores no zone there);
            None when absent or not a valid date such as ``0000:00:00 00:00:00``.
        camera_make: ``Make`` with surrounding blanks/NULs stripped; None when absent or empty.
        camera_model: ``Model``, stripped the same way.
        orientation: EXIF ``Orientation`` 1..8 (1 = upright); None when absent or out of range.
        error: set when the EXIF block is damaged or could not be parsed (what was readable is still
            returned, and the image itself may be perfectly usable); None otherwise.
    """

    has_gps: bool
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None
    gps_reason: str | None = None
    datetime_original: datetime | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    orientation: int | None = None
    error: str | None = None


@dataclass
class _Raw:
    """Format-neutral view of the tags read by exifread or Pillow (values not yet validated)."""

    found: bool = False  # any EXIF tag at all
    gps_ifd: bool = False  # a GPS IFD (or its pointer) exists
    gps: dict[str, Any] | None = None  # GPS tag name -> raw value
    make: Any = None
    model: Any = None
    datetime_original: Any = None
    orientation: Any = None


def read_exif(path: str | PathLike[str]) -> ExifInfo:
    """Read GPS, capture time, camera and orientation from the EXIF of the photo at ``path``.

    Args:
        path: a JPEG, TIFF, PNG, WebP or HEIC/HEIF file (other files simply give "no EXIF").

    Returns:
        ``ExifInfo``. Damaged or unreadable EXIF never raises: ``error`` says what went wrong and the GPS
        fields fall back to "no GPS" with ``gps_reason``.

    Raises:
        FileNotFoundError: the file does not exist (e.g. deleted after it was listed).
        IsADirectoryError, PermissionError, OSError: the file cannot be opened or read at all.
    """
    p = Path(path)
    with open(p, "rb") as fh:
        head = fh.read(EXIF_HEADER_BYTES)
        kind = _sniff(head[:16])
        if kind == "jpeg" and _jpeg_header_complete(head):
            raw, error = _read_with_exifread(io.BytesIO(head))
        else:
            fh.seek(0)
            raw, error = _read_with_exifread(fh)
    if (not raw.found) and kind in ("heif", "png", "webp"):
        fallback, fb_error = _read_with_pillow(p, kind)
        if fallback.found:
            raw, error = fallback, None
        elif error is None and fb_error is not None:
            error = fb_error
    if not raw.found and kind == "empty":
        return ExifInfo(has_gps=False, gps_reason="no EXIF", error="empty file")
    return _build(raw, error)


def gps_to_decimal(components: Iterable[Any], ref: Any, *, axis: str) -> tuple[float | None, str | None]:
    """Convert a GPS coordinate (``GPSLatitude``/``GPSLongitude``) and its ref to signed decimal degrees.

    Args:
        components: 1 to 3 rationals (degrees, minutes, seconds); each may be an exifread ``Ratio``, a
            ``fractions.Fraction``, a Pillow ``IFDRational``, an int/float or a ``(numerator, denominator)``
            pair. Formula: deg + min/60 + sec/3600 (EXIF 2.32 §4.6.6, GPSLatitude).
        ref: ``GPSLatitudeRef`` (N/S) or ``GPSLongitudeRef`` (E/W); S and W make the result negative;
            None/empty counts as N/E.
        axis: ``"latitude"`` (limit ±90°) or ``"longitude"`` (limit ±180°).

    Returns:
        ``(degrees, None)`` when usable, else ``(None, reason)``. Never raises on bad values.
    """
    tag = "GPSLatitude" if axis == "latitude" else "GPSLongitude"
    limit = 90.0 if axis == "latitude" else 180.0
    negative_ref, positive_ref = ("S", "N") if axis == "latitude" else ("W", "E")
    comps = _as_list(components)
    if not comps or len(comps) > 3:
        return None, f"{tag} has {len(comps)} values (expected 1 to 3)"
    total = 0.0
    for i, comp in enumerate(comps):
        pair = _rational(comp)
        if pair is None:
            return None, f"{tag} is not a rational number"
        num, den = pair
        if den == 0:
            return None, f"{tag} has a zero denominator"
        value = num / den
        if not math.isfinite(value):
            return None, f"{axis} is not a number"
        if value < 0:
            return None, f"{tag} has a negative component"
        total += value / (60.0**i)
    if not math.isfinite(total):
        return None, f"{axis} is not a number"
    ref_text = _text(ref)
    ref_text = ref_text.upper()[:1] if ref_text else ""
    if ref_text not in ("", negative_ref, positive_ref):
        return None, f"{tag}Ref {ref_text!r} is not {positive_ref} or {negative_ref}"
    if total > limit:
        return None, f"{axis} out of range ({total:.6g}°)"
    return (-total if ref_text == negative_ref else total), None


# --------------------------------------------------------------------------------------------- readers


def _sniff(head: bytes) -> str:
    """Container kind from the first 16 bytes: jpeg, tiff, png, webp, heif, empty or other."""
    if not head:
        return "empty"
    if head[:2] == b"\xff\xd8":
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        return "heif"
    return "other"


def _jpeg_header_complete(head: bytes) -> bool:
    """True when ``head`` (the first bytes of a JPEG) holds its whole EXIF APP1 segment, or reaches the image data
    (SOS, EOI) without one: exifread then finds in ``head`` all it would find in the file (ITU-T T.81 B.1: markers
    ``FF xx``, a big-endian length after all but SOI, EOI, RSTn and TEM)."""
    pos = 2
    while pos + 4 <= len(head):
        if head[pos] != 0xFF:
            return False  # not a marker where one must be: let exifread look at the file
        marker = head[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xDA, 0xD9):
            return True  # the image data begin: no EXIF APP1 before them
        end = pos + 2 + int.from_bytes(head[pos + 2 : pos + 4], "big")
        if marker == 0xE1 and head[pos + 4 : pos + 10] == b"Exif\x00\x00":
            return end <= len(head)
        pos = end
    return False


def _read_with_exifread(fh) -> tuple[_Raw, str | None]:
    """Tags via ``exifread.process_file(details=False)``; (raw, error text or None)."""
    sink: list[str] = []
    _capture.sink = sink
    try:
        tags = exifread.process_file(fh, details=False, extract_thumbnail=False)
    except Exception as exc:  # noqa: BLE001 - exifread is not strict-safe on every damaged file (e.g. IndexError)
        return _Raw(), f"EXIF could not be parsed: {type(exc).__name__}: {exc}"
    finally:
        _capture.sink = None
    damage = [m for m in sink if not any(s in m.lower() for s in _NO_EXIF_MESSAGES)]
    error = f"damaged EXIF: {'; '.join(dict.fromkeys(damage))}" if damage else None
    if not tags:
        return _Raw(), error
    raw = _Raw(found=True)
    gps = {k[4:]: _values(v) for k, v in tags.items() if k.startswith("GPS ")}
    raw.gps = gps
    raw.gps_ifd = bool(gps) or "Image GPSInfo" in tags
    raw.make = _values(tags.get("Image Make"))
    raw.model = _values(tags.get("Image Model"))
    raw.datetime_original = _values(tags.get("EXIF DateTimeOriginal"))
    raw.orientation = _values(tags.get("Image Orientation"))
    return raw, error


def _read_with_pillow(path: Path, kind: str) -> tuple[_Raw, str | None]:
    """Tags via pillow-heif (HEIF) or Pillow ``getexif()`` (PNG, WebP); (raw, error text or None)."""
    try:
        from PIL import Image

        from core.photos.image_io import quiet_pillow_warnings

        quiet_pillow_warnings()
        if kind == "heif":
            import pillow_heif

            data = pillow_heif.open_heif(str(path)).info.get("exif")
            if not data:
                return _Raw(), None
            exif = Image.Exif()
            exif.load(bytes(data))
        else:
            with Image.open(path) as im:
                exif = im.getexif()
        if not exif:
            return _Raw(), None
        gps_ifd = exif.get_ifd(_TAG_GPS_IFD)
        exif_ifd = exif.get_ifd(_TAG_EXIF_IFD)
        raw = _Raw(found=True)
        raw.gps = {_GPS_TAG_NAMES.get(k, f"GPSTag{k}"): v for k, v in gps_ifd.items()}
        raw.gps_ifd = bool(gps_ifd) or _TAG_GPS_IFD in exif
        raw.make = exif.get(_TAG_MAKE)
        raw.model = exif.get(_TAG_MODEL)
        raw.datetime_original = exif_ifd.get(_TAG_DATETIME_ORIGINAL)
        raw.orientation = exif.get(_TAG_ORIENTATION)
        return raw, None
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow/pillow-heif raise many kinds on damaged metadata; reported as the EXIF error
        return _Raw(), f"EXIF could not be parsed: {type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------------------------- validation


def _build(raw: _Raw, error: str | None) -> ExifInfo:
    common: dict[str, Any] = dict(
        datetime_original=_parse_datetime(raw.datetime_original),
        camera_make=_clean_text(raw.make),
        camera_model=_clean_text(raw.model),
        orientation=_parse_orientation(raw.orientation),
        error=error,
    )
    if not raw.found:
        return ExifInfo(has_gps=False, gps_reason="no EXIF", **common)
    gps = raw.gps or {}
    if not raw.gps_ifd:
        return ExifInfo(has_gps=False, gps_reason="no GPS IFD", **common)
    if not gps:
        return ExifInfo(has_gps=False, gps_reason="GPS IFD is empty", **common)
    if set(gps) == {"GPSVersionID"}:
        return ExifInfo(has_gps=False, gps_reason="GPS IFD holds only GPSVersionID", **common)
    if gps.get("GPSLatitude") is None or gps.get("GPSLongitude") is None:
        return ExifInfo(has_gps=False, gps_reason="GPS IFD has no GPSLatitude/GPSLongitude", **common)
    lat, reason = gps_to_decimal(gps["GPSLatitude"], gps.get("GPSLatitudeRef"), axis="latitude")
    if reason is None:
        lon, reason = gps_to_decimal(gps["GPSLongitude"], gps.get("GPSLongitudeRef"), axis="longitude")
    if reason is None and lat == 0.0 and lon == 0.0:
        reason = "coordinates are exactly 0, 0 (written without a GPS fix)"
    if reason is not None:
        return ExifInfo(has_gps=False, gps_reason=reason, **common)
    return ExifInfo(
        has_gps=True,
        latitude=lat,
        longitude=lon,
        altitude=_parse_altitude(gps.get("GPSAltitude"), gps.get("GPSAltitudeRef")),
        **common,
    )


def _parse_altitude(value: Any, ref: Any) -> float | None:
    """``GPSAltitude`` (metres, one RATIONAL) signed by ``GPSAltitudeRef`` (0 above, 1 below sea level)."""
    comps = _as_list(value)
    if len(comps) != 1:
        return None
    pair = _rational(comps[0])
    if pair is None or pair[1] == 0:
        return None
    metres = pair[0] / pair[1]
    if not math.isfinite(metres):
        return None
    ref_list = _as_list(ref)
    ref_value = ref_list[0] if ref_list else 0
    if isinstance(ref_value, (bytes, bytearray)):
        ref_value = ref_value[0] if ref_value else 0
    if isinstance(ref_value, str):
        ref_value = ord(ref_value[0]) if ref_value else 0
        ref_value = ref_value - ord("0") if ref_value in (ord("0"), ord("1")) else ref_value
    return -abs(metres) if ref_value == 1 else metres


def _parse_datetime(value: Any) -> datetime | None:
    text = _clean_text(value)
    if not text:
        return None
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M", "%Y:%m:%d"):
        try:
            return datetime.strptime(text[:19], fmt)
        except ValueError:
            continue
    return None


def _parse_orientation(value: Any) -> int | None:
    comps = _as_list(value)
    if not comps:
        return None
    try:
        n = int(comps[0])
    except (TypeError, ValueError):
        return None
    return n if 1 <= n <= 8 else None


# --------------------------------------------------------------------------------------------- value helpers


def _values(tag: Any) -> Any:
    """The values of an exifread ``IfdTag`` (list or str); other objects unchanged."""
    return getattr(tag, "values", tag)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _rational(value: Any) -> tuple[float, float] | None:
    """(numerator, denominator) of a Ratio/Fraction/IFDRational/int/float/pair; None if not numeric."""
    if isinstance(value, bool):
        return None
    if isinstance(value, tuple) and len(value) == 2:
        num, den = value
    elif hasattr(value, "numerator") and hasattr(value, "denominator"):
        num, den = value.numerator, value.denominator
    elif isinstance(value, float):
        num, den = value, 1
    else:
        return None
    try:
        return float(num), float(den)
    except (TypeError, ValueError, OverflowError):
        return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("latin-1")
    return str(value).replace("\x00", "").strip()


def _clean_text(value: Any) -> str | None:
    if isinstance(value, (list, tuple)) and value and not isinstance(value[0], str):
        return None  # a numeric tag where text was expected (damaged EXIF)
    text = _text(value)
    return text or None
