"""Tests for core/photos/exif.py: real camera files from ../shared plus small photos written here with Pillow."""

from __future__ import annotations

import csv
import io
import logging
import random
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image, TiffImagePlugin

import core.photos.exif as exif_mod
from core.photos.exif import ExifInfo, gps_to_decimal, read_exif

IFDRational = TiffImagePlugin.IFDRational
GPS_IFD = 0x8825


def _manifest(shared_data: Path) -> list[dict]:
    with open(shared_data / "exif-samples" / "MANIFEST.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write(
    path: Path,
    *,
    gps: dict | None = None,
    fmt: str = "JPEG",
    make: str | None = None,
    model: str | None = None,
    orientation: int | None = None,
    dt: str | None = None,
) -> Path:
    """Write a 16x16 photo whose EXIF holds the given tags (GPS tag number -> value)."""
    ex = Image.Exif()
    if make is not None:
        ex[0x010F] = make
    if model is not None:
        ex[0x0110] = model
    if orientation is not None:
        ex[0x0112] = orientation
    if dt is not None:
        ex.get_ifd(0x8769)[0x9003] = dt
    if gps is not None:
        ifd = ex.get_ifd(GPS_IFD)
        ifd.update(gps)
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    Image.new("RGB", (16, 16), (120, 80, 40)).save(path, fmt, exif=ex)
    return path


def _gps(lat=(43.0, 28.0, 30.0), lat_ref="N", lon=(11.0, 53.0, 6.0), lon_ref="E", extra=None) -> dict:
    """GPS IFD tags (tag number -> value); ``extra`` adds more, e.g. {5: b"\\x01", 6: 12.5} for altitude."""
    tags = {0: b"\x02\x02\x00\x00", 1: lat_ref, 2: lat, 3: lon_ref, 4: lon}
    tags.update(extra or {})
    return tags


# ------------------------------------------------------------------------------------ real camera files


@pytest.mark.shared
def test_every_exif_sample_matches_manifest(shared_data):
    rows = _manifest(shared_data)
    root = shared_data / "exif-samples"
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "MANIFEST.csv")
    assert len(files) == len(rows) == 61
    by_path = {r["path"]: r for r in rows}
    mismatches = []
    for f in files:
        row = by_path[f.relative_to(root).as_posix()]
        info = read_exif(f)  # must not raise on any of them (corrupt, invalid, regression files)
        assert isinstance(info, ExifInfo)
        want_gps = row["has_gps"] == "yes"
        if info.has_gps != want_gps:
            mismatches.append((row["path"], info))
            continue
        if want_gps:
            assert info.latitude == pytest.approx(float(row["gps_lat"]), abs=1e-5), row["path"]
            assert info.longitude == pytest.approx(float(row["gps_lon"]), abs=1e-5), row["path"]
            assert info.gps_reason is None
        else:
            assert info.latitude is None and info.longitude is None and info.gps_reason
        assert (info.camera_make or "") == row["camera_make"], row["path"]
        assert (info.camera_model or "") == row["camera_model"], row["path"]
    assert not mismatches


@pytest.mark.shared
def test_gps_version_id_only_samples_are_no_gps(shared_data):
    root = shared_data / "exif-samples"
    for rel in ("jpg/Canon_40D.jpg", "jpg/hdr/canon_hdr_YES.jpg", "jpg/tests/32-lens_data.jpeg"):
        info = read_exif(root / rel)
        assert not info.has_gps
        assert info.gps_reason == "GPS IFD holds only GPSVersionID"


@pytest.mark.shared
def test_real_sample_details(shared_data):
    root = shared_data / "exif-samples"
    iphone = read_exif(root / "jpg/hdr/iphone_hdr_YES.jpg")
    assert iphone.has_gps and iphone.longitude < 0  # GPSLongitudeRef W
    assert iphone.altitude == pytest.approx(11513 / 18)
    assert iphone.datetime_original == datetime(2015, 4, 10, 20, 12, 23)
    assert (iphone.camera_make, iphone.camera_model) == ("Apple", "iPhone 6")
    canon = read_exif(root / "jpg/hdr/canon_hdr_YES.jpg")
    assert canon.orientation == 6
    for n in (1, 2, 3, 4):
        assert read_exif(root / f"jpg/orientation/landscape_{n}.jpg").orientation == n
    heif = read_exif(root / "heic/mobile/HMD_Nokia_8.3_5G.heif")
    assert heif.has_gps and heif.latitude == pytest.approx(40.788685, abs=1e-5)
    assert heif.longitude == pytest.approx(-4.005141, abs=1e-5)
    assert read_exif(root / "jpg/exif-org/olympus-d320l.jpg").gps_reason == "no EXIF"
    # trailing blanks in Make/Model are stripped
    assert read_exif(root / "jpg/Fujifilm_FinePix_E500.jpg").camera_model == "FinePix E500"


@pytest.mark.shared
def test_exifread_warnings_do_not_reach_the_log(shared_data, caplog):
    caplog.set_level(logging.DEBUG)
    for p in (shared_data / "exif-samples").rglob("*.jp*g"):
        read_exif(p)
    assert not [r for r in caplog.records if r.name.startswith("exifread") and r.levelno >= logging.WARNING]


# ------------------------------------------------------------------------------------ written photos


@pytest.mark.parametrize(
    "lat_ref,lon_ref,sign_lat,sign_lon",
    [
        ("N", "E", 1, 1),
        ("S", "E", -1, 1),
        ("N", "W", 1, -1),
        ("S", "W", -1, -1),
    ],
)
def test_ref_signs(tmp_path, lat_ref, lon_ref, sign_lat, sign_lon):
    p = _write(tmp_path / "a.jpg", gps=_gps(lat_ref=lat_ref, lon_ref=lon_ref))
    info = read_exif(p)
    assert info.has_gps and info.gps_reason is None
    assert info.latitude == pytest.approx(sign_lat * (43 + 28 / 60 + 30 / 3600), abs=1e-9)
    assert info.longitude == pytest.approx(sign_lon * (11 + 53 / 60 + 6 / 3600), abs=1e-9)


def test_altitude_ref_below_sea_level(tmp_path):
    above = read_exif(_write(tmp_path / "a.jpg", gps=_gps(extra={5: b"\x00", 6: 12.5})))
    below = read_exif(_write(tmp_path / "b.jpg", gps=_gps(extra={5: b"\x01", 6: 12.5})))
    assert above.altitude == pytest.approx(12.5)
    assert below.altitude == pytest.approx(-12.5)


def test_gps_version_id_only(tmp_path):
    info = read_exif(_write(tmp_path / "v.jpg", gps={0: b"\x02\x03\x00\x00"}))
    assert not info.has_gps
    assert info.gps_reason == "GPS IFD holds only GPSVersionID"
    assert info.latitude is None and info.longitude is None


def test_no_gps_ifd_and_no_exif(tmp_path):
    info = read_exif(_write(tmp_path / "m.jpg", make="ACME", model=" Cam 1 ", orientation=3, dt="2021:07:04 10:11:12"))
    assert not info.has_gps and info.gps_reason == "no GPS IFD"
    assert (info.camera_make, info.camera_model, info.orientation) == ("ACME", "Cam 1", 3)
    assert info.datetime_original == datetime(2021, 7, 4, 10, 11, 12)
    plain = tmp_path / "plain.jpg"
    Image.new("RGB", (8, 8)).save(plain)
    info = read_exif(plain)
    assert info == ExifInfo(has_gps=False, gps_reason="no EXIF")


def test_latitude_without_longitude(tmp_path):
    info = read_exif(_write(tmp_path / "l.jpg", gps={1: "N", 2: (10.0, 0.0, 0.0)}))
    assert not info.has_gps and "GPSLongitude" in info.gps_reason


@pytest.mark.parametrize(
    "gps,reason",
    [
        (_gps(lat=(95.0, 0.0, 0.0)), "latitude out of range"),
        (_gps(lon=(181.0, 0.0, 0.0)), "longitude out of range"),
        (_gps(lat=(89.0, 59.0, 3600.0)), "latitude out of range"),
        (_gps(lat=(IFDRational(43, 1), IFDRational(28, 0), IFDRational(0, 1))), "zero denominator"),
        (_gps(lon=(IFDRational(1, 0),)), "zero denominator"),
        (_gps(lat=(0.0, 0.0, 0.0), lon=(0.0, 0.0, 0.0)), "0, 0"),
        (_gps(lat_ref="X"), "GPSLatitudeRef 'X'"),
    ],
)
def test_unusable_gps_is_no_gps_with_reason(tmp_path, gps, reason):
    info = read_exif(_write(tmp_path / "bad.jpg", gps=gps))
    assert not info.has_gps
    assert info.latitude is None and info.longitude is None and info.altitude is None
    assert reason in info.gps_reason


def test_gps_to_decimal_edge_cases():
    assert gps_to_decimal([(10, 1), (30, 1), (0, 1)], "S", axis="latitude") == (-10.5, None)
    assert gps_to_decimal([(179, 2)], "W", axis="longitude") == (-89.5, None)  # decimal degrees only
    assert gps_to_decimal([(10, 1)], None, axis="latitude") == (10.0, None)  # missing ref counts as N
    assert gps_to_decimal([float("nan")], "N", axis="latitude")[1] == "latitude is not a number"
    assert gps_to_decimal([(-5, 1)], "N", axis="latitude")[1] == "GPSLatitude has a negative component"
    assert gps_to_decimal([], "N", axis="latitude")[0] is None
    assert gps_to_decimal(["text"], "N", axis="latitude")[1] == "GPSLatitude is not a rational number"
    assert gps_to_decimal([(1, 1)] * 4, "E", axis="longitude")[0] is None


@pytest.mark.parametrize("fmt,ext", [("PNG", "png"), ("WEBP", "webp"), ("HEIF", "heic")])
def test_other_containers(tmp_path, fmt, ext):
    p = _write(tmp_path / f"x.{ext}", fmt=fmt, gps=_gps(lat_ref="S", lon_ref="W"), make="Phone")
    info = read_exif(p)
    assert info.has_gps, info
    assert info.latitude == pytest.approx(-(43 + 28 / 60 + 30 / 3600))
    assert info.longitude == pytest.approx(-(11 + 53 / 60 + 6 / 3600))
    assert info.camera_make == "Phone"


def test_heif_brand_exifread_does_not_know_falls_back_to_pillow_heif(tmp_path):
    p = _write(tmp_path / "x.heic", fmt="HEIF", gps=_gps(lat_ref="S"))
    data = bytearray(p.read_bytes())
    assert data[8:12] == b"heic"
    data[8:12] = b"heix"  # a valid HEIF major brand that exifread 3.5 does not recognise
    p.write_bytes(bytes(data))
    with open(p, "rb") as fh:
        import exifread

        assert exifread.process_file(fh, details=False) == {}
    info = read_exif(p)
    assert info.has_gps and info.latitude < 0 and info.error is None


def test_damaged_files_never_raise(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert read_exif(empty).error == "empty file"
    truncated = tmp_path / "trunc.jpg"
    truncated.write_bytes(b"\xff\xd8\xff")  # makes exifread 3.5.1 raise IndexError
    info = read_exif(truncated)
    assert not info.has_gps and info.gps_reason == "no EXIF"
    assert info.error and "IndexError" in info.error
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo at all")
    assert read_exif(text).gps_reason == "no EXIF"
    bad_png = tmp_path / "bad.png"
    bad_png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    assert not read_exif(bad_png).has_gps


def test_fuzzed_exif_never_raises(tmp_path):
    src = io.BytesIO()
    ex = Image.Exif()
    ex[0x010F] = "Fuzz"
    ex.get_ifd(GPS_IFD).update(_gps(extra={5: b"\x00", 6: 100.0}))
    ex.get_ifd(0x8769)[0x9003] = "2020:01:02 03:04:05"
    Image.new("RGB", (16, 16)).save(src, "JPEG", exif=ex)
    data = src.getvalue()
    start = data.index(b"Exif\x00\x00") + 6
    end = start + int.from_bytes(data[start - 8 : start - 6], "big")
    rng = random.Random(1234)
    p = tmp_path / "fuzz.jpg"
    outcomes = set()
    for _ in range(300):
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(start, min(end, len(b)))] = rng.randrange(256)
        p.write_bytes(bytes(b))
        info = read_exif(p)
        outcomes.add(info.has_gps)
        if info.has_gps:
            assert -90 <= info.latitude <= 90 and -180 <= info.longitude <= 180
    assert outcomes == {True, False}


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_exif(tmp_path / "gone.jpg")


def test_exifread_exception_becomes_error(tmp_path, monkeypatch):
    p = _write(tmp_path / "a.jpg", gps=_gps())

    def boom(*a, **k):
        raise ValueError("broken IFD")

    monkeypatch.setattr(exif_mod.exifread, "process_file", boom)
    info = read_exif(p)
    assert not info.has_gps and info.error == "EXIF could not be parsed: ValueError: broken IFD"
