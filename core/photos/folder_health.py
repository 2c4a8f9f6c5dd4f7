"""Is a library folder there? ``folder_state`` tells available / missing / unreadable, with a readable reason.

A folder on an unplugged drive, an unmounted share or a renamed path is *missing*; one that exists but cannot be
listed (permissions, I/O error, a stale network mount) is *unreadable*. Either way its photos are offline: they
stay in the library (never deleted) and come back when the folder does. A folder that lists without a single
entry is reported ``available``: whether an empty folder is an unmounted mount point is decided by the scanner,
which knows whether the library expects photos there (``core.photos.scanner.diff_folder``).
"""

from __future__ import annotations

import errno
import os
import stat as stat_mod

from core.domain import FolderState

__all__ = ["folder_state"]

#: errno values meaning "the place is gone" rather than "the place refuses": ENOENT, ENOTDIR, ENODEV, ENXIO,
#: ENOTCONN (a FUSE mount whose daemon died), ESTALE (an NFS handle whose export went away).
_GONE = {errno.ENOENT, errno.ENOTDIR, errno.ENODEV, errno.ENXIO, errno.ENOTCONN, getattr(errno, "ESTALE", -1)}


def folder_state(path: str | os.PathLike[str]) -> tuple[str, str | None]:
    """``(state, reason)`` of a folder: ``FolderState.AVAILABLE`` with ``None``, or ``MISSING`` / ``UNREADABLE``
    with one readable line. Never raises; costs one ``stat`` and one directory read."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno in _GONE:
            return FolderState.MISSING, "not found (is its drive connected?)"
        return FolderState.UNREADABLE, f"cannot be read ({exc.strerror or exc})"
    if not stat_mod.S_ISDIR(st.st_mode):
        return FolderState.MISSING, "is no longer a folder"
    try:
        with os.scandir(path) as it:
            next(it, None)
    except OSError as exc:
        if exc.errno in _GONE:
            return FolderState.MISSING, "not found (is its drive connected?)"
        return FolderState.UNREADABLE, f"cannot be read ({exc.strerror or exc})"
    return FolderState.AVAILABLE, None
