"""Photo rows: what scans write (new, changed, moved and deleted files), look-ups by path and id, the
tagger's work list, the status counters, and photos read back as ``PhotoSummary`` / ``PhotoDetails``.

A row is one file path; its identity across moves is ``content_hash`` (hex SHA-256 of the bytes), so a
file that vanished at one path and appears with the same bytes at another keeps its row (labels,
predictions, embedding; corrections are keyed by the hash anyway). Labels written by the model or by
corrections are in ``core.store.results``.

Paths are stored in the lossless text form of ``core.photos.pathnames.path_to_text`` (a file name that is not
valid UTF-8 round-trips exactly); the functions here take and return paths as Python gives them. Text read from
a file (EXIF strings) is stored as valid UTF-8 (``valid_text``).
"""

from __future__ import annotations

import os
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
    "photo_ids_with_hashes",
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
        added, changed, moved, deleted, touched: files inserted, whose content changed, moved (same
            content at a new path), deleted, and touched (new size/mtime, same content).
        new_hashes: content hashes of the added and changed rows (their corrections must be applied).
    """

    added: int = 0
    changed: int = 0
    moved: int = 0
    deleted: int = 0
    touched: int = 0
    new_hashes: list[str] = field(default_factory=list)


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
_BY_PATH = select(photos.c.id, photos.c.path, photos.c.content_hash).where(
    photos.c.path.in_(bindparam("b_paths", expanding=True))
)
_TOUCH = (
    update(photos)
    .where(photos.c.id == bindparam("b_id"))
    .values(size=bindparam("b_size"), mtime_ns=bindparam("b_mtime_ns"))
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
    )
)
_INSERT = insert(photos)


def _rows_by_path(conn: Connection, paths: Sequence[str]) -> dict[str, Any]:
    """``{path: (id, path text, content_hash)}`` of the stored photos at ``paths``."""
    out: dict[str, Any] = {}
    texts = [path_to_text(p) for p in paths]
    for start in range(0, len(texts), CHUNK_ROWS):
        for r in conn.execute(_BY_PATH, {"b_paths": texts[start : start + CHUNK_ROWS]}):
            out[text_to_path(r.path)] = r
    return out


def write_file_changes(
    conn: Connection,
    folder_id_for: Callable[[str], int | None],
    records: Sequence[FileRecord],
    deleted_paths: Sequence[str],
    now: str,
) -> FileChanges:
    """Write one batch of scanned files (in the caller's write transaction).

    A record at a known path with the same content hash only gets its new size/mtime (and a failed photo
    becomes ``pending`` again: its file changed or came back, so it is retried); with another
    hash, the row is reset (new EXIF, status ``gps`` or ``pending``, labels, predictions and embedding
    dropped). A new path whose content hash equals that of a deleted path is a move (the row keeps its
    id, labels and predictions); other new paths are inserted. The deleted paths left over are deleted.

    Args:
        conn: a write connection.
        folder_id_for: maps a file path to its library folder id (``None``: not in the library → ignored).
        records: new or changed files (``core.photos.records.read_file``).
        deleted_paths: paths that are gone.
        now: ``scanned_at`` of the new and reset rows (ISO-8601 UTC).
    Returns:
        the counts, and the content hashes of added/changed rows.
    """
    out = FileChanges()
    gone: dict[str, list[int]] = {}
    for r in _rows_by_path(conn, deleted_paths).values():
        gone.setdefault(r.content_hash, []).append(r.id)
    existing = _rows_by_path(conn, [rec.path for rec in records])
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
            if row.content_hash == rec.content_hash:  # touched, same bytes: keep everything
                conn.execute(_TOUCH, {"b_size": rec.size, "b_mtime_ns": rec.mtime_ns, "b_id": row.id})
                conn.execute(_RETRY_FAILED, {"b_id": row.id})
                out.touched += 1
                continue
            # Content changed: a different photo now lives at this path.
            conn.execute(_DELETE_PREDICTIONS, {"b_id": row.id})
            conn.execute(_DELETE_EMBEDDING, {"b_id": row.id})
            conn.execute(
                _RESET,
                {
                    "b_content_hash": rec.content_hash,
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
            out.new_hashes.append(rec.content_hash)
            continue
        moved_from = gone.get(rec.content_hash)
        if moved_from:
            conn.execute(
                _MOVE_FILE,
                {
                    "b_path": path_to_text(rec.path),
                    "b_folder_id": fid,
                    "b_size": rec.size,
                    "b_mtime_ns": rec.mtime_ns,
                    "b_id": moved_from.pop(0),
                },
            )
            out.moved += 1
            continue
        inserts.append(
            {
                "folder_id": fid,
                "path": path_to_text(rec.path),
                "content_hash": rec.content_hash,
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
        out.new_hashes.append(rec.content_hash)
    if inserts:
        conn.execute(_INSERT, inserts)
        out.added += len(inserts)
    leftover = [pid for ids in gone.values() for pid in ids]
    for start in range(0, len(leftover), CHUNK_ROWS):
        conn.execute(delete(photos).where(photos.c.id.in_(leftover[start : start + CHUNK_ROWS])))
    out.deleted += len(leftover)
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


def photo_ids_with_hashes(conn: Connection, hashes: Iterable[str]) -> list[int]:
    """Ids of the photos with these content hashes (duplicates included), hash by hash in the given order."""
    stmt = select(photos.c.id).where(photos.c.content_hash == bindparam("b_hash"))
    return [r.id for h in dict.fromkeys(hashes) for r in conn.execute(stmt, {"b_hash": h})]


def content_hashes(conn: Connection) -> set[str]:
    """The content hashes of every photo in the library (offline ones included): what the GUI's thumbnail cache
    keeps (``desktop.thumbnail_cache``)."""
    return {h for (h,) in conn.execute(select(photos.c.content_hash).distinct()) if h}


def correction_targets(conn: Connection, photo_ids: Sequence[int]) -> list[Any]:
    """``(id, content_hash, label)`` of the photos with these ids, by id (unknown ids are left out)."""
    ids = sorted({int(i) for i in photo_ids})
    stmt = select(photos.c.id, photos.c.content_hash, photos.c.label).where(
        photos.c.id.in_(bindparam("b_ids", expanding=True))
    )
    out: list[Any] = []
    for start in range(0, len(ids), CHUNK_ROWS):
        out += conn.execute(stmt, {"b_ids": ids[start : start + CHUNK_ROWS]}).all()
    return out


def sidecar_rows(conn: Connection, photo_ids: Sequence[int] | None = None) -> list[Any]:
    """What an XMP sidecar export needs of each photo (all photos, or those of ``photo_ids``), by id:
    ``(id, path, content_hash, status, label, label_source, confidence, model_version, location_source, latitude,
    longitude, name, country)`` — ``name``/``country`` of the label's landmark (``None`` without one)."""
    stmt = (
        select(
            photos.c.id,
            photos.c.path,
            photos.c.content_hash,
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


def delete_paths_under(conn: Connection, path: str) -> None:
    """Delete the photo stored at ``path`` and every photo below it (``path`` as a folder)."""
    text = path_to_text(path)
    lo = text.rstrip(os.sep) + os.sep
    hi = lo[:-1] + chr(ord(os.sep) + 1)  # every path below lo sorts in [lo, hi)
    conn.execute(delete(photos).where(or_(photos.c.path == text, (photos.c.path >= lo) & (photos.c.path < hi))))


# ---------------------------------------------------------------------------------- the tagger
def status_counts(conn: Connection) -> dict[str, int]:
    """``{status: photos}`` over the whole library (every status present, 0 when none); read from the
    ``status_counts`` table that triggers keep exact (revision 0003)."""
    counts = {s: 0 for s in PhotoStatus.ALL}
    for st, n in conn.execute(select(status_counts_table.c.status, status_counts_table.c.n)):
        counts[st] = n
    return counts


def work_list(conn: Connection, model_version: str, skip_folders: Sequence[int] = ()) -> list[tuple[int, str, str]]:
    """``(id, path, content_hash)`` of the photos the model must (re)run on, by id.

    Pending photos, and tagged / no-landmark photos whose results came from another model version.
    GPS and failed photos are never in it, nor photos of the folders ``skip_folders`` (offline: their files
    cannot be read now; they are tagged when the folder is back).
    """
    stale = photos.c.status.in_([PhotoStatus.TAGGED, PhotoStatus.NO_LANDMARK]) & (
        photos.c.model_version.is_(None) | (photos.c.model_version != model_version)
    )
    stmt = (
        select(photos.c.id, photos.c.path, photos.c.content_hash)
        .where((photos.c.status == PhotoStatus.PENDING) | stale)
        .order_by(photos.c.id)
    )
    if skip_folders:
        stmt = stmt.where(photos.c.folder_id.not_in([int(f) for f in skip_folders]))
    return [(r.id, text_to_path(r.path), r.content_hash) for r in conn.execute(stmt)]


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
            photos.c.content_hash,
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
    state = load_corrections(conn, [r.content_hash]).get(r.content_hash)
    s = summary_from_row(r)
    return PhotoDetails(
        **s.__dict__,
        content_hash=r.content_hash,
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
