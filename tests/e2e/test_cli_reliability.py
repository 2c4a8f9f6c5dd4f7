"""The CLI on real photos for issue 12 ("Nothing lost, nothing stuck"): what each item printed before the fix
is in the comments; these tests check what it prints now."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cli.commands import EXIT_BROKEN_PIPE, main
from tests.helpers import REPO_ROOT, damage_database, landmark_photos

pytestmark = pytest.mark.shared

LATIN1 = b"caf\xe9-latin1.jpg"


@pytest.fixture
def photos(shared_data, tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in landmark_photos(shared_data, "Petra", "test")[:4]:
        shutil.copy(p, folder / p.name)
    return folder


@pytest.fixture
def cli(tmp_path, tiny_bundle_path, capsys):
    """``main`` on a temporary --db with the tiny --model; returns (exit code, stdout, stderr)."""
    db = tmp_path / "lib.sqlite3"

    def run(*args: str):
        code = main(["--db", str(db), "--model", str(tiny_bundle_path), *args])
        out, err = capsys.readouterr()
        return code, out, err

    run.db = db  # type: ignore[attr-defined]
    return run


def _error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("landmark-tagger: error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.skipif(os.name == "nt", reason="POSIX file names are bytes")
def test_a_file_name_that_is_not_utf8_no_longer_blocks_the_library(cli, photos):
    odd = os.fsdecode(os.fsencode(photos) + b"/" + LATIN1)
    shutil.copy(next(photos.iterdir()), odd)
    assert cli("add-folder", str(photos))[0] == 0
    # before: "error: tagging failed: UnicodeEncodeError: 'utf-8' codec can't encode character '\udce9' …"
    code, out, err = cli("tag", "--no-progress")
    assert code == 0 and "5 new" in out and "0 failed" in out, out + err
    code, out, _ = cli("search", "--limit", "0")
    assert code == 0 and "caf\ufffd-latin1.jpg" in out  # shown with a replacement character, never raw bytes
    out.encode("utf-8")
    code, out, _ = cli("--json", "search", "--limit", "0")
    assert "\\udce9" in out  # valid JSON; json + os.fsencode give the exact bytes back
    paths = [r["path"] for r in json.loads(out)]
    assert odd in paths and os.fsencode(odd).endswith(LATIN1)


def test_export_corrections_never_destroys_a_file(cli, photos, tmp_path):
    cli("add-folder", str(photos))
    cli("tag", "--no-progress")
    assert cli("relabel", "1", "2", "--new", "Petra by hand")[0] == 0
    photo = sorted(photos.iterdir())[0]
    before = photo.read_bytes()
    # before: "Wrote 3 labelled photo(s) to …Petra1 (10).jpg" and the photo was gone
    for extra in ((), ("--force",)):
        code, _, err = cli("export-corrections", str(photo), *extra)
        assert code == 1 and "refusing to write" in _error(err)
    assert photo.read_bytes() == before
    csv_path = tmp_path / "labels.csv"
    if os.name != "nt":
        secret = tmp_path / "secret"
        secret.write_text("secret")
        os.symlink(secret, tmp_path / "labels.csv.tmp")  # planted at the old, predictable temporary name
    code, out, _ = cli("export-corrections", str(csv_path))
    assert code == 0 and out.startswith("Wrote 2 labelled photo(s)")
    if os.name != "nt":
        assert secret.read_text() == "secret"
        fifo = tmp_path / "device"
        os.mkfifo(fifo)  # like /dev/full: not a regular file
        code, _, err = cli("export-corrections", str(fifo), "--force")
        assert code == 1 and "not a regular file" in _error(err) and fifo.is_fifo()
    code, _, err = cli("export-corrections", str(csv_path))
    assert code == 1 and "already exists; use --force" in _error(err)
    assert cli("export-corrections", str(csv_path), "--force")[0] == 0
    code, _, err = cli("export-corrections", "")  # before: "unexpected ValueError: PosixPath('.') has an empty name"
    assert code == 1 and "no file name given" in _error(err)


def test_every_command_fails_on_a_damaged_database_and_the_way_back(cli, photos, tmp_path):
    cli("add-folder", str(photos))
    cli("tag", "--no-progress")
    cli("relabel", "1", "--new", "My Rock")
    assert cli("backups", "--now")[0] == 0
    damage_database(cli.db)
    # before: albums, stats, search, tag and export exited 0 while integrity_check said "malformed"
    for args in (
        ["albums"],
        ["stats"],
        ["search", "Petra"],
        ["tag", "--no-progress"],
        ["export-corrections", str(tmp_path / "x.csv")],
        ["folders"],
    ):
        code, out, err = cli(*args)
        assert code == 1 and "is damaged" in _error(err) and "restore" in err, args
    code, _, err = cli("check")
    assert code == 1 and "is damaged" in err
    code, out, _ = cli("backups")
    assert code == 0 and out.splitlines()[0].lstrip().startswith("1 ") and "daily" in out
    code, out, _ = cli("restore", "1")
    assert code == 0 and "Restored the library" in out and "kept at" in out
    code, out, _ = cli("check", "--full")
    assert code == 0 and "fine" in out
    code, out, _ = cli("search", "--source", "manual")
    assert code == 0 and "My Rock" in out
    damage_database(cli.db)
    code, out, err = cli("rebuild", "--no-progress")
    assert code == 0 and "Rebuilt the library database" in out and "1 corrections" in out, out + err
    code, out, _ = cli("search", "--source", "manual")
    assert "My Rock" in out  # the correction came back with the photo
    assert cli("albums")[0] == 0


def test_retry_failed_folders_and_a_second_tagger(cli, photos, tmp_path):
    broken = photos / "broken.jpg"
    broken.write_bytes(b"")
    cli("add-folder", str(photos))
    code, out, _ = cli("tag", "--no-progress")
    assert "1 failed" in out
    broken.write_bytes(next(p for p in photos.iterdir() if p != broken).read_bytes() + b"x")
    os.utime(broken, ns=(1, 1))
    code, out, _ = cli("retry-failed", "--no-progress")
    assert code == 0 and out.startswith("1 failed photo(s) will be tagged again.") and "failed: 0" in out
    code, out, _ = cli("folders")
    assert code == 0 and out.startswith("available") and "5 photos" in out
    from core.tagging.lock import TaggingLock

    with TaggingLock(cli.db).hold(wait=False):  # another process is tagging
        code, _, err = cli("tag", "--no-progress", "--no-wait")
    assert code == 1 and "another Landmark Tagger process is tagging" in _error(err)
    photos.rename(tmp_path / "unplugged")
    code, out, _ = cli("folders")
    assert out.startswith("missing") and "offline" in out
    code, out, _ = cli("tag", "--no-progress")
    assert code == 0 and "1 folder(s) offline, their photos kept" in out
    code, out, _ = cli("search", "--limit", "0")
    assert out.count("(offline)") == 5


def test_small_things(cli, photos, tmp_path):
    cli("add-folder", str(photos))
    cli("tag", "--no-progress")
    # before: the escape codes went to the terminal raw ("Evil^[[31mRED^[[0m")
    code, out, _ = cli("relabel", "1", "--new", "Evil\x1b[31mRED\x1b[0m")
    assert code == 0 and "\x1b" not in out and "Evil\ufffd[31mRED" in out
    code, out, _ = cli("albums")
    assert "\x1b" not in out


def _run(args, **kw):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONWARNINGS="default")
    return subprocess.run([sys.executable, "-m", "cli.entry", *args], cwd=REPO_ROOT, env=env, **kw)


def test_no_python_warnings_on_stderr(shared_data, tmp_path, tiny_bundle_path):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("1", (9800, 9800), 0).save(folder / "95MP.png", optimize=True)  # Pillow warns above 89.5 MP
    jpg = (shared_data / "landmarks" / "test" / "Petra").glob("*.jpg").__next__().read_bytes()
    tiff = b"II*\x00\x08\x00\x00\x00\x03\x00\x0f\x01\x02\x00\x28\x00\x00\x00\xc8\x00\x00\x00"  # entries past the end
    app1 = b"Exif\x00\x00" + tiff
    (folder / "corrupt_exif.jpg").write_bytes(
        jpg[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + jpg[2:]
    )
    db = ["--db", str(tmp_path / "lib.db"), "--model", str(tiny_bundle_path)]
    assert _run([*db, "add-folder", str(folder)], capture_output=True).returncode == 0
    # before: "DecompressionBombWarning: Image size (96040000 pixels) exceeds limit …", "Corrupt EXIF data …"
    r = _run([*db, "tag", "--no-progress"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "2 tagged" in r.stdout


def test_broken_pipe_is_quiet_and_self_test_takes_global_options(tmp_path, tiny_bundle_path, photos):
    db = ["--db", str(tmp_path / "lib.db"), "--model", str(tiny_bundle_path)]
    for i in range(1500):
        # 1 500 rows (~150 kB): more than a pipe buffer (64 kB), so the writer is still writing when the
        # reader goes away (with less, all of it could fit in the buffer before the reader closes: no EPIPE)
        (photos / f"copy{i:04d}.jpg").write_bytes(b"")
    _run([*db, "add-folder", str(photos)], capture_output=True)
    _run([*db, "tag", "--no-progress"], capture_output=True)
    p = subprocess.Popen(
        [sys.executable, "-m", "cli.entry", *db, "search", "--limit", "0"],
        cwd=REPO_ROOT,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    assert p.stdout is not None and p.stderr is not None
    p.stdout.read(10)
    p.stdout.close()  # like `| head -c 10`
    err = p.stderr.read().decode()
    # before: "landmark-tagger: error: [Errno 32] Broken pipe", exit status 1
    assert p.wait(60) == EXIT_BROKEN_PIPE and err == "", err


def test_db_before_self_test_is_accepted(monkeypatch):
    import types

    from cli import entry
    from cli.selftest import _build_parser

    assert _build_parser().parse_args(["--db", "x.db", "--device", "cpu"]).device == "cpu"
    calls = []
    monkeypatch.setitem(sys.modules, "cli.selftest", types.SimpleNamespace(main=lambda argv: calls.append(argv) or 0))
    # before: "error: the following arguments are required: COMMAND", exit status 2
    assert entry.main(["--db", "x.db", "--self-test", "--device", "cpu"]) == 0
    assert calls == [["--db", "x.db", "--device", "cpu"]]
