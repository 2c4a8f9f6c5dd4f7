"""Walking photo folders: which files are photos, what names their bytes (fingerprint, SHA-256), (size, mtime) changes.

* ``iter_photo_files(root)`` walks ``root`` recursively with ``os.scandir`` in sorted order, yields files
  whose extension is in ``SUPPORTED_EXTENSIONS`` (any letter case), skips hidden files and folders (name
  starting with ``.``; on Windows also the ``FILE_ATTRIBUTE_HIDDEN`` attribute, which ``scandir`` gives
  for free), follows symlinked folders and files that stay inside the walked folder but not links that lead
  out of it (unless ``follow_links``), never enters an excluded folder (the app's own data and cache: it
  would index its own thumbnails), enters each real folder (device, inode) at most once, so symlink loops
  end, and never raises for a file or folder that vanishes or cannot be read mid-walk.
* ``file_fingerprint(path)`` names a file's bytes without reading them all: the size and a SHA-256 of the first and
  last 64 KiB (digiKam's *uniqueHash* idea). Scans compare it to tell a moved file (same fingerprint at a new path)
  from a new one, and whether the bytes at a path changed. It is not the photo's identity: a photo is its row in
  the library (``core.store.photos``), which keeps its labels when its bytes change at the same path or it moves.
* ``content_hash(path)`` (SHA-256 of all the bytes) is read only where fingerprints collide: two files with the same
  size, head and tail are told apart by it.
* ``diff_folder(root, known)`` compares a walk with what the library knows (path -> (size, mtime_ns)).
  Safety rule: a known photo is reported deleted only when its folder was listed successfully and the
  photo is not in it; a missing/unmounted root — or a root that is completely empty while the library knows
  photos in it (an empty mount point) — raises instead of reporting everything deleted.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat as stat_mod
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "HASH_CHUNK_BYTES",
    "FileStat",
    "ScanDiff",
    "is_supported",
    "is_hidden_name",
    "is_within",
    "folder_keys",
    "iter_photo_files",
    "content_hash",
    "FINGERPRINT_EDGE_BYTES",
    "file_fingerprint",
    "stat_file",
    "diff_folder",
]

log = logging.getLogger(__name__)

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif"})
"""Photo file extensions, lower case with the dot; matching is case-insensitive (``IMG_1.JPG``)."""

HASH_CHUNK_BYTES = 1 << 20
"""``content_hash`` reads files in 1 MiB (1 048 576 bytes) chunks: memory stays flat for any file size."""

_WIN_HIDDEN = getattr(stat_mod, "FILE_ATTRIBUTE_HIDDEN", 2)

OnError = Callable[[Path, OSError], None]


@dataclass(frozen=True)
class FileStat:
    """Size and modification time of one file (``os.stat``, symlinks followed).

    Attributes:
        path: the file's path as walked (under the root given to the walk; not resolved).
        size: bytes.
        mtime_ns: modification time, integer nanoseconds since the Unix epoch (``st_mtime_ns``).
    """

    path: Path
    size: int
    mtime_ns: int


@dataclass
class ScanDiff:
    """Result of ``diff_folder``.

    Attributes:
        new: photos under root that ``known`` does not have.
        changed: known photos whose (size, mtime_ns) differ from ``known``.
        unchanged: known photos with the same (size, mtime_ns).
        deleted: known paths (``str``, as given in ``known``) under root that are no longer there, sorted.
        errors: ``(path, reason)`` for files/folders that could not be read; known photos under an
            unreadable folder are *not* reported deleted.
    """

    new: list[FileStat] = field(default_factory=list)
    changed: list[FileStat] = field(default_factory=list)
    unchanged: list[FileStat] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)


def is_supported(path: str | os.PathLike[str]) -> bool:
    """True when the file name's extension is in ``SUPPORTED_EXTENSIONS`` (case-insensitive)."""
    return os.path.splitext(os.fspath(path))[1].lower() in SUPPORTED_EXTENSIONS


def is_hidden_name(name: str) -> bool:
    """True for dot-prefixed names (``.thumbnails``, ``._IMG_1.jpg`` from macOS, ``.DS_Store``)."""
    return name.startswith(".")


def _hidden_entry(entry: os.DirEntry) -> bool:
    if is_hidden_name(entry.name):
        return True
    if os.name == "nt":  # the attribute comes with the directory listing on Windows: no extra I/O
        try:
            return bool(getattr(entry.stat(follow_symlinks=False), "st_file_attributes", 0) & _WIN_HIDDEN)
        except OSError:
            return False
    return False


def is_within(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """True when ``path`` is ``folder`` or below it (string comparison of absolute paths, no I/O)."""
    p, f = os.fspath(path), os.fspath(folder).rstrip(os.sep)
    return p == f or p.startswith(f + os.sep)


def folder_keys(folders: Collection[str | os.PathLike[str]]) -> frozenset[tuple[int, int]]:
    """``(st_dev, st_ino)`` of the existing folders among ``folders`` (to exclude them from a walk)."""
    keys = set()
    for f in folders:
        try:
            st = os.stat(f)
        except OSError:
            continue
        keys.add((st.st_dev, st.st_ino))
    return frozenset(keys)


def _link_leaves(entry_path: str, real_within: str) -> bool:
    """True when the symlink at ``entry_path`` resolves to a place outside ``real_within`` (a real path)."""
    return not is_within(os.path.realpath(entry_path), real_within)


def iter_photo_files(
    root: str | os.PathLike[str],
    *,
    on_error: OnError | None = None,
    exclude: Collection[str | os.PathLike[str]] = (),
    follow_links: bool = False,
    within: str | os.PathLike[str] | None = None,
) -> Iterator[Path]:
    """Yield every supported, non-hidden photo file under ``root``, recursively, in a stable order.

    Order: depth-first; in each folder its photos by name (code-point order), then its sub-folders by name.

    Args:
        root: folder to walk. Yielded paths are ``Path(os.path.abspath(root)) / relative path``
            (absolute, symlinks in the path kept, not resolved).
        on_error: called with ``(path, OSError)`` for each folder that cannot be listed or entry that
            cannot be inspected (permission denied, vanished mid-walk, I/O error); the walk goes on.
        exclude: folders never entered (compared by device and inode, so any path to them counts).
        follow_links: also follow symbolic links (to folders and files) whose target is outside ``within``.
        within: the folder links must stay inside (default ``root``; the watcher passes the watched folder
            when it walks a new sub-folder).

    Raises:
        FileNotFoundError / NotADirectoryError: ``root`` itself does not exist or is not a folder.
    """
    top = Path(os.path.abspath(os.fspath(root)))
    st = os.stat(top)  # raises FileNotFoundError for a missing root
    if not stat_mod.S_ISDIR(st.st_mode):
        raise NotADirectoryError(f"not a folder: {top}")
    excluded = folder_keys(exclude)
    if (st.st_dev, st.st_ino) in excluded:
        return
    real_within = os.path.realpath(os.fspath(within) if within is not None else top)
    seen: set[tuple[int, int]] = {(st.st_dev, st.st_ino)}
    stack: list[Path] = [top]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            _report(on_error, folder, exc)
            continue
        subdirs: list[Path] = []
        for entry in entries:
            if _hidden_entry(entry):
                continue
            try:
                link = entry.is_symlink()
                if link and not follow_links and _link_leaves(entry.path, real_within):
                    continue  # a link out of the watched folder
                if entry.is_dir(follow_symlinks=True):
                    if link or os.name == "nt":
                        dst = os.stat(entry.path)  # real folder behind the link
                    else:
                        dst = entry.stat(follow_symlinks=False)
                    key = (dst.st_dev, dst.st_ino)
                    if key in seen or key in excluded:
                        continue  # already walked (symlink loop, a second link to it) or the app's own folder
                    seen.add(key)
                    subdirs.append(Path(entry.path))
                elif is_supported(entry.name) and entry.is_file(follow_symlinks=True):
                    yield Path(entry.path)
            except OSError as exc:  # vanished or unreadable between listing and inspection
                _report(on_error, Path(entry.path), exc)
        stack.extend(reversed(subdirs))  # depth-first, folders in name order


def _report(on_error: OnError | None, path: Path, exc: OSError) -> None:
    log.debug("scan: skipping %s: %s", path, exc)
    if on_error is not None:
        on_error(path, exc)


def content_hash(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 (FIPS 180-4, ``hashlib.sha256``) of the file's bytes, read in 1 MiB chunks.

    The same bytes under another name or folder give the same hash. Scans read it only when two files'
    ``file_fingerprint`` collide (reading 3-5 MB costs ~2.5 ms a photo, the fingerprint ~0.1 ms).

    Returns:
        64 lower-case hex characters.

    Raises:
        FileNotFoundError: the file vanished; PermissionError / OSError: it cannot be read.
    """
    h = hashlib.sha256()
    buf = bytearray(HASH_CHUNK_BYTES)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    return h.hexdigest()


FINGERPRINT_EDGE_BYTES = 64 * 1024
"""``file_fingerprint`` hashes the first and the last 64 KiB (65 536 bytes) of a file."""


def file_fingerprint(path: str | os.PathLike[str]) -> tuple[str, str]:
    """The fingerprint of a file's bytes: ``"<size>:<hex SHA-256>"``, the SHA-256 (FIPS 180-4) of its first and last
    ``FINGERPRINT_EDGE_BYTES`` (of all of it when it is at most twice that long), read in two reads.

    The size and both ends change with nearly every edit of a photo (EXIF and XMP live in the header, an appended
    byte or a trailer changes the tail, a re-encoded picture changes the size); two files with the same fingerprint
    but other bytes in the middle are told apart by ``content_hash`` (digiKam's *uniqueHash*: size plus the hash of
    the ends, https://invent.kde.org/graphics/digikam, ``DImgLoader::uniqueHashV2``).

    Returns:
        ``(fingerprint, full)``: ``full`` is the hex SHA-256 of all the bytes (equal to ``content_hash(path)``) when
        the file is at most ``2 * FINGERPRINT_EDGE_BYTES`` long, else ``""``.

    Raises:
        FileNotFoundError: the file vanished; PermissionError / OSError: it cannot be read.
    """
    edge = FINGERPRINT_EDGE_BYTES
    with open(path, "rb", buffering=0) as fh:
        data = fh.read(2 * edge + 1)
        if len(data) <= 2 * edge:  # the whole file
            digest = hashlib.sha256(data).hexdigest()
            return f"{len(data)}:{digest}", digest
        size = os.fstat(fh.fileno()).st_size
        h = hashlib.sha256(data[:edge])
        fh.seek(max(size - edge, edge))
        h.update(fh.read(edge))
    return f"{size}:{h.hexdigest()}", ""


def stat_file(path: str | os.PathLike[str]) -> FileStat:
    """``FileStat`` (size in bytes, mtime in ns) of ``path``, following symlinks.

    Raises:
        FileNotFoundError: the file vanished; OSError: it cannot be inspected.
    """
    st = os.stat(path)
    return FileStat(path=Path(path), size=st.st_size, mtime_ns=st.st_mtime_ns)


def diff_folder(
    root: str | os.PathLike[str],
    known: Mapping[str, tuple[int, int]],
    *,
    exclude: Collection[str | os.PathLike[str]] = (),
    follow_links: bool = False,
) -> ScanDiff:
    """Compare the photos under ``root`` with ``known`` by (size, mtime_ns).

    Args:
        root: folder to walk (see ``iter_photo_files``; paths are absolute, so ``known`` keys should be
            ``str`` of absolute paths as produced by a previous walk).
        known: path -> (size in bytes, mtime_ns) the library has recorded; entries outside ``root`` are
            ignored.
        exclude, follow_links: see ``iter_photo_files`` (photos no longer walked — in an excluded folder or
            behind a link out of ``root`` — are reported deleted).

    Returns:
        ``ScanDiff``. A file that vanishes between listing and ``stat`` is simply absent (so it is
        ``deleted`` if known); unreadable folders/files go to ``errors`` and their known photos are kept
        out of ``deleted``.

    Raises:
        FileNotFoundError / NotADirectoryError: ``root`` is missing (e.g. an unplugged drive) — never
        reported as "everything deleted". FileNotFoundError (errno ENOENT, "the folder is empty …") also when
        ``root`` holds no entry at all while ``known`` has photos under it: an empty mount point whose drive
        is not mounted looks exactly like that.
    """
    diff = ScanDiff()
    unreadable: list[Path] = []

    def on_error(path: Path, exc: OSError) -> None:
        if isinstance(exc, FileNotFoundError):
            return  # vanished mid-scan: it is simply not there any more
        unreadable.append(path)
        diff.errors.append((str(path), f"{type(exc).__name__}: {exc.strerror or exc}"))

    top = Path(os.path.abspath(os.fspath(root)))
    if known and _empty_folder(top) and any(_is_under(Path(k), top) for k in known):
        raise FileNotFoundError(errno.ENOENT, "the folder is empty (is its drive mounted?)", str(top))
    seen: set[str] = set()
    for path in iter_photo_files(top, on_error=on_error, exclude=exclude, follow_links=follow_links):
        try:
            fs = stat_file(path)
        except FileNotFoundError:
            continue  # deleted between listing and stat
        except OSError as exc:
            on_error(path, exc)
            continue
        key = str(path)
        seen.add(key)
        old = known.get(key)
        if old is None:
            diff.new.append(fs)
        elif (int(old[0]), int(old[1])) == (fs.size, fs.mtime_ns):
            diff.unchanged.append(fs)
        else:
            diff.changed.append(fs)
    for key in known:
        if key in seen:
            continue
        p = Path(key)
        if not _is_under(p, top):
            continue
        if any(p == bad or _is_under(p, bad) for bad in unreadable):
            continue
        diff.deleted.append(key)
    diff.deleted.sort()
    return diff


def _empty_folder(folder: Path) -> bool:
    """True when ``folder`` is a folder that lists without a single entry (hidden ones included)."""
    try:
        with os.scandir(folder) as it:
            return next(it, None) is None
    except OSError:
        return False


def _is_under(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return path != folder
