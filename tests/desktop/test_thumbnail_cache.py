"""The thumbnail cache on disk (issue 14): size cap from Settings, least-recently-used pruning, removed photos dropped."""

from __future__ import annotations

import os
import time
from pathlib import Path

from desktop.settings import DEFAULT_THUMB_CACHE_MB, MIN_THUMB_CACHE_MB, AppSettings
from desktop.thumbnail_cache import PRUNE_TO, ThumbnailDiskCache
from desktop.thumbnails import ThumbnailLoader, disk_key


def _put(cache: ThumbnailDiskCache, key: str, nbytes: int, used_at: float | None = None) -> Path:
    file = cache.put(f"{key}-160", lambda tmp: tmp.write_bytes(b"x" * nbytes) == nbytes)
    assert file is not None and file.stat().st_size == nbytes
    if used_at is not None:
        os.utime(file, (used_at, used_at))
    return file


def _wait(cond, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_over_the_cap_the_least_recently_used_thumbnails_go(tmp_path):
    cache = ThumbnailDiskCache(tmp_path, limit_bytes=0)  # no cap while filling
    t0 = time.time() - 1000
    files = {f"{i:064x}": _put(cache, f"{i:064x}", 1000, used_at=t0 + i) for i in range(10)}  # 0 is the oldest
    assert cache.total_bytes() == 10_000
    oldest = f"{0:064x}"
    assert cache.hit(f"{oldest}-160") == files[oldest]  # shown again: now the most recently used
    cache.set_limit(6000)  # over the cap: prune to PRUNE_TO of it (5400 bytes: 5 files stay)
    left = {k for k, f in files.items() if f.exists()}
    assert cache.total_bytes() == 1000 * len(left) <= PRUNE_TO * 6000
    assert left == {oldest} | {f"{i:064x}" for i in (6, 7, 8, 9)}  # the hit one survived, 1..5 went
    assert cache.pruned == 5


def test_writing_past_the_cap_prunes_in_the_background(tmp_path):
    cache = ThumbnailDiskCache(tmp_path, limit_bytes=5000)
    for i in range(12):
        _put(cache, f"{i:064x}", 1000)
    assert _wait(lambda: cache.total_bytes() <= 5000 and not cache._checking)
    on_disk = sum(f.stat().st_size for f in (tmp_path / "thumbnails").rglob("*.jpg"))
    assert on_disk == cache.total_bytes() <= 5000


def test_thumbnails_of_photos_that_left_the_library_are_dropped(tmp_path):
    cache = ThumbnailDiskCache(tmp_path)
    old = time.time() - 3600
    kept = _put(cache, "a" * 64, 100, used_at=old)
    gone = _put(cache, "b" * 64, 100, used_at=old)
    fresh = _put(cache, "c" * 64, 100)  # written just now: maybe a photo added while the hashes were read
    cache.total_bytes()
    assert cache.prune_removed({"a" * 64}) == 1
    assert kept.exists() and not gone.exists() and fresh.exists()
    assert cache.total_bytes() == 200
    assert cache.prune_removed({"a" * 64}, older_than_s=0) == 1 and not fresh.exists()


def test_the_cap_is_a_setting_saved_with_the_others(tmp_path):
    ini = tmp_path / "settings.ini"
    assert AppSettings.load(ini).thumb_cache_mb == DEFAULT_THUMB_CACHE_MB == 1024  # 1 GB by default
    AppSettings(thumb_cache_mb=300).save(ini)
    assert AppSettings.load(ini).thumb_cache_mb == 300
    AppSettings(thumb_cache_mb=1).save(ini)
    assert AppSettings.load(ini).thumb_cache_mb == MIN_THUMB_CACHE_MB  # clamped


def test_settings_dialog_edits_the_cap(qtbot):
    from desktop.dialogs import SettingsDialog

    dlg = SettingsDialog(AppSettings(thumb_cache_mb=512))
    qtbot.addWidget(dlg)
    assert dlg.thumb_cache.value() == 512
    dlg.thumb_cache.setValue(2048)
    assert dlg.result_settings().thumb_cache_mb == 2048


def test_the_loader_marks_a_disk_hit_as_recently_used(qtbot, tmp_path, shared_data):
    photo = next((shared_data / "landmarks").glob("*/*/*.jpg"))
    loader = ThumbnailLoader(tmp_path / "cache", limit_mb=1)
    assert loader.disk.limit_bytes == 1 << 20
    with qtbot.waitSignal(loader.thumbnailReady, timeout=20000):
        loader.request("k1", photo, 128, "d" * 64)
    file = loader.cache_file(disk_key(photo, 128, "d" * 64))
    assert file.is_file() and loader.decoded == 1
    qtbot.waitUntil(lambda: loader.pending() == 0, timeout=20000)  # the worker has let go of the key
    os.utime(file, (1, 1))  # long unused
    loader.clear_memory()
    with qtbot.waitSignal(loader.thumbnailReady, timeout=20000):
        loader.request("k1", photo, 128, "d" * 64)
    assert loader.decoded == 1  # read from disk, not decoded again …
    assert file.stat().st_mtime > time.time() - 60  # … and marked as used now
    loader.wait_idle()


def test_the_library_tells_which_thumbnails_to_keep(tmp_path, shared_data, tiny_bundle_path):
    """``Library.file_keys`` (what ``MainWindow.prune_thumbnails`` keeps): a removed folder's photos go, and so do
    the old bytes of a file that changed; the grid's and the details pane's thumbnails are stored under them."""
    import shutil

    from core.library import Library

    folder = tmp_path / "photos"
    folder.mkdir()
    for p in sorted((shared_data / "landmarks").glob("*/*/*.jpg"))[:3]:
        shutil.copy(p, folder / p.name)
    cache = ThumbnailDiskCache(tmp_path / "cache")
    with Library.open(tmp_path / "lib.sqlite3", tiny_bundle_path, "cpu") as lib:
        lib.add_folder(folder)
        lib.tag()
        keep = lib.file_keys()
        assert len(keep) == 3 and all(len(h) == 64 for h in keep)  # small files: their full SHA-256
        assert keep == {s.file_key for s in lib.photos()} == {lib.photo(s.id).file_key for s in lib.photos()}
        old = time.time() - 3600
        files = [_put(cache, h, 10, used_at=old) for h in sorted(keep)]
        stray = _put(cache, "e" * 64, 10, used_at=old)
        assert cache.prune_removed(keep) == 1 and not stray.exists() and all(f.exists() for f in files)
        # a big file is named by its fingerprint; other bytes at its path: another key
        big = folder / "big.jpg"
        shutil.copy(shared_data / "exif-samples" / "jpg" / "gps" / "DSCN0010.jpg", big)
        lib.tag()
        key = lib.photo(lib.photo_id(big)).file_key
        assert key in lib.file_keys() and key.endswith(f"_{big.stat().st_size}") and ":" not in key
        with open(big, "ab") as fh:
            fh.write(b"\0")
        lib.tag()
        assert key not in lib.file_keys() and lib.photo(lib.photo_id(big)).file_key in lib.file_keys()
        lib.remove_folder(folder)
        assert lib.file_keys() == set()
        assert cache.prune_removed(lib.file_keys()) == 3
