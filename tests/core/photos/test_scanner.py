"""Tests for core/photos/scanner.py on real temporary folders (symlinks, races, hidden files)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

import core.photos.scanner as scanner
from core.photos.scanner import (
    SUPPORTED_EXTENSIONS,
    FileStat,
    content_hash,
    diff_folder,
    is_supported,
    iter_photo_files,
    stat_file,
)


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _rel(paths, root: Path) -> list[str]:
    return [Path(p).relative_to(root).as_posix() for p in paths]


def test_supported_extensions_constant():
    assert SUPPORTED_EXTENSIONS == frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif"})
    assert is_supported("IMG_0001.JPG") and is_supported("a.HeIc") and is_supported(Path("x/y.tiff"))
    assert not is_supported("movie.mov") and not is_supported("jpg") and not is_supported("a.jpg.txt")


def test_iter_recursive_case_insensitive_hidden_skipped(tmp_path):
    for rel in [
        "a.jpg",
        "B.JPEG",
        "c.Png",
        "sub/d.tif",
        "sub/deeper/e.webp",
        "sub/f.HEIC",
        "g.heif",
        "notes.txt",
        "clip.mp4",
        "sub/raw.cr2",
        ".hidden.jpg",
        "._a.jpg",
        ".thumbnails/t.jpg",
        "sub/.cache/x.jpg",
        ".git/objects/y.png",
    ]:
        _touch(tmp_path / rel)
    (tmp_path / "folder.jpg").mkdir()  # a folder named like a photo is not a photo
    got = _rel(iter_photo_files(tmp_path), tmp_path)
    # a folder's own photos first (by name), then its sub-folders (by name), depth-first
    assert got == ["B.JPEG", "a.jpg", "c.Png", "g.heif", "sub/d.tif", "sub/f.HEIC", "sub/deeper/e.webp"]
    assert all(Path(p).is_absolute() for p in iter_photo_files(tmp_path))


def test_iter_missing_root_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(iter_photo_files(tmp_path / "nope"))
    f = _touch(tmp_path / "file.jpg")
    with pytest.raises(NotADirectoryError):
        list(iter_photo_files(f))


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="POSIX symlinks")
def test_symlink_loops_and_aliases_walked_once(tmp_path):
    _touch(tmp_path / "a" / "one.jpg")
    _touch(tmp_path / "b" / "two.jpg")
    os.symlink(tmp_path, tmp_path / "a" / "loop_to_root")  # loop back to the root
    os.symlink(tmp_path / "a", tmp_path / "a" / "self")  # loop to itself
    os.symlink(tmp_path / "b", tmp_path / "z_alias_of_b")  # second path to b
    os.symlink(tmp_path / "a" / "one.jpg", tmp_path / "link.jpg")  # symlinked file: followed
    os.symlink(tmp_path / "gone.jpg", tmp_path / "broken.jpg")  # dangling: skipped
    outside = tmp_path.parent / (tmp_path.name + "_outside")
    _touch(outside / "three.jpg")
    os.symlink(outside, tmp_path / "c_ext")  # symlinked folder elsewhere: not followed (scope)
    os.symlink(outside / "three.jpg", tmp_path / "ext_link.jpg")  # symlinked file elsewhere: not followed
    try:
        got = _rel(iter_photo_files(tmp_path), tmp_path)
        followed = _rel(iter_photo_files(tmp_path, follow_links=True), tmp_path)
    finally:
        shutil.rmtree(outside)
    assert got == ["link.jpg", "a/one.jpg", "b/two.jpg"]
    assert followed == ["ext_link.jpg", "link.jpg", "a/one.jpg", "b/two.jpg", "c_ext/three.jpg"]


def test_folder_vanishing_mid_walk_does_not_crash(tmp_path):
    _touch(tmp_path / "a" / "1.jpg")
    _touch(tmp_path / "a" / "2.jpg")
    _touch(tmp_path / "b" / "3.jpg")
    _touch(tmp_path / "c" / "4.jpg")
    errors = []
    it = iter_photo_files(tmp_path, on_error=lambda p, e: errors.append((p, e)))
    first = next(it)
    assert first.name == "1.jpg"
    shutil.rmtree(tmp_path / "b")  # listed already as a sub-folder, removed before it is entered
    (tmp_path / "a" / "2.jpg").unlink()  # listed already in a/, removed before inspection
    rest = list(it)
    assert [p.name for p in rest] == ["2.jpg", "4.jpg"] or [p.name for p in rest] == ["4.jpg"]
    assert any(p.name == "b" and isinstance(e, FileNotFoundError) for p, e in errors)


def test_content_hash_streams_and_is_identity(tmp_path):
    data = os.urandom(3 * scanner.HASH_CHUNK_BYTES + 17)  # spans several 1 MiB chunks
    p = _touch(tmp_path / "big.jpg", data)
    h = content_hash(p)
    assert h == hashlib.sha256(data).hexdigest() and len(h) == 64
    moved = tmp_path / "elsewhere" / "renamed.JPG"
    moved.parent.mkdir()
    p.rename(moved)
    assert content_hash(moved) == h  # a moved/renamed photo keeps its identity
    assert content_hash(_touch(tmp_path / "empty.jpg", b"")) == hashlib.sha256(b"").hexdigest()
    _touch(tmp_path / "other.jpg", data[:-1] + bytes([data[-1] ^ 1]))
    assert content_hash(tmp_path / "other.jpg") != h
    with pytest.raises(FileNotFoundError):
        content_hash(tmp_path / "missing.jpg")


def test_stat_file(tmp_path):
    p = _touch(tmp_path / "s.jpg", b"12345")
    os.utime(p, ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    fs = stat_file(p)
    assert fs == FileStat(path=p, size=5, mtime_ns=os.stat(p).st_mtime_ns)
    assert fs.mtime_ns // 1_000_000_000 == 1_600_000_000
    with pytest.raises(FileNotFoundError):
        stat_file(tmp_path / "missing.jpg")


def _known(*paths: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for p in paths:
        st = os.stat(p)
        out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def test_diff_folder_new_changed_unchanged_deleted(tmp_path):
    root = tmp_path / "photos"
    same = _touch(root / "same.jpg", b"aaa")
    grows = _touch(root / "sub" / "grows.jpg", b"bbb")
    touched = _touch(root / "touched.png", b"ccc")
    gone = _touch(root / "gone.jpg", b"ddd")
    known = _known(same, grows, touched, gone)
    known[str(tmp_path / "other_root" / "x.jpg")] = (1, 1)  # outside root: ignored
    known[str(tmp_path / "photos_2" / "y.jpg")] = (1, 1)  # sibling with a common prefix: ignored
    grows.write_bytes(b"bbbb")
    st = os.stat(touched)
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    gone.unlink()
    fresh = _touch(root / "new" / "fresh.heic", b"eee")
    _touch(root / "ignored.txt")

    d = diff_folder(root, known)
    assert [f.path for f in d.new] == [fresh]
    assert sorted(f.path.name for f in d.changed) == ["grows.jpg", "touched.png"]
    assert [f.path for f in d.unchanged] == [same]
    assert d.deleted == [str(gone)]
    assert d.errors == []
    assert d.unchanged[0].size == 3


def test_diff_folder_missing_root_raises_instead_of_deleting_everything(tmp_path):
    with pytest.raises(FileNotFoundError):
        diff_folder(tmp_path / "unplugged_drive", {str(tmp_path / "unplugged_drive" / "a.jpg"): (1, 1)})


def test_diff_folder_file_deleted_between_listing_and_stat(tmp_path, monkeypatch):
    a = _touch(tmp_path / "a.jpg", b"a")
    b = _touch(tmp_path / "b.jpg", b"b")
    c = _touch(tmp_path / "c.jpg", b"c")
    known = _known(a, b)
    real_iter = scanner.iter_photo_files

    def racing(root, on_error=None, **options):
        for p in real_iter(root, on_error=on_error, **options):
            if p.name in ("b.jpg", "c.jpg"):
                p.unlink()  # deleted after the walk listed it, before diff_folder stats it
            yield p

    monkeypatch.setattr(scanner, "iter_photo_files", racing)
    d = diff_folder(tmp_path, known)
    assert [f.path for f in d.unchanged] == [a]
    assert d.new == [] and d.changed == []
    assert d.deleted == [str(b)]
    assert not c.exists()


def test_diff_folder_unreadable_subfolder_is_not_deleted(tmp_path, monkeypatch):
    a = _touch(tmp_path / "ok" / "a.jpg")
    locked = _touch(tmp_path / "locked" / "b.jpg")
    known = _known(a, locked)
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(scanner.os, "scandir", scandir)
    d = diff_folder(tmp_path, known)
    assert d.deleted == []
    assert [f.path for f in d.unchanged] == [a]
    assert d.errors and d.errors[0][0] == str(tmp_path / "locked") and "PermissionError" in d.errors[0][1]


def test_diff_folder_relative_root_gives_absolute_keys(tmp_path, monkeypatch):
    _touch(tmp_path / "r" / "a.jpg")
    monkeypatch.chdir(tmp_path)
    d = diff_folder("r", {})
    assert [str(f.path) for f in d.new] == [str(tmp_path / "r" / "a.jpg")]
    again = diff_folder("r", {str(f.path): (f.size, f.mtime_ns) for f in d.new})
    assert len(again.unchanged) == 1 and not again.new and not again.deleted
