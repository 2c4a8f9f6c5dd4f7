"""``cli.selftest``: the installation check behind ``landmark-tagger --self-test``, run in-process."""

from __future__ import annotations

import os
import re

import pytest

from cli import selftest
from core.paths import default_model_path
from core.photos.exif import read_exif
from core.recognition.bundle import read_bundle_info

OK_LINE = re.compile(
    r"^self-test OK: 4 photos, 1 GPS skipped, 3 recognized by (?P<version>\S+) "
    r"on (?P<device>cpu|cuda(:\d+)?|mps) in \d+\.\d s; verification (?P<verification>on \(.+\)|unavailable: no verification features)$"
)


def _one_line(capsys) -> str:
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 1, f"expected one line, got {out!r}"
    return lines[0]


def test_photos_carry_gps_only_where_written(tmp_path):
    plain, gps = selftest.make_photos(tmp_path)
    assert sorted(p.suffix for p in plain) == [".heic", ".jpg", ".jpg"]
    info = read_exif(gps)
    assert info.has_gps
    assert info.latitude == pytest.approx(selftest.GPS_LATITUDE, abs=1e-6)
    assert info.longitude == pytest.approx(selftest.GPS_LONGITUDE, abs=1e-6)
    for path in plain:
        assert not read_exif(path).has_gps


def test_self_test_with_shipped_model(capsys, monkeypatch):
    monkeypatch.setenv("LANDMARK_TAGGER_HOME", "/nonexistent/must-not-be-used")
    status = selftest.main(["--device", "cpu"])
    line = _one_line(capsys)
    assert status == 0, line
    match = OK_LINE.match(line)
    assert match, line
    assert match["version"] == read_bundle_info(default_model_path())["model_version"]
    assert match["device"] == "cpu"
    assert os.environ["LANDMARK_TAGGER_HOME"] == "/nonexistent/must-not-be-used"  # restored


def test_self_test_is_model_agnostic(capsys, tiny_bundle_path, tmp_path):
    report = tmp_path / "report.txt"
    status = selftest.main(["--device", "cpu", "--model", str(tiny_bundle_path), "--output", str(report)])
    line = _one_line(capsys)
    assert status == 0, line
    assert OK_LINE.match(line)["version"] == "tiny-0"
    assert report.read_text("utf-8") == line + "\n"


def test_missing_model_fails_with_one_line(capsys, tmp_path):
    status = selftest.main(["--model", str(tmp_path / "absent.safetensors")])
    line = _one_line(capsys)
    assert status == 1
    assert line.startswith("self-test FAILED: model bundle not found")


def test_tampered_model_fails_with_one_line(capsys, tiny_bundle_path):
    data = bytearray(tiny_bundle_path.read_bytes())
    data[-10] ^= 0xFF  # flip a byte of the tensor data: the SHA-256 no longer matches
    tiny_bundle_path.write_bytes(bytes(data))
    status = selftest.main(["--device", "cpu", "--model", str(tiny_bundle_path)])
    line = _one_line(capsys)
    assert status == 1
    assert line.startswith("self-test FAILED:")
