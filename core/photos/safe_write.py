"""Writing a file the app exports (a CSV) without ever destroying another file.

``write_export(target, data, force=...)``:

* the target must be a regular file or not exist yet: a folder, a device (``/dev/full``), a FIFO, a socket or a
  symbolic link is refused, ``force`` or not (a link is never written through);
* a target whose name is a photo's (``scanner.SUPPORTED_EXTENSIONS``) or whose first bytes are an image's
  (JPEG, PNG, GIF, TIFF, WebP, HEIF/AVIF, BMP) is refused, ``force`` or not;
* an existing target is replaced only with ``force``; without it the new file is linked into place with
  ``os.link``, which fails if a file appeared there meanwhile (no check-then-write race);
* the bytes go to a temporary file created securely in the target's folder (``tempfile.mkstemp``: a new,
  unpredictable name opened with ``O_CREAT | O_EXCL``, so a planted link is never followed), are flushed and
  ``fsync``-ed, then renamed over the target (``os.replace``, atomic on POSIX and Windows): a reader sees the old
  file or the new one, never half of one, and a failure leaves the target as it was.

``replace_file(target, data, expected=...)`` writes a file the app merges into (an XMP sidecar) the same way: it
creates the file when ``expected`` is ``None`` (never over one that appeared meanwhile), else replaces it only while
it still has the ``(size, mtime_ns)`` it had when it was read (``file_signature``), so another program's write in
between is not lost; the same refusals apply (a photo's name, an image, a link, a folder, a device).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

from core.domain import ExportError, InvalidRequestError
from core.photos.pathnames import display_path
from core.photos.scanner import is_supported

__all__ = [
    "write_export",
    "replace_file",
    "remove_file",
    "sync_folder",
    "file_signature",
    "looks_like_image",
    "IMAGE_SIGNATURES",
]

#: Leading bytes of image files (offset, bytes): JPEG, PNG, GIF, TIFF (both byte orders), BMP, WebP (``RIFF`` ..
#: ``WEBP``), ISO-BMFF images (``ftyp`` at offset 4: HEIF/HEIC/AVIF).
IMAGE_SIGNATURES: tuple[tuple[int, bytes], ...] = (
    (0, b"\xff\xd8\xff"),
    (0, b"\x89PNG\r\n\x1a\n"),
    (0, b"GIF87a"),
    (0, b"GIF89a"),
    (0, b"II*\x00"),
    (0, b"MM\x00*"),
    (0, b"BM"),
    (8, b"WEBP"),
    (4, b"ftyp"),
)


def looks_like_image(path: str | os.PathLike[str]) -> bool:
    """True when the file's first 16 bytes match one of ``IMAGE_SIGNATURES`` (False when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return False
    return any(head[off : off + len(sig)] == sig for off, sig in IMAGE_SIGNATURES)


def _check_target(target: Path, force: bool) -> bool:
    """Refuse targets that must never be written; returns whether the target exists (a regular file)."""
    shown = display_path(target)
    if is_supported(target.name):
        raise ExportError(f"refusing to write {shown}: that name is a photo's (choose a .csv file)")
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise ExportError(f"cannot write {shown}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ExportError(f"cannot write {shown}: it is a folder")
    if stat.S_ISLNK(st.st_mode):
        raise ExportError(f"refusing to write {shown}: it is a symbolic link (give the real file's path)")
    if not stat.S_ISREG(st.st_mode):
        raise ExportError(f"refusing to write {shown}: it is not a regular file (a device, pipe or socket)")
    if looks_like_image(target):
        raise ExportError(f"refusing to overwrite {shown}: it is an image")
    if not force:
        raise ExportError(f"{shown} already exists; use --force to replace it")
    return True


def file_signature(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(size in bytes, mtime in ns)`` of a regular file (links not followed), or ``None`` when there is none."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None


def replace_file(
    target: str | os.PathLike[str], data: bytes, *, expected: tuple[int, int] | None, sync_folder: bool = True
) -> Path:
    """Create or replace ``target`` with ``data`` atomically (see the module docstring).

    Args:
        target: the file (absolute, or relative to the current folder).
        data: its complete new content.
        expected: ``None`` to create it (it must not exist), or the ``file_signature`` it had when it was read.
        sync_folder: fsync the folder after the rename (``False``: the caller calls ``sync_folder`` once after
            writing many files there; the file itself is always fsync-ed before the rename).
    Returns:
        the absolute path written.
    Raises:
        ExportError: the target is refused (a photo's name, an image, a link, a folder, a device), it changed or
            appeared since it was read, or its folder cannot be written (one line, the name made safe to print).
    """
    path = Path(os.path.abspath(os.fspath(target)))
    folder = path.parent
    if not folder.is_dir():
        raise ExportError(f"cannot write {display_path(path)}: folder {display_path(folder)} does not exist")
    exists = _check_target(path, True)
    if exists != (expected is not None) or (expected is not None and file_signature(path) != expected):
        raise ExportError(f"{display_path(path)} changed while it was being merged; nothing was written")
    return _write_atomically(path, data, exists=exists, replace=exists, sync_folder=sync_folder)


def remove_file(target: str | os.PathLike[str], *, expected: tuple[int, int]) -> None:
    """Remove a file the app wrote (a sidecar left with nothing in it), only while it is still the file that was read
    (``file_signature`` equal to ``expected``) and is not a photo, an image, a link or anything but a regular file.

    Raises:
        ExportError: refused, changed meanwhile, or it cannot be removed (one line).
    """
    path = Path(os.path.abspath(os.fspath(target)))
    if not _check_target(path, True) or file_signature(path) != expected:
        raise ExportError(f"{display_path(path)} changed while it was being merged; nothing was removed")
    try:
        os.unlink(path)
    except OSError as exc:
        raise ExportError(f"cannot remove {display_path(path)}: {exc.strerror or exc}") from None
    _fsync_folder(path.parent)


def write_export(target: str | os.PathLike[str], data: bytes, *, force: bool = False) -> Path:
    """Write ``data`` to ``target`` safely (see the module docstring).

    Args:
        target: the file to write (``~`` is expanded; relative to the current folder).
        data: the complete file content.
        force: replace an existing regular file (never an image, a link or a device).
    Returns:
        the absolute path written.
    Raises:
        InvalidRequestError: ``target`` is empty.
        ExportError: the target is refused (exists without ``force``, a folder, link, device or image), or the
            folder cannot be written (one line, the file name made safe to print).
    """
    raw = os.fspath(target)
    if not raw.strip():
        raise InvalidRequestError("no file name given for the export")
    path = Path(os.path.abspath(os.path.expanduser(raw)))
    folder = path.parent
    if not folder.is_dir():
        raise ExportError(f"cannot write {display_path(path)}: folder {display_path(folder)} does not exist")
    exists = _check_target(path, force)
    return _write_atomically(path, data, exists=exists, replace=force)


def _write_atomically(path: Path, data: bytes, *, exists: bool, replace: bool, sync_folder: bool = True) -> Path:
    """``data`` into a secure temporary file beside ``path``, flushed and fsync-ed, then renamed over ``path``
    (``replace``) or linked into place only if nothing is there; the temporary file never stays behind."""
    folder = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise ExportError(f"cannot write {display_path(path)}: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    try:
        # mkstemp makes the file private (0600); give it the mode of the file it replaces, or a new file's.
        with contextlib.suppress(OSError, AttributeError):
            os.fchmod(fd, stat.S_IMODE(os.stat(path).st_mode) if exists else _new_file_mode())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    except ExportError:
        raise
    except OSError as exc:
        raise ExportError(f"cannot write {display_path(path)}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    if sync_folder:
        _fsync_folder(folder)
    return path


def _new_file_mode() -> int:
    """``0o666`` less the process umask: the mode ``open(path, "w")`` would give a new file."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _link_new(tmp: Path, path: Path) -> None:
    """Put ``tmp`` at ``path`` only if nothing is there (``os.link`` fails with EEXIST otherwise)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise ExportError(f"{display_path(path)} already exists; use --force to replace it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
            raise
        # A file system without hard links (FAT, some network shares): check again, then rename.
        if os.path.lexists(path):
            raise ExportError(f"{display_path(path)} already exists; use --force to replace it") from None
        os.replace(tmp, path)


def sync_folder(folder: str | os.PathLike[str]) -> None:
    """Make the renames in ``folder`` durable (``replace_file(..., sync_folder=False)``; POSIX, else a no-op)."""
    _fsync_folder(Path(folder))


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX; a no-op where folders cannot be opened)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
