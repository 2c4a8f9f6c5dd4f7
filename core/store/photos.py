"""Photo rows: what scans write (new, changed, moved and deleted files), look-ups by path and id, the
tagger's work list, the status counters, and photos read back as ``PhotoSummary`` / ``PhotoDetails``.

A row is one photo, and its id is the photo's identity: labels, corrections, predictions and the embedding hang on
it. The file at a path stays the same photo when its bytes change; a file that vanished at one path and appears with
the same bytes (``fingerprint``: size + SHA-256 of the first and last 64 KiB) at another is the same photo moved
(``write_file_changes``). Labels written by the model or by corrections are in ``core.store.results``.

Paths are stored in the lossless text form of ``core.photos.pathnames.path_to_text`` (a file name that is not
valid UTF-8 round-trips exactly); the functions here take and return paths as Python gives them. Text read from
a file (EXIF strings) is stored as valid UTF-8 (``valid_text``).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, delete, exists, insert, or_, select, update

from core.domain import NO_LANDMARK, PhotoDetails, PhotoStatus, PhotoSummary
from core.photos.pathnames import path_to_text, text_to_path
from core.photos.records import FileRecord
from core.store import location
from core.store.corrections import load_corrections
from core.store.models import embeddings, folders, landmarks, photos, predictions
from core.store.models import status_counts as status_counts_table
from core.store.timestamps import parse_time

__all__ = [
    "CHUNK_ROWS",
    "UNSEEN_MTIME_NS",
    "valid_text",
    "timeline_text",
    "FileChanges",
    "write_file_changes",
    "known_files",
    "photo_id_at",
    "photo_exists",
    "file_signature",
    "move_photo",
    "delete_photo",
    "delete_paths_under",
    "paths_under",
    "file_key",
    "file_keys",
    "correction_targets",
    "manual_labels",
    "sidecar_rows",
    "status_counts",
    "work_list",
    "retry_failed",
    "summary_columns",
    "summary_from_row",
    "photo_summaries",
    "photo_details",
]

#: Most values bound into one ``IN (...)`` list (SQLite allows 32 766 host parameters; smaller chunks
#: keep statements short).
CHUNK_ROWS = 500

#: ``mtime_ns`` stored for a photo whose file was missing when the tagger looked for it: it matches no file on
#: disk, so the next scan (or watcher event) that sees the file again reads it, and a failed photo whose bytes
#: come back unchanged is tagged again (``write_file_changes``).
UNSEEN_MTIME_NS = -1


def valid_text(value: Any) -> Any:
    """``value`` with lone surrogates replaced by U+FFFD when it is a ``str`` (SQLite text must be valid UTF-8;
    EXIF strings and error messages may carry undecodable bytes); other values unchanged."""
    if isinstance(value, str) and not value.isascii():
        return value.encode("utf-8", "replace").decode("utf-8") if _has_surrogates(value) else value
    return value


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def timeline_text(taken_at: str | None, mtime_ns: int) -> str | None:
    """``photos.timeline_at`` of a row: its EXIF date (``taken_at``, ISO text), else the file's modification time in
    local time (``"2024-03-14T10:00:00"``, the same text as the triggers of revision 0006 write); ``None`` for a
    file time before 1970 or unseen (``UNSEEN_MTIME_NS``)."""
    if taken_at:
        return taken_at
    if mtime_ns < 0:
        return None
    return datetime.fromtimestamp(mtime_ns // 1_000_000_000).isoformat(timespec="seconds")


# ------------------------------------------------------------------------------------- scanning
@dataclass
class FileChanges:
    """What ``write_file_changes`` did with one batch of files.

    Attributes:
        added, changed, moved, deleted, touched: files inserted, whose bytes changed at the same path (the same
            photo: its model result is done again, the person's corrections stay), moved (the bytes of a vanished
            photo at a new path), deleted, and touched (new size/mtime, same bytes).
        changed_ids: ids of the changed photos (their manual labels are to be restored: ``core.tagging.scan``).
        full_hashes: how many files were read whole because their fingerprint collided with another's.
    """

    added: int = 0
    changed: int = 0
    moved: int = 0
    deleted: int = 0
    touched: int = 0
    changed_ids: list[int] = field(default_factory=list)
    full_hashes: int = 0


def _exif_columns(info: Any) -> dict[str, Any]:
    """The ``photos`` EXIF columns of a ``core.photos.exif.ExifInfo`` (GPS columns only when it has GPS)."""
    has_gps = bool(getattr(info, "has_gps", False))
    taken = getattr(info, "datetime_original", None)
    return {
        "gps_latitude": info.latitude if has_gps else None,
        "gps_longitude": info.longitude if has_gps else None,
        "gps_altitude": getattr(info, "altitude", None) if has_gps else None,
        "taken_at": taken.isoformat() if taken is not None else None,
        "camera_make": valid_text(getattr(info, "camera_make", None)),
        "camera_model": valid_text(getattr(info, "camera_model", None)),
        "exif_error": valid_text(getattr(info, "error", None)),
    }


# Statements built once: they run per file, up to 100 000 times in a scan.
_BY_PATH = select(photos.c.id, photos.c.path, photos.c.content_hash, photos.c.fingerprint, photos.c.size).where(
    photos.c.path.in_(bindparam("b_paths", expanding=True))
)
_FINGERPRINT_TAKEN = select(photos.c.id).where(photos.c.fingerprint == bindparam("b_fp")).limit(1)
_TOUCH = (
    update(photos)
    .where(photos.c.id == bindparam("b_id"))
    .values(
        size=bindparam("b_size"),
        mtime_ns=bindparam("b_mtime_ns"),
        fingerprint=bindparam("b_fingerprint"),
        content_hash=bindparam("b_content_hash"),
    )
)
_RETRY_FAILED = (
    update(photos)
    .where(photos.c.id == bindparam("b_id"), photos.c.status == PhotoStatus.FAILED)
    .values(status=PhotoStatus.PENDING, failure_reason=None)
)
_DELETE_PREDICTIONS = delete(predictions).where(predictions.c.photo_id == bindparam("b_id"))
_DELETE_EMBEDDING = delete(embeddings).where(embeddings.c.photo_id == bindparam("b_id"))
_EXIF_NAMES = ("gps_latitude", "gps_longitude", "gps_altitude", "taken_at", "camera_make", "camera_model", "exif_error")
_RESET = (
    update(photos)
    .where(photos.c.id == bindparam("b_id"))
    .values(
        content_hash=bindparam("b_content_hash"),
        fingerprint=bindparam("b_fingerprint"),
        size=bindparam("b_size"),
        mtime_ns=bindparam("b_mtime_ns"),
        status=bindparam("b_status"),
        failure_reason=None,
        **{name: bindparam(f"b_{name}") for name in _EXIF_NAMES},
        label=None,
        label_source=None,
        confidence=None,
        model_version=None,
        latitude=bindparam("b_latitude"),
        longitude=bindparam("b_longitude"),
        location_source=bindparam("b_location_source"),
        inference_count=0,
        scanned_at=bindparam("b_now"),
        tagged_at=None,
        city=None,
        country=None,
        place_landmark=None,
        placed_at=None,
    )
)
_MOVE_FILE = (
    update(photos)
    .where(photos.c.id == bindparam("b_id"))
    .values(
        path=bindparam("b_path"),
        folder_id=bindparam("b_folder_id"),
        size=bindparam("b_size"),
        mtime_ns=bindparam("b_mtime_ns"),
        fingerprint=bindparam("b_fingerprint"),
        content_hash=bindparam("b_content_hash"),
    )
)
_INSERT = insert(photos)


def _rows_by_path(conn: Connection, paths: Sequence[str]) -> dict[str, Any]:
    """``{path: (id, path text, content_hash, fingerprint, size)}`` of the stored photos at ``paths``."""
    out: dict[str, Any] = {}
    texts = [path_to_text(p) for p in paths]
    for start in range(0, len(texts), CHUNK_ROWS):
        for r in conn.execute(_BY_PATH, {"b_paths": texts[start : start + CHUNK_ROWS]}):
            out[text_to_path(r.path)] = r
    return out


class _Vanished:
    """The photos of vanished paths, found again by their bytes: by fingerprint, and by size for rows scanned before
    revision 0007 (no fingerprint; their ``content_hash`` is the full hash)."""

    def __init__(self, rows: Iterable[Any]) -> None:
        self.by_fp: dict[str, list[Any]] = {}
        self.by_size: dict[int, list[Any]] = {}
        for r in rows:
            if r.fingerprint:
                self.by_fp.setdefault(r.fingerprint, []).append(r)
            else:
                self.by_size.setdefault(int(r.size), []).append(r)

    def take(self, rec: FileRecord, hashed: list[int]) -> Any | None:
        """The vanished photo ``rec`` is (removed from the candidates), or ``None``. The file is read whole
        (``rec.full_hash``; counted in ``hashed``) only when the fingerprint does not settle it: several vanished
        photos share it, or a pre-0007 photo of the same size may be the one."""
        same_fp = self.by_fp.get(rec.fingerprint, [])
        legacy = self.by_size.get(int(rec.size), [])
        if not same_fp and not legacy:
            return None
        if len(same_fp) == 1 and not legacy:
            return same_fp.pop(0)
        if not rec.content_hash:
            hashed.append(1)
        full = rec.full_hash()
        for group in (same_fp, legacy):
            for r in group:
                if full and r.content_hash == full:
                    group.remove(r)
                    return r
        for r in same_fp:  # the same fingerprint, and no full hash that says otherwise
            if not r.content_hash:
                same_fp.remove(r)
                return r
        return None

    def left(self) -> list[int]:
        """Ids of the vanished photos no file was found for."""
        return [r.id for group in (*self.by_fp.values(), *self.by_size.values()) for r in group]


def _same_bytes(row: Any, rec: FileRecord, hashed: list[int]) -> bool:
    """Whether the stored photo ``row`` at ``rec``'s path still has the same bytes: the same fingerprint; for a row
    scanned before revision 0007 (no fingerprint), the same size and full hash."""
    if row.fingerprint:
        return bool(row.fingerprint == rec.fingerprint)
    if int(row.size) != int(rec.size):
        return False
    if not rec.content_hash:
        hashed.append(1)
    return bool(rec.full_hash()) and rec.full_hash() == row.content_hash


def write_file_changes(
    conn: Connection,
    folder_id_for: Callable[[str], int | None],
    records: Sequence[FileRecord],
    deleted_paths: Sequence[str],
    now: str,
    *,
    delete_left: bool = True,
) -> FileChanges:
    """Write one batch of scanned files (in the caller's write transaction).

    A photo is its row; the rows are matched to files like this:

    * a record at a stored path is the same photo. With the same bytes (fingerprint) it only gets its new
      size/mtime (a failed photo becomes ``pending`` again: its file changed or came back, so it is retried); with
      other bytes (another app wrote a caption or a rating, a re-save) its EXIF is read again and the model's result
      is dropped (status ``gps`` or ``pending``, predictions and embedding deleted), while the person's corrections,
      keyed by the photo's id, stay (``FileChanges.changed_ids``);
    * a record at a new path with the bytes of a vanished photo (``deleted_paths``) is that photo moved: the row
      keeps its id, labels, corrections and predictions. The bytes are compared by fingerprint; the file is read
      whole only when several vanished photos share that fingerprint, or a row from before revision 0007 (full hash
      only) has the same size;
    * any other record is a new photo. A byte-identical copy of a photo still in the library is another photo; when
      another photo has its fingerprint, the file's full hash is stored with it, so the two are told apart later.

    The vanished paths no record matched are deleted (their corrections go with them), unless ``delete_left`` is
    False: a scan written in several batches passes its vanished paths with each and deletes what is left with the
    last, so a file moved anywhere in the library is found again whichever batch reads it.

    Args:
        conn: a write connection.
        folder_id_for: maps a file path to its library folder id (``None``: not in the library → ignored).
        records: new or changed files (``core.photos.records.read_file``).
        deleted_paths: paths that are gone.
        now: ``scanned_at`` of the new and reset rows (ISO-8601 UTC).
        delete_left: delete the vanished photos no record matched (see above).
    Returns:
        the counts, and the ids of the changed photos.
    """
    out = FileChanges()
    hashed: list[int] = []
    existing = _rows_by_path(conn, [rec.path for rec in records])
    gone = _Vanished(r for p, r in _rows_by_path(conn, deleted_paths).items() if p not in existing)
    in_batch = Counter(rec.fingerprint for rec in records)
    inserts: list[dict[str, Any]] = []
    for rec in records:
        fid = folder_id_for(rec.path)
        if fid is None:
            continue
        row = existing.get(rec.path)
        cols = _exif_columns(rec.exif)
        has_gps = cols["gps_latitude"] is not None and cols["gps_longitude"] is not None
        status = PhotoStatus.GPS if has_gps else PhotoStatus.PENDING
        lat, lon, src = location.photo_location(cols["gps_latitude"], cols["gps_longitude"], None, {})
        if row is not None:
            if _same_bytes(row, rec, hashed):  # touched, same bytes: keep everything
                conn.execute(
                    _TOUCH,
                    {
                        "b_size": rec.size,
                        "b_mtime_ns": rec.mtime_ns,
                        "b_fingerprint": rec.fingerprint,
                        "b_content_hash": rec.content_hash or row.content_hash,
                        "b_id": row.id,
                    },
                )
                conn.execute(_RETRY_FAILED, {"b_id": row.id})
                out.touched += 1
                continue
            # Other bytes at the same path: the same photo, read again; the model's result is done again.
            conn.execute(_DELETE_PREDICTIONS, {"b_id": row.id})
            conn.execute(_DELETE_EMBEDDING, {"b_id": row.id})
            conn.execute(
                _RESET,
                {
                    "b_content_hash": rec.content_hash,
                    "b_fingerprint": rec.fingerprint,
                    "b_size": rec.size,
                    "b_mtime_ns": rec.mtime_ns,
                    "b_status": status,
                    "b_latitude": lat,
                    "b_longitude": lon,
                    "b_location_source": src,
                    "b_now": now,
                    "b_id": row.id,
                    **{f"b_{k}": v for k, v in cols.items()},
                },
            )
            out.changed += 1
            out.changed_ids.append(int(row.id))
            continue
        moved_from = gone.take(rec, hashed)
        if moved_from is not None:
            conn.execute(
                _MOVE_FILE,
                {
                    "b_path": path_to_text(rec.path),
                    "b_folder_id": fid,
                    "b_size": rec.size,
                    "b_mtime_ns": rec.mtime_ns,
                    "b_fingerprint": rec.fingerprint,
                    "b_content_hash": rec.content_hash or moved_from.content_hash,
                    "b_id": moved_from.id,
                },
            )
            out.moved += 1
            continue
        if not rec.content_hash and (
            in_batch[rec.fingerprint] > 1 or conn.execute(_FINGERPRINT_TAKEN, {"b_fp": rec.fingerprint}).first()
        ):
            hashed.append(1)
            rec.full_hash()  # two files with one fingerprint: the full hash tells them apart
        inserts.append(
            {
                "folder_id": fid,
                "path": path_to_text(rec.path),
                "content_hash": rec.content_hash,
                "fingerprint": rec.fingerprint,
                "size": rec.size,
                "mtime_ns": rec.mtime_ns,
                "status": status,
                **cols,
                "latitude": lat,
                "longitude": lon,
                "location_source": src,
                "inference_count": 0,
                "scanned_at": now,
                "timeline_at": timeline_text(cols["taken_at"], rec.mtime_ns),
            }
        )
    if inserts:
        conn.execute(_INSERT, inserts)
        out.added += len(inserts)
    leftover = gone.left() if delete_left else []
    for start in range(0, len(leftover), CHUNK_ROWS):
        conn.execute(delete(photos).where(photos.c.id.in_(leftover[start : start + CHUNK_ROWS])))
    out.deleted += len(leftover)
    out.full_hashes = len(hashed)
    return out


def known_files(conn: Connection, fid: int) -> dict[str, tuple[int, int]]:
    """``{path: (size in bytes, mtime in ns)}`` of the photos stored under library folder ``fid``."""
    rows = conn.execute(select(photos.c.path, photos.c.size, photos.c.mtime_ns).where(photos.c.folder_id == fid))
    return {text_to_path(p): (s, m) for p, s, m in rows}


# ------------------------------------------------------------------------------------- look-ups
def photo_id_at(conn: Connection, path: str) -> int | None:
    """Id of the photo stored at ``path`` (the exact string; one probe of the unique path index)."""
    r = conn.execute(select(photos.c.id).where(photos.c.path == path_to_text(path))).first()
    return None if r is None else int(r.id)


def photo_exists(conn: Connection, photo_id: int) -> bool:
    """True when a photo with this id is in the library."""
    return conn.execute(select(photos.c.id).where(photos.c.id == int(photo_id))).first() is not None


def file_signature(conn: Connection, path: str) -> tuple[int, int] | None:
    """``(size in bytes, mtime in ns)`` stored for ``path``, or ``None`` when no photo is stored there."""
    r = conn.execute(select(photos.c.size, photos.c.mtime_ns).where(photos.c.path == path_to_text(path))).first()
    return None if r is None else (r.size, r.mtime_ns)


def file_key(content_hash: str | None, fingerprint: str | None) -> str:
    """The name of a photo's bytes for caches (the GUI's thumbnails): its full SHA-256 where known, else its
    fingerprint ``"<size>:<hex>"`` as ``"<hex>_<size>"`` (``:`` is not allowed in Windows file names; the hex first
    spreads the cache's two-character folders), else ``""``. Only the characters ``0-9 a-f _``: safe in a file
    name, and the bytes change it."""
    if content_hash:
        return content_hash
    if not fingerprint:
        return ""
    size, _, digest = fingerprint.partition(":")
    return f"{digest}_{size}"


def file_keys(conn: Connection) -> set[str]:
    """``file_key`` of every photo in the library (offline ones included): what the GUI's thumbnail cache keeps
    (``desktop.thumbnail_cache``)."""
    rows = conn.execute(select(photos.c.content_hash, photos.c.fingerprint).distinct())
    return {k for k in (file_key(h, f) for h, f in rows) if k}


def correction_targets(conn: Connection, photo_ids: Sequence[int]) -> list[Any]:
    """``(id, label)`` of the photos with these ids, by id (unknown ids are left out)."""
    ids = sorted({int(i) for i in photo_ids})
    stmt = select(photos.c.id, photos.c.label).where(photos.c.id.in_(bindparam("b_ids", expanding=True)))
    out: list[Any] = []
    for start in range(0, len(ids), CHUNK_ROWS):
        out += conn.execute(stmt, {"b_ids": ids[start : start + CHUNK_ROWS]}).all()
    return out


def sidecar_rows(conn: Connection, photo_ids: Sequence[int] | None = None) -> list[Any]:
    """What an XMP sidecar export needs of each photo (all photos, or those of ``photo_ids``), by id:
    ``(id, path, status, label, label_source, confidence, model_version, location_source, latitude,
    longitude, name, country)`` — ``name``/``country`` of the label's landmark (``None`` without one)."""
    stmt = (
        select(
            photos.c.id,
            photos.c.path,
            photos.c.status,
            photos.c.label,
            photos.c.label_source,
            photos.c.confidence,
            photos.c.model_version,
            photos.c.location_source,
            photos.c.latitude,
            photos.c.longitude,
            landmarks.c.name,
            landmarks.c.country,
        )
        .select_from(photos.outerjoin(landmarks, landmarks.c.key == photos.c.label))
        .order_by(photos.c.id)
    )
    if photo_ids is None:
        return list(conn.execute(stmt))
    ids = sorted({int(i) for i in photo_ids})
    out: list[Any] = []
    for start in range(0, len(ids), CHUNK_ROWS):
        out += conn.execute(stmt.where(photos.c.id.in_(ids[start : start + CHUNK_ROWS]))).all()
    return sorted(out, key=lambda r: r.id)


def manual_labels(conn: Connection) -> list[tuple[str, str]]:
    """``(path, landmark key)`` of every photo with a manual landmark label, by path (GPS and model labels are not
    the person's and are left out)."""
    stmt = (
        select(photos.c.path, photos.c.label)
        .where(photos.c.label_source == "manual", photos.c.label.is_not(None))
        .order_by(photos.c.path)
    )
    return [(text_to_path(p), lab) for p, lab in conn.execute(stmt)]


def retry_failed(conn: Connection, photo_ids: Sequence[int] | None = None) -> int:
    """Make failed photos ``pending`` again (all of them, or those of ``photo_ids``), so the tagger retries them.

    Returns:
        the number of photos made pending.
    """
    stmt = update(photos).where(photos.c.status == PhotoStatus.FAILED)
    values = {"status": PhotoStatus.PENDING, "failure_reason": None}
    if photo_ids is None:
        return int(conn.execute(stmt.values(**values)).rowcount)
    ids = sorted({int(i) for i in photo_ids})
    n = 0
    for start in range(0, len(ids), CHUNK_ROWS):
        chunk = ids[start : start + CHUNK_ROWS]
        n += int(conn.execute(stmt.where(photos.c.id.in_(chunk)).values(**values)).rowcount)
    return n


# ----------------------------------------------------------------------------- moves and deletes
def move_photo(conn: Connection, photo_id: int, path: str, fid: int) -> None:
    """Give a photo row a new path and folder; a row already stored at ``path`` is deleted first."""
    text = path_to_text(path)
    conn.execute(delete(photos).where(photos.c.path == text, photos.c.id != photo_id))
    conn.execute(update(photos).where(photos.c.id == photo_id).values(path=text, folder_id=fid))


def delete_photo(conn: Connection, photo_id: int) -> None:
    """Delete one photo row (its predictions and embedding go with it)."""
    conn.execute(delete(photos).where(photos.c.id == photo_id))


def _at_or_under(path: str) -> Any:
    """SQL condition: the photo is stored at ``path`` or below it (``path`` as a folder)."""
    text = path_to_text(path)
    lo = text.rstrip(os.sep) + os.sep
    hi = lo[:-1] + chr(ord(os.sep) + 1)  # every path below lo sorts in [lo, hi)
    return or_(photos.c.path == text, (photos.c.path >= lo) & (photos.c.path < hi))


def delete_paths_under(conn: Connection, path: str) -> None:
    """Delete the photo stored at ``path`` and every photo below it (``path`` as a folder); their corrections go
    with them."""
    conn.execute(delete(photos).where(_at_or_under(path)))


def paths_under(conn: Connection, path: str) -> list[str]:
    """The paths of the photos stored at ``path`` and below it (``path`` as a folder), sorted."""
    stmt = select(photos.c.path).where(_at_or_under(path)).order_by(photos.c.path)
    return [text_to_path(p) for (p,) in conn.execute(stmt)]


# ---------------------------------------------------------------------------------- the tagger
def status_counts(conn: Connection) -> dict[str, int]:
    """``{status: photos}`` over the whole library (every status present, 0 when none); read from the
    ``status_counts`` table that triggers keep exact (revision 0003)."""
    counts = {s: 0 for s in PhotoStatus.ALL}
    for st, n in conn.execute(select(status_counts_table.c.status, status_counts_table.c.n)):
        counts[st] = n
    return counts


def work_list(
    conn: Connection, model_version: str, skip_folders: Sequence[int] = ()
) -> list[tuple[int, str, str | None]]:
    """``(id, path, fingerprint)`` of the photos the model must (re)run on, by id (the fingerprint guards the result:
    ``core.store.results.tag_target``).

    Pending photos, and tagged / no-landmark photos whose results came from another model version.
    GPS and failed photos are never in it, nor photos of the folders ``skip_folders`` (offline: their files
    cannot be read now; they are tagged when the folder is back).
    """
    stale = photos.c.status.in_([PhotoStatus.TAGGED, PhotoStatus.NO_LANDMARK]) & (
        photos.c.model_version.is_(None) | (photos.c.model_version != model_version)
    )
    stmt = (
        select(photos.c.id, photos.c.path, photos.c.fingerprint)
        .where((photos.c.status == PhotoStatus.PENDING) | stale)
        .order_by(photos.c.id)
    )
    if skip_folders:
        stmt = stmt.where(photos.c.folder_id.not_in([int(f) for f in skip_folders]))
    return [(r.id, text_to_path(r.path), r.fingerprint) for r in conn.execute(stmt)]


# -------------------------------------------------------------------------------- photos as rows
def summary_columns() -> list[Any]:
    """The columns of a ``PhotoSummary`` (``photos`` joined to ``landmarks`` for ``label_name``)."""
    return [
        photos.c.id,
        photos.c.path,
        photos.c.status,
        photos.c.label,
        landmarks.c.name.label("label_name"),
        photos.c.confidence,
        photos.c.label_source,
        photos.c.taken_at,
        photos.c.latitude,
        photos.c.longitude,
        photos.c.location_source,
        photos.c.city,
        photos.c.country,
        photos.c.timeline_at,
        photos.c.content_hash,
        photos.c.fingerprint,
    ]


def summary_from_row(r: Any) -> PhotoSummary:
    """A ``PhotoSummary`` from a row holding the ``summary_columns`` (by name)."""
    return PhotoSummary(
        id=r.id,
        path=Path(text_to_path(r.path)),
        status=r.status,
        label=r.label,
        label_name=r.label_name or r.label,
        confidence=r.confidence,
        label_source=r.label_source,
        taken_at=parse_time(r.taken_at),
        latitude=r.latitude,
        longitude=r.longitude,
        location_source=r.location_source,
        city=r.city,
        country=r.country,
        timeline_at=parse_time(r.timeline_at),
        file_key=file_key(r.content_hash, r.fingerprint),
    )


def photo_summaries(conn: Connection, photo_ids: Sequence[int]) -> dict[int, PhotoSummary]:
    """``{id: PhotoSummary}`` of the photos with these ids (unknown ids are left out)."""
    out: dict[int, PhotoSummary] = {}
    joined = photos.outerjoin(landmarks, landmarks.c.key == photos.c.label)
    ids = [int(i) for i in photo_ids]
    for start in range(0, len(ids), CHUNK_ROWS):
        stmt = select(*summary_columns()).select_from(joined).where(photos.c.id.in_(ids[start : start + CHUNK_ROWS]))
        for r in conn.execute(stmt):
            out[r.id] = summary_from_row(r)
    return out


def photo_details(conn: Connection, photo_id: int) -> PhotoDetails | None:
    """Everything about one photo (``PhotoDetails``), or ``None`` when there is no photo with that id."""
    has_embedding = exists().where(embeddings.c.photo_id == photos.c.id)
    stmt = (
        select(
            *summary_columns(),
            photos.c.size,
            photos.c.mtime_ns,
            folders.c.path.label("folder"),
            photos.c.failure_reason,
            photos.c.gps_altitude,
            photos.c.camera_make,
            photos.c.camera_model,
            photos.c.model_version,
            has_embedding.label("has_emb"),
        )
        .select_from(
            photos.outerjoin(landmarks, landmarks.c.key == photos.c.label).join(
                folders, folders.c.id == photos.c.folder_id
            )
        )
        .where(photos.c.id == int(photo_id))
    )
    r = conn.execute(stmt).first()
    if r is None:
        return None
    names = {k: n for k, n in conn.execute(select(landmarks.c.key, landmarks.c.name))}
    top = tuple(
        (k, names.get(k, "No landmark" if k == NO_LANDMARK else k), float(c))
        for k, c in conn.execute(
            select(predictions.c.label, predictions.c.confidence)
            .where(predictions.c.photo_id == r.id)
            .order_by(predictions.c.rank)
        )
    )
    state = load_corrections(conn, [r.id]).get(r.id)
    s = summary_from_row(r)
    return PhotoDetails(
        **s.__dict__,
        content_hash=r.content_hash,
        fingerprint=r.fingerprint,
        size=r.size,
        mtime_ns=r.mtime_ns,
        folder=Path(text_to_path(r.folder)),
        failure_reason=r.failure_reason,
        altitude=r.gps_altitude,
        camera_make=r.camera_make,
        camera_model=r.camera_model,
        top_k=top,
        model_version=r.model_version,
        rejected=tuple(sorted(state.rejected)) if state else (),
        has_embedding=bool(r.has_emb),
    )
