"""core/photos/safe_write.py on real files: an export never destroys another file (issue 12 item 2)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from core.domain import ExportError, InvalidRequestError
from core.photos.safe_write import looks_like_image, write_export

DATA = b"path,label\n/p/a.jpg,Petra\n"


@pytest.fixture
def photo(shared_data, tmp_path) -> Path:
    src = sorted((shared_data / "landmarks" / "test" / "Petra").glob("*.jpg"))[0]
    return Path(shutil.copy(src, tmp_path / "Petra1 (10).jpg"))


def test_a_new_file_is_written_with_a_normal_mode(tmp_path):
    out = write_export(tmp_path / "labels.csv", DATA)
    assert out.read_bytes() == DATA
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.csv"]  # no temporary file left


def test_an_existing_file_is_replaced_only_with_force(tmp_path):
    target = tmp_path / "labels.csv"
    target.write_bytes(b"old")
    with pytest.raises(ExportError, match="already exists; use --force"):
        write_export(target, DATA)
    assert target.read_bytes() == b"old"
    write_export(target, DATA, force=True)
    assert target.read_bytes() == DATA


@pytest.mark.shared
def test_a_photo_is_never_overwritten_force_or_not(photo, tmp_path):
    before = photo.read_bytes()
    for force in (False, True):
        with pytest.raises(ExportError, match="photo"):
            write_export(photo, DATA, force=force)
    renamed = photo.rename(tmp_path / "photo-without-extension.dat")
    assert looks_like_image(renamed)
    with pytest.raises(ExportError, match="it is an image"):
        write_export(renamed, DATA, force=True)
    assert renamed.read_bytes() == before


@pytest.mark.skipif(os.name == "nt", reason="POSIX links and FIFOs")
def test_links_devices_folders_and_planted_temporary_files_are_never_written_through(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"secret")
    # the old code wrote through a link planted at the predictable "<name>.tmp"
    os.symlink(secret, tmp_path / "labels.csv.tmp")
    write_export(tmp_path / "labels.csv", DATA)
    assert secret.read_bytes() == b"secret" and (tmp_path / "labels.csv").read_bytes() == DATA
    link = tmp_path / "link.csv"
    os.symlink(secret, link)
    with pytest.raises(ExportError, match="symbolic link"):
        write_export(link, DATA, force=True)
    fifo = tmp_path / "fifo.csv"  # stands for a device such as /dev/full: not a regular file
    os.mkfifo(fifo)
    with pytest.raises(ExportError, match="not a regular file"):
        write_export(fifo, DATA, force=True)
    assert fifo.is_fifo()
    with pytest.raises(ExportError, match="is a folder"):
        write_export(tmp_path, DATA, force=True)
    assert secret.read_bytes() == b"secret"


def test_an_empty_path_or_a_missing_folder_is_one_clear_error(tmp_path):
    with pytest.raises(InvalidRequestError, match="no file name"):
        write_export("", DATA)
    with pytest.raises(ExportError, match="does not exist"):
        write_export(tmp_path / "nope" / "labels.csv", DATA)


def test_replace_file_creates_merges_and_refuses(tmp_path, photo):
    from core.photos.safe_write import file_signature, remove_file, replace_file

    side = tmp_path / "a.jpg.xmp"
    replace_file(side, b"one", expected=None)
    assert side.read_bytes() == b"one"
    with pytest.raises(ExportError, match="changed while"):  # it exists now: creating again is refused
        replace_file(side, b"two", expected=None)
    sig = file_signature(side)
    replace_file(side, b"two", expected=sig)
    assert side.read_bytes() == b"two"
    with pytest.raises(ExportError, match="changed while"):  # another program wrote it since it was read
        replace_file(side, b"three", expected=sig)
    assert side.read_bytes() == b"two"
    with pytest.raises(ExportError, match="photo's"):
        replace_file(photo, b"x", expected=file_signature(photo))
    disguised = tmp_path / "b.xmp"
    disguised.write_bytes(photo.read_bytes())
    with pytest.raises(ExportError, match="is an image"):
        replace_file(disguised, b"x", expected=file_signature(disguised))
    with pytest.raises(ExportError, match="changed while"):
        remove_file(side, expected=sig)
    remove_file(side, expected=file_signature(side))
    assert not side.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([photo.name, "b.xmp"])  # no temporary file
