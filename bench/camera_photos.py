"""Camera-like test photos for the benchmarks: 12-megapixel JPEGs (and HEICs) that decode like real ones.

The benchmarks used to tag the <= 384 px photos of ``../shared``; a phone or camera writes 12 MP files of
3-5 MB, whose decoding costs far more (entropy decoding does not shrink with libjpeg's DCT scaling). These
files are made so that they compress like real photos:

* content: a real landmark photo (``../shared/data/landmarks``, when there) or a smooth synthetic scene,
  scaled up to ``width × height`` (bicubic);
* sensor-like noise: per-pixel luminance noise (sigma ``noise``) plus weaker colour noise, so the JPEG
  holds 3-5 MB at quality 92 like a camera's file rather than the 0.5 MB of a clean upscale;
* camera EXIF: Make/Model/Software/DateTime in IFD0, exposure, f-number, ISO, focal length,
  DateTimeOriginal and the pixel size in the EXIF IFD, a 32 KB maker note (cameras write tens of KB), and
  optionally a GPS IFD (``gps=(lat, lon)``, WGS84 degrees);
* 4:2:0 chroma subsampling, baseline (not progressive), as cameras write.

``make_camera_jpeg(path, width=4032, height=3024, gps=None, seed=0)`` writes one JPEG;
``make_camera_heic(path, ...)`` the same picture as HEIC (pillow-heif's x265 encoder, ~3 s per file);
``camera_set(folder, n, ...)`` a folder of distinct ones, reused when already there;
``camera_gps_set(folder, n, ...)`` ``n`` distinct camera JPEGs with a GPS IFD, made cheaply from a few encoded
pictures by giving each copy its own EXIF block (position, date).
"""

from __future__ import annotations

import os
import random
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LANDMARK_SHARED", REPO.parent / "shared")).resolve()

__all__ = ["make_camera_jpeg", "make_camera_heic", "camera_set", "camera_gps_set", "camera_exif", "replace_exif"]

#: JPEG quality of the generated files (cameras write 90-95).
JPEG_QUALITY = 92


def _sources() -> list[Path]:
    return sorted((SHARED / "data" / "landmarks").glob("*/*/*.jpg"))


def _picture(width: int, height: int, seed: int, noise: float):
    """An RGB ``PIL.Image`` of ``width × height``: an upscaled real photo (or a synthetic scene) plus sensor noise."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    srcs = _sources()
    if srcs:
        with Image.open(srcs[seed % len(srcs)]) as im:
            base = im.convert("RGB")
    else:  # no shared data: a sky/ground gradient with a few shapes
        y = np.linspace(0, 1, 96)[:, None, None]
        x = np.linspace(0, 1, 128)[None, :, None]
        arr = np.concatenate([120 + 100 * y + 0 * x, 150 + 60 * x + 0 * y, 220 - 120 * y + 0 * x], axis=2)
        arr[40:80, 30 + seed % 40 : 70 + seed % 40] = rng.integers(40, 200, 3)
        base = Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB")
    # crop the source to the target aspect ratio, then scale it up
    bw, bh = base.size
    want = width / height
    if bw / bh > want:
        cw = int(bh * want)
        base = base.crop(((bw - cw) // 2, 0, (bw - cw) // 2 + cw, bh))
    else:
        ch = int(bw / want)
        base = base.crop((0, (bh - ch) // 2, bw, (bh - ch) // 2 + ch))
    big = np.asarray(base.resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    # luminance noise (same on all channels) + weaker per-channel colour noise, like a sensor at ISO 200-400
    lum = rng.normal(0.0, noise, size=(height, width, 1)).astype(np.int16)
    col = rng.integers(-int(noise // 2) - 1, int(noise // 2) + 2, size=(height, width, 3), dtype=np.int16)
    out = np.clip(big + lum + col, 0, 255).astype(np.uint8)
    return Image.fromarray(out, "RGB")


def _rational(value: float) -> tuple[int, int]:
    f = Fraction(value).limit_denominator(1_000_000)
    return f.numerator, f.denominator


def camera_exif(width: int, height: int, seed: int = 0, gps: tuple[float, float] | None = None):
    """A ``PIL.Image.Exif`` like a camera's (see the module docstring); ``gps`` = (latitude, longitude) degrees."""
    from PIL import Image
    from PIL.TiffImagePlugin import IFDRational

    rnd = random.Random(seed)
    exif = Image.Exif()
    stamp = f"2024:{1 + seed % 12:02d}:{1 + seed % 28:02d} {8 + seed % 12:02d}:{seed % 60:02d}:{(7 * seed) % 60:02d}"
    exif[0x010F] = "LandmarkBench"  # Make
    exif[0x0110] = "LB-12 Camera"  # Model
    exif[0x0112] = 1  # Orientation
    exif[0x011A] = IFDRational(72, 1)  # XResolution
    exif[0x011B] = IFDRational(72, 1)  # YResolution
    exif[0x0128] = 2  # ResolutionUnit: inch
    exif[0x0131] = "LB firmware 1.0"  # Software
    exif[0x0132] = stamp  # DateTime
    ifd = exif.get_ifd(0x8769)  # EXIF IFD
    ifd[0x829A] = IFDRational(*_rational(1 / rnd.choice([60, 125, 250, 500, 1000])))  # ExposureTime
    ifd[0x829D] = IFDRational(*_rational(rnd.choice([1.8, 2.8, 4.0, 5.6, 8.0])))  # FNumber
    ifd[0x8827] = rnd.choice([100, 200, 400, 800])  # ISOSpeedRatings
    ifd[0x9003] = stamp  # DateTimeOriginal
    ifd[0x9004] = stamp  # DateTimeDigitized
    ifd[0x920A] = IFDRational(*_rational(rnd.choice([4.2, 6.0, 24.0, 35.0, 50.0])))  # FocalLength
    ifd[0xA002] = width  # PixelXDimension
    ifd[0xA003] = height  # PixelYDimension
    ifd[0x927C] = bytes(rnd.getrandbits(8) for _ in range(32 * 1024))  # MakerNote
    if gps is not None:
        lat, lon = gps
        g = exif.get_ifd(0x8825)

        def dms(v: float) -> tuple:
            v = abs(v)
            d = int(v)
            m = int((v - d) * 60)
            s = (v - d - m / 60) * 3600
            return (IFDRational(d, 1), IFDRational(m, 1), IFDRational(*_rational(round(s, 4))))

        g[0x0000] = b"\x02\x03\x00\x00"  # GPSVersionID
        g[0x0001] = "N" if lat >= 0 else "S"
        g[0x0002] = dms(lat)
        g[0x0003] = "E" if lon >= 0 else "W"
        g[0x0004] = dms(lon)
    return exif


def make_camera_jpeg(
    path: str | os.PathLike,
    width: int = 4032,
    height: int = 3024,
    gps: tuple[float, float] | None = None,
    seed: int = 0,
    *,
    noise: float = 5.0,
) -> Path:
    """Write one camera-like JPEG (see the module docstring); returns its path.

    Args:
        path: the file to write (its folder is created). width, height: pixels (default 12 MP, 4:3).
        gps: ``(latitude, longitude)`` in degrees for a GPS IFD, or ``None``. seed: picks the source photo,
            the noise and the EXIF values (the same seed gives the same bytes).
        noise: sigma of the luminance noise, in 8-bit levels (5 gives 3-5 MB at 12 MP).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = _picture(width, height, seed, noise)
    img.save(
        path,
        "JPEG",
        quality=JPEG_QUALITY,
        subsampling="4:2:0",
        exif=camera_exif(width, height, seed, gps).tobytes(),
    )
    return path


def make_camera_heic(
    path: str | os.PathLike,
    width: int = 4032,
    height: int = 3024,
    gps: tuple[float, float] | None = None,
    seed: int = 0,
    *,
    noise: float = 5.0,
    quality: int = 60,
) -> Path:
    """Write the same kind of picture as HEIC (pillow-heif, x265 preset ``ultrafast``: ~3 s and ~3 MB per 12 MP
    file; the default preset takes ~50 s and writes ~9 MB of this noise).

    Raises:
        RuntimeError: pillow-heif or its HEVC encoder is not available.
    """
    try:
        import pillow_heif
    except ImportError as exc:  # pragma: no cover - pillow-heif is a dependency of the app
        raise RuntimeError(f"pillow-heif is not installed: {exc}") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = _picture(width, height, seed, noise)
    heif = pillow_heif.from_pillow(img)
    heif.save(
        path, quality=quality, exif=camera_exif(width, height, seed, gps).tobytes(), enc_params={"preset": "ultrafast"}
    )
    return path


def camera_set(
    folder: str | os.PathLike,
    n: int,
    *,
    heic: int = 0,
    width: int = 4032,
    height: int = 3024,
    first_seed: int = 0,
) -> list[Path]:
    """``n`` distinct camera JPEGs (``IMG_0000.jpg`` …) plus ``heic`` HEICs in ``folder``; files already there
    (from an earlier run with the same arguments) are reused. Returns the paths, JPEGs first."""
    folder = Path(folder)
    out = []
    for i in range(n):
        p = folder / f"IMG_{i:04d}.jpg"
        if not p.is_file():
            make_camera_jpeg(p, width, height, seed=first_seed + i)
        out.append(p)
    for i in range(heic):
        p = folder / f"IMG_{n + i:04d}.heic"
        if not p.is_file():
            make_camera_heic(p, width, height, seed=first_seed + n + i)
        out.append(p)
    return out


def replace_exif(jpeg: bytes, exif: bytes) -> bytes:
    """``jpeg`` with its EXIF APP1 segment replaced by ``exif`` (``Image.Exif.tobytes()``: ``Exif\\0\\0`` + TIFF
    block; at most 65 533 bytes), the entropy-coded picture unchanged; an APP1 is inserted after SOI when the file
    has none.

    Raises:
        ValueError: not a JPEG, or ``exif`` too large for one segment.
    """
    import struct

    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    if len(exif) + 2 > 0xFFFF:
        raise ValueError("EXIF block too large for one APP1 segment")
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    pos = 2
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF and jpeg[pos + 1] not in (0xDA, 0xD9):
        (length,) = struct.unpack(">H", jpeg[pos + 2 : pos + 4])
        if jpeg[pos + 1] == 0xE1 and jpeg[pos + 4 : pos + 10] == b"Exif\x00\x00":
            return jpeg[:pos] + app1 + jpeg[pos + 2 + length :]
        pos += 2 + length
    return jpeg[:2] + app1 + jpeg[2:]


#: Places the GPS copies are spread around (latitude, longitude): Paris, Rome, Agra, Rio de Janeiro, New York.
GPS_SPOTS = ((48.8584, 2.2945), (41.8902, 12.4922), (27.1751, 78.0421), (-22.9519, -43.2105), (40.6892, -74.0445))


def camera_gps_set(
    folder: str | os.PathLike, n: int, *, pictures: int = 6, width: int = 4032, height: int = 3024
) -> list[Path]:
    """``n`` distinct camera-like JPEGs with EXIF GPS (``GPS_0000.jpg`` …) in ``folder``, reused when already there.

    ``pictures`` 12 MP JPEGs are encoded (``make_camera_jpeg``, ~1.5 s each); every file is one of them with its own
    EXIF block (``camera_exif`` with its own seed: date, exposure, maker note, and a position within ~1 km of one of
    ``GPS_SPOTS``), so every file has distinct first bytes and the size of a camera file (3-5 MB).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    bases: list[bytes] = []
    out = []
    for i in range(n):
        p = folder / f"GPS_{i:04d}.jpg"
        out.append(p)
        if p.is_file():
            continue
        if not bases:
            for k in range(pictures):
                base = folder / ".base" / f"base_{k}.jpg"
                if not base.is_file():
                    make_camera_jpeg(base, width, height, seed=k)
                bases.append(base.read_bytes())
        lat, lon = GPS_SPOTS[i % len(GPS_SPOTS)]
        rnd = random.Random(i)
        gps = (lat + rnd.uniform(-0.01, 0.01), lon + rnd.uniform(-0.01, 0.01))
        exif = camera_exif(width, height, seed=i, gps=gps).tobytes()
        p.write_bytes(replace_exif(bases[i % len(bases)], exif))
    return out
