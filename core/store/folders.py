"""The ``folders`` table: the library folders, and which folder a photo path belongs to.

Paths are stored in the lossless text form of ``core.photos.pathnames.path_to_text`` (a folder whose name is
not valid UTF-8 round-trips exactly); every function here takes and returns paths as Python gives them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.dialects.sqlite import insert

from core.photos.pathnames import path_to_text, text_to_path
from core.store.models import folders, photos

__all__ = ["add_folder", "folder_id", "remove_folder", "list_folders", "folder_resolver", "photos_per_folder"]


def add_folder(conn: Connection, path: str, now: str) -> None:
    """Add a folder (an absolute path); nothing happens when it is already in the library.

    Args:
        conn: a write connection. path: ``str`` of the absolute folder path. now: ``added_at`` (ISO-8601 UTC).
    """
    conn.execute(
        insert(folders).values(path=path_to_text(path), added_at=now).on_conflict_do_nothing(index_elements=["path"])
    )


def folder_id(conn: Connection, path: str) -> int | None:
    """Id of the library folder ``path`` (exact string), or ``None`` when it is not one."""
    return conn.execute(select(folders.c.id).where(folders.c.path == path_to_text(path))).scalar()


def remove_folder(conn: Connection, fid: int) -> None:
    """Delete a folder and its photos (their predictions, embeddings and corrections go by ``ON DELETE
    CASCADE``)."""
    conn.execute(delete(photos).where(photos.c.folder_id == fid))
    conn.execute(delete(folders).where(folders.c.id == fid))


def list_folders(conn: Connection) -> list[tuple[int, str]]:
    """``(id, path)`` of every library folder, by path."""
    rows = conn.execute(select(folders.c.id, folders.c.path).order_by(folders.c.path))
    return [(r.id, text_to_path(r.path)) for r in rows]


def folder_resolver(folder_rows: Sequence[tuple[int, str]]) -> Callable[[str], int | None]:
    """A function mapping a file path to the id of the deepest library folder holding it (``None``: none).

    Args:
        folder_rows: ``(id, absolute path)`` of the library folders (``list_folders``).
    """
    ordered = sorted(folder_rows, key=lambda f: len(f[1]), reverse=True)  # deepest folder first

    def folder_id_for(path: str) -> int | None:
        for fid, root in ordered:
            if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
                return fid
        return None

    return folder_id_for


def photos_per_folder(conn: Connection) -> dict[int, int]:
    """``{folder id: photos}`` (one pass over the ``photos.folder_id`` index; folders without photos are absent)."""
    stmt = select(photos.c.folder_id, func.count()).group_by(photos.c.folder_id)
    return {int(fid): int(n) for fid, n in conn.execute(stmt)}
