"""Value types of the ``Library`` facade: what the CLI and the GUI receive and pass back.

All are frozen dataclasses (safe to hand across threads). ``core.library`` re-exports them, so
callers import everything from there::

    from core.library import Library, LibraryError, Album, AlbumRef, SearchQuery, Progress
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

__all__ = [
    "LibraryError",
    "ModelError",
    "DatabaseError",
    "DatabaseLockedError",
    "DatabaseReadOnlyError",
    "NotALibraryError",
    "NewerSchemaError",
    "DatabaseUnavailableError",
    "DatabaseDamagedError",
    "FolderError",
    "NotFoundError",
    "InvalidRequestError",
    "LibraryClosedError",
    "TaggingError",
    "TaggingBusyError",
    "ExportError",
    "NO_LANDMARK",
    "PhotoStatus",
    "LabelSource",
    "LocationSource",
    "AlbumKind",
    "AlbumRef",
    "Album",
    "SearchQuery",
    "PhotoOrder",
    "PhotoSummary",
    "PhotoDetails",
    "Change",
    "ChangeKind",
    "Proposal",
    "ProposalState",
    "AcceptReport",
    "Progress",
    "LOADING_MODEL_MESSAGE",
    "CorrectionState",
    "FolderState",
    "FolderInfo",
    "BackupInfo",
    "CheckResult",
    "RebuildReport",
    "SidecarConvention",
    "SidecarOptions",
    "SidecarOutcome",
    "SidecarResult",
    "SidecarReport",
    "ImportReport",
    "display_text",
]


class LibraryError(Exception):
    """A problem the user must act on; ``str(err)`` is one readable line.

    Front ends handle the subclasses by class (never by the message text):

    * ``ModelError`` — the model bundle is missing, bad, or cannot be loaded on the device;
    * ``DatabaseError`` — the library database cannot be used: ``DatabaseLockedError``,
      ``DatabaseReadOnlyError``, ``NotALibraryError``, ``NewerSchemaError``,
      ``DatabaseUnavailableError``, ``DatabaseDamagedError`` (offer *Restore from backup* / *Rebuild from photos*);
    * ``FolderError`` — a library folder is missing, not a folder, or cannot be watched;
    * ``NotFoundError`` — an unknown photo id, landmark or change;
    * ``InvalidRequestError`` — a request that cannot be carried out as asked (bad filter value,
      no photos selected, conflicting options);
    * ``LibraryClosedError``, ``TaggingError`` (``TaggingBusyError``: another process is tagging), ``ExportError``.
    """


class ModelError(LibraryError):
    """The model bundle is missing or bad (``BundleError``), or cannot be loaded on the device."""


class DatabaseError(LibraryError):
    """The library database cannot be used (base of the database errors below)."""


class DatabaseLockedError(DatabaseError):
    """Another program holds the write lock longer than the busy timeout (SQLITE_BUSY / SQLITE_LOCKED)."""


class DatabaseReadOnlyError(DatabaseError):
    """The database file or its folder is read-only."""


class NotALibraryError(DatabaseError):
    """The file is not an SQLite database, not a Landmark Tagger library, or damaged."""


class NewerSchemaError(DatabaseError):
    """The database was written by a newer version of the app (unknown schema revision)."""


class DatabaseUnavailableError(DatabaseError):
    """The database cannot be opened, created or written (missing folder, permission, disk full, I/O)."""


class DatabaseDamagedError(DatabaseError):
    """The database file is damaged (``PRAGMA quick_check`` / ``integrity_check`` failed, or SQLite reported
    SQLITE_CORRUPT). The front end offers *Restore from backup* and *Rebuild from photos*.

    Attributes:
        db_path: the damaged database file (``None`` when unknown).
    """

    def __init__(self, message: str, db_path: Path | None = None) -> None:
        super().__init__(message)
        self.db_path = db_path


class FolderError(LibraryError):
    """A folder is missing, is not a folder, is not in the library, or cannot be watched."""


class NotFoundError(LibraryError):
    """An unknown photo id, landmark or change."""


class InvalidRequestError(LibraryError):
    """A request that cannot be carried out as asked (bad filter value, nothing selected, conflicting options)."""


class LibraryClosedError(LibraryError):
    """The library was closed."""


class TaggingError(LibraryError):
    """A tagging job ended with an unexpected error."""


class TaggingBusyError(TaggingError):
    """Another process is tagging this library (its tagging lock is held) and the job may not wait."""


class ExportError(LibraryError):
    """An export file cannot be written."""


#: Characters ``display_text`` replaces: lone surrogates (undecodable bytes of a file name, PEP 383), C0 and C1
#: control characters and DEL (terminal escape sequences start with ESC U+001B), and the Unicode bidirectional
#: overrides/isolates that can make text read in another order than it is stored (U+202A..U+202E, U+2066..U+2069).
_UNSAFE_CHARS = re.compile("[\ud800-\udfff\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def display_text(text: str) -> str:
    """``text`` made safe to print on a terminal or show in a window, on one line.

    Every lone surrogate (a byte of a file name that is not valid UTF-8), control character (ESC of a
    terminal escape sequence, newline, tab, …) and bidirectional override becomes U+FFFD, the replacement
    character. Everything else is kept. Not reversible: for display only.
    """
    if text.isascii() and text.isprintable():
        return text
    return _UNSAFE_CHARS.sub("\ufffd", text)


#: Label key used in user galleries, predictions and the database for "this photo shows no landmark".
NO_LANDMARK = "__no_landmark__"


class PhotoStatus:
    """Values of ``PhotoSummary.status``."""

    PENDING = "pending"  #: scanned, not tagged yet (or its result has not committed yet)
    GPS = "gps"  #: has EXIF GPS coordinates; never sent to the model
    TAGGED = "tagged"  #: effective label is a landmark
    NO_LANDMARK = "no_landmark"  #: model (or the user) says: no landmark
    FAILED = "failed"  #: could not be decoded / vanished; ``failure_reason`` says why
    ALL = (PENDING, GPS, TAGGED, NO_LANDMARK, FAILED)


class LabelSource:
    """Values of ``PhotoSummary.label_source``: a manual label always beats the model's and GPS's.

    ``GPS``: the photo's EXIF GPS position lies within a catalog landmark's ``coordinate_uncertainty_m``
    (``core.tagging.places``); shown as "Eiffel Tower · from GPS". A GPS label counts as confident (albums), but it
    is not the person's: teaching, proposals and ``export_corrections`` leave it out until the person confirms it.
    """

    MODEL = "model"
    MANUAL = "manual"
    GPS = "gps"
    ALL = (MODEL, MANUAL, GPS)


class LocationSource:
    """Values of ``PhotoSummary.location_source``."""

    GPS = "gps"  #: EXIF GPS coordinates of the photo
    LANDMARK = "landmark"  #: estimated: catalog coordinates of the photo's landmark


class AlbumKind:
    """Values of ``AlbumRef.kind``."""

    LANDMARK = "landmark"  #: one landmark (``AlbumRef.key``)
    UNRECOGNIZED = "unrecognized"  #: status no_landmark
    HAS_GPS = "has_gps"  #: status gps
    NEEDS_REVIEW = "needs_review"  #: model label with confidence below the review threshold
    FAILED = "failed"  #: status failed
    PENDING = "pending"  #: not tagged yet
    ALL = "all"  #: every photo


@dataclass(frozen=True)
class AlbumRef:
    """Names an album. ``AlbumRef("landmark", "Colosseum")``, ``AlbumRef("needs_review")``.

    Attributes:
        kind: one of ``AlbumKind``.
        key: the landmark key when ``kind == "landmark"``, else ``None``.
    """

    kind: str
    key: str | None = None


@dataclass(frozen=True)
class Album:
    """One entry of ``Library.albums()``.

    Attributes:
        ref: pass it to ``Library.photos(album=...)``.
        title: display name (landmark name, or "Unrecognized", "Has GPS", "Needs review", "Failed").
        count: number of photos in the album.
        cover_photo_id: id of the most confident photo (landmark albums) or the newest one; ``None``
            when empty.
        country: landmark's country (landmark albums), else ``None``.
        latitude, longitude: landmark's catalog coordinates, decimal degrees WGS84, or ``None``.
        user_created: the landmark was created by a correction (not known to the model).
        unsure: landmark albums: photos the model gave this landmark below the review threshold (they are in
            "Needs review", not counted in ``count``; ``Library.photos(..., include_unsure=True)`` adds them).
    """

    ref: AlbumRef
    title: str
    count: int
    cover_photo_id: int | None
    country: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    user_created: bool = False
    unsure: int = 0


@dataclass(frozen=True)
class SearchQuery:
    """Filters for ``Library.photos(query=...)``; every field is optional and they AND together.

    Attributes:
        text: landmark name, prefix and typo tolerant ("eif" and "Eifel" find the Eiffel Tower), or a place: a
            photo's city or country (from its GPS) or a landmark's country ("paris", "france").
        label_source: ``"model"``, ``"manual"`` or ``"gps"``.
        min_confidence, max_confidence: inclusive range of the label's confidence in [0, 1].
        location: ``"gps"`` (EXIF GPS), ``"estimated"`` (from the landmark), ``"any"`` (either) or
            ``"none"`` (no location).
        date_from, date_to: inclusive range of the photo's date (``PhotoSummary.timeline_at``: EXIF
            DateTimeOriginal, else the file's modification time; naive local time). A ``date_to`` at midnight
            includes that whole day.
        folder: only photos under this folder (a library folder or a sub-folder).
        status: one of ``PhotoStatus``.
        landmark: exact landmark key.
        city: a photo's city (from its GPS), case- and accent-insensitive ("Hue" finds "Huế").
        country: a photo's country (from its GPS), or the country of its landmark; case- and accent-insensitive.
        bbox: ``(south, west, north, east)``, decimal degrees WGS84, inclusive: only photos with a location (GPS
            or estimated) inside that box (``south <= latitude <= north``, ``west <= longitude <= east``; a box
            does not cross the antimeridian). The map's clusters open their photos with it.
    """

    text: str | None = None
    label_source: str | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    location: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    folder: str | Path | None = None
    status: str | None = None
    landmark: str | None = None
    city: str | None = None
    country: str | None = None
    bbox: tuple[float, float, float, float] | None = None


class PhotoOrder:
    """Values of ``Library.photos(order=...)``. *Needs review* is always least sure first, whatever the order."""

    FOUND = "found"  #: the order the photos were found in (database id)
    NEWEST = "newest"  #: the timeline: by ``PhotoSummary.timeline_at``, newest first (then the newest id)
    ALL = (FOUND, NEWEST)


@dataclass(frozen=True)
class PhotoSummary:
    """A photo as a list/grid row.

    Attributes:
        id: database id: the photo's identity, stable while the photo stays in the library, also when its bytes
            change (a caption written by another app, a re-save) or it moves.
        path: absolute file path.
        status: one of ``PhotoStatus``.
        label: effective landmark key (``None`` when no landmark).
        label_name: display name of ``label``.
        confidence: model's calibrated top-1 confidence in [0, 1] (1.0 for manual and GPS labels), or ``None``.
        label_source: ``"model"``, ``"manual"``, ``"gps"`` (placed from its EXIF GPS) or ``None`` (not tagged).
        taken_at: EXIF DateTimeOriginal, naive local time, or ``None``.
        latitude, longitude: decimal degrees WGS84 (GPS or estimated), or ``None``.
        location_source: ``"gps"``, ``"landmark"`` or ``None``.
        offline: its library folder is missing or unreadable now (the photo stays in the library; its file
            cannot be opened until the folder is back).
        city, country: the place of its EXIF GPS position (offline reverse geocoding, GeoNames), or ``None``.
        timeline_at: the photo's date on the timeline: ``taken_at`` (EXIF DateTimeOriginal), else the file's
            modification time in local time (naive); ``None`` only for a row the store did not date.
        file_key: a name of the file's bytes for caches (``core.store.photos.file_key``: the full SHA-256 where known,
            else the fingerprint as ``"<hex>_<size>"``; characters ``0-9 a-f _``), or ``""``: the GUI's thumbnails are
            stored under it, so a changed file gets a new thumbnail and a moved one keeps its own.
    """

    id: int
    path: Path
    status: str
    label: str | None
    label_name: str | None
    confidence: float | None
    label_source: str | None
    taken_at: datetime | None
    latitude: float | None
    longitude: float | None
    location_source: str | None
    offline: bool = False
    city: str | None = None
    country: str | None = None
    timeline_at: datetime | None = None
    file_key: str = ""

    @property
    def place(self) -> str | None:
        """``"Paris, France"`` (city and country of its GPS position, what is known of them), or ``None``."""
        parts = [p for p in (self.city, self.country) if p]
        return ", ".join(parts) if parts else None


@dataclass(frozen=True)
class PhotoDetails(PhotoSummary):
    """Everything about one photo (``Library.photo(id)``); extends ``PhotoSummary``.

    Attributes:
        content_hash: hex SHA-256 of all the file's bytes where known (files of at most 128 KiB, files whose
            fingerprint collided with another's, photos scanned before revision 0007), else ``""``.
        fingerprint: ``"<size>:<hex SHA-256 of the first and last 64 KiB>"`` of the file's bytes
            (``core.photos.scanner.file_fingerprint``), or ``None`` for a photo scanned before revision 0007 whose
            file has not changed since. Neither is the photo's identity: that is its ``id``, which keeps its labels
            and corrections when its bytes change or it moves.
        size: file size, bytes. mtime_ns: modification time, nanoseconds since the epoch.
        folder: the library folder the photo belongs to.
        failure_reason: why status is failed (readable), else ``None``.
        altitude: metres above sea level from EXIF GPS, or ``None``.
        camera_make, camera_model: EXIF Make/Model or ``None``.
        top_k: ``((key, display name, confidence), ...)`` of the model's last prediction, descending.
        model_version: version of the model that made ``top_k``, or ``None``.
        rejected: landmark keys the user rejected for this photo (never given back by re-tagging).
        has_embedding: an embedding is stored (similar-photo search and re-scoring work).
    """

    content_hash: str = ""
    fingerprint: str | None = None
    size: int = 0
    mtime_ns: int = 0
    folder: Path | None = None
    failure_reason: str | None = None
    altitude: float | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    top_k: tuple[tuple[str, str, float], ...] = ()
    model_version: str | None = None
    rejected: tuple[str, ...] = ()
    has_embedding: bool = False


class ChangeKind:
    """Values of ``Change.kind``."""

    SET_LANDMARK = "set_landmark"  #: the selected photos show an existing landmark
    NEW_LANDMARK = "new_landmark"  #: the selected photos show a landmark the change created
    NOT_LANDMARK = "not_landmark"  #: the selected photos show no landmark
    REJECT = "reject"  #: the selected photos do not show their (or a given) landmark: next candidate
    CONFIRM = "confirm"  #: the selected photos' current labels are right: they become the person's
    ACCEPT = "accept"  #: proposals accepted: their photos take the proposed labels
    IMPORT = "import"  #: labels read from XMP sidecars other apps wrote (``Library.import_sidecars``)


@dataclass(frozen=True)
class Change:
    """One correction: ``Library.relabel``, ``confirm``, ``reject``, ``accept_proposals`` or ``import_sidecars``; an
    entry of
    ``Library.history``, for ``undo``, ``redo``, ``revert`` and ``proposals``.

    A change changes exactly the photos it names (``photo_ids``; its corrections are keyed by the photos' ids, so a
    byte-identical copy elsewhere is not changed). Teaching from it only *proposes* labels for other photos.

    Attributes:
        id: database id of the change.
        kind: one of ``ChangeKind``.
        photo_ids: the photos the change labelled (the selection; for ``accept``: the accepted photos).
        landmark: the landmark key set, confirmed or rejected (``None`` for not_landmark, or when a confirm /
            accept / reject covered several landmarks).
        created_at: UTC time of the change (``None`` only when the stored time is unreadable).
        description: one line for the UI ("3 photos → Eiffel Tower").
        rescored: always 0: other photos are never re-labelled by a change any more (kept for old callers).
        undone: the change is undone (its corrections are out of force).
        redoable: undone and ``Library.redo`` may re-apply it (a later new change clears it).
        photo_count: ``len(photo_ids)``.
        proposals: number of open proposals the change made (teaching; 0 for reject / not_landmark / accept).
    """

    id: int
    kind: str
    photo_ids: tuple[int, ...]
    landmark: str | None
    created_at: datetime | None
    description: str
    rescored: int = 0
    undone: bool = False
    redoable: bool = False
    photo_count: int = 0
    proposals: int = 0


class ProposalState:
    """Values of a proposal's state."""

    OPEN = "open"  #: waiting for the person; changes nothing
    ACCEPTED = "accepted"  #: applied by ``Library.accept_proposals`` (one undoable change)
    DISMISSED = "dismissed"  #: the person said no (``Library.dismiss_proposals``); never proposed again


@dataclass(frozen=True)
class Proposal:
    """A label teaching proposes for a photo (``Library.proposals``); nothing changes until it is accepted.

    Attributes:
        id: database id (pass it to ``accept_proposals`` / ``dismiss_proposals``).
        photo: the photo as it is now (thumbnail from ``photo.path``).
        change_id: the change whose taught photos made it, or ``None`` ("find more like this", new photos).
        request: ``"teach"`` (after a correction), ``"more_like"`` ("find more like this") or ``"new_photo"``
            (a newly tagged photo matched a taught landmark).
        old_label, old_label_name: the photo's model label when proposed (``None`` = no landmark).
        old_confidence: the model's confidence for it, [0, 1].
        new_label, new_label_name: the proposed landmark key and display name.
        similarity: highest cosine similarity of the photo to the person's photos of ``new_label``, [-1, 1].
        state: one of ``ProposalState``.
    """

    id: int
    photo: PhotoSummary
    change_id: int | None
    request: str
    old_label: str | None
    old_label_name: str | None
    old_confidence: float | None
    new_label: str
    new_label_name: str
    similarity: float
    state: str = ProposalState.OPEN


@dataclass(frozen=True)
class AcceptReport:
    """What ``Library.accept_proposals`` did.

    Attributes:
        change: the one undoable change that applied them, or ``None`` when none could be applied.
        accepted: proposal ids applied.
        skipped_deleted: proposal ids whose photo left the library meanwhile (nothing done).
        skipped_other: proposal ids not applied for another reason: not open any more, unknown id, or the
            person labelled the photo meanwhile.
        message: one line for the UI ("2 photos → Eiffel Tower; 1 skipped: the photo was deleted").
    """

    change: Change | None
    accepted: tuple[int, ...]
    skipped_deleted: tuple[int, ...]
    skipped_other: tuple[int, ...]
    message: str


@dataclass(frozen=True)
class Progress:
    """One update of a tagging job's progress stream (``core.tagging.progress``).

    Attributes:
        state: ``"scanning"``, ``"tagging"``, ``"paused"``, ``"done"``, ``"cancelled"`` or ``"failed"``.
        done: photos finished in this state (files scanned while scanning, results committed while
            tagging). total: photos to do (0 when unknown yet).
        photos_per_second: recent throughput (moving window), photos/s.
        eta_seconds: estimated seconds left, ``None`` when unknown.
        message: one readable line (current folder, the watcher's polling fallback reason, the error …).
        counts: photos per status after the last commit (``{"tagged": 12, "gps": 3, ...}``).
    """

    state: str
    done: int
    total: int
    photos_per_second: float = 0.0
    eta_seconds: float | None = None
    message: str = ""
    counts: dict = field(default_factory=dict, compare=False)


#: ``Progress.message`` while a job loads the model (importing torch and building the network take seconds): the
#: job found photos to tag and the model was not loaded yet. Front ends show "Loading the model…".
LOADING_MODEL_MESSAGE = "loading the model"


@dataclass(frozen=True)
class CorrectionState:
    """The user's corrections in force for one photo (one photo id).

    Attributes:
        manual: the manual label: a landmark key, ``NO_LANDMARK`` ("not a landmark"), or ``None`` (none).
        rejected: landmark keys the user rejected for this photo (re-tagging never gives them back).
    """

    manual: str | None = None
    rejected: frozenset[str] = frozenset()


class FolderState:
    """Values of ``FolderInfo.state``: how a library folder is doing."""

    WATCHING = "watching"  #: present and watched for changes
    AVAILABLE = "available"  #: present and readable (not being watched: the CLI outside ``watch``)
    MISSING = "missing"  #: not there (unplugged drive, unmounted share, moved); its photos are offline
    UNREADABLE = "unreadable"  #: there but cannot be listed (permissions, I/O error); its photos are offline
    OFFLINE = (MISSING, UNREADABLE)


@dataclass(frozen=True)
class FolderInfo:
    """One library folder and its health (``Library.folder_states``).

    Attributes:
        path: the folder (absolute).
        state: one of ``FolderState``.
        photos: photos of the library under it.
        reason: why it is missing/unreadable (one readable line), else ``None``.
    """

    path: Path
    state: str
    photos: int = 0
    reason: str | None = None

    @property
    def offline(self) -> bool:
        """Its photos cannot be reached now (missing or unreadable); they stay in the library."""
        return self.state in FolderState.OFFLINE


@dataclass(frozen=True)
class BackupInfo:
    """One backup copy of the library database (``Library``-level ``list_backups``).

    Attributes:
        path: the backup file.
        created_at: when it was taken (UTC; from its name, else the file's modification time).
        kind: ``"daily"`` (rolling automatic copy), ``"migration"`` (taken before a schema upgrade) or
            ``"manual"``/``"before-restore"``/``"damaged"``.
        size: bytes.
        revision: the schema revision in it when known from its name, else ``None``.
    """

    path: Path
    created_at: datetime
    kind: str
    size: int
    revision: str | None = None


@dataclass(frozen=True)
class CheckResult:
    """The outcome of checking the library database (``check_database``).

    Attributes:
        ok: no damage found.
        full: ``PRAGMA integrity_check`` (``True``) or the faster ``quick_check`` (``False``).
        problems: SQLite's first messages about the damage (empty when ``ok``).
        seconds: how long the check took.
    """

    ok: bool
    full: bool
    problems: tuple[str, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True)
class RebuildReport:
    """What *Rebuild from photos* kept (``rebuild_library``).

    Attributes:
        source: the database the kept rows came from (a backup, or the damaged file), or ``None``.
        rows: ``{table: rows kept}`` (folders, landmarks, corrections, changes …).
        lost: tables that could not be read from ``source``.
        replaced: where the old database was moved (nothing is deleted), or ``None``.
    """

    source: Path | None = None
    rows: dict = field(default_factory=dict, compare=False)
    lost: tuple[str, ...] = ()
    replaced: Path | None = None


class SidecarConvention:
    """How XMP sidecars are named, per the app the person uses (``core.photos.xmp.sidecar_path``)."""

    DIGIKAM = "digikam"  #: ``photo.jpg.xmp``; keywords also in ``digiKam:TagsList``
    DARKTABLE = "darktable"  #: ``photo.jpg.xmp`` (darktable's own history in it is kept)
    LIGHTROOM = "lightroom"  #: ``photo.xmp``
    ALL = (DIGIKAM, DARKTABLE, LIGHTROOM)
    TITLES = {DIGIKAM: "digiKam", DARKTABLE: "darktable", LIGHTROOM: "Lightroom"}


@dataclass(frozen=True)
class SidecarOptions:
    """How labels are written to XMP sidecars (``Library.export_sidecars``, ``Library.set_sidecar_options``).

    Attributes:
        convention: a ``SidecarConvention`` value.
        estimated_gps: also write ``exif:GPSLatitude``/``GPSLongitude`` (the landmark's coordinates) for photos
            without EXIF GPS.
    """

    convention: str = SidecarConvention.DIGIKAM
    estimated_gps: bool = False


class SidecarOutcome:
    """Values of ``SidecarResult.outcome``."""

    CREATED = "created"  #: a new sidecar was written
    UPDATED = "updated"  #: an existing sidecar got the label merged in
    CLEANED = "cleaned"  #: the photo has no confident label any more: what we wrote before was removed
    UNCHANGED = "unchanged"  #: the sidecar already says this
    ERROR = "error"  #: not written (``reason`` says why); the sidecar, if any, is untouched


@dataclass(frozen=True)
class SidecarResult:
    """What an export did for one photo.

    Attributes:
        photo_id: the photo. photo: its file. sidecar: the sidecar file. outcome: a ``SidecarOutcome`` value
            (with ``dry_run``: what would be done). landmark: the landmark written (display name), or ``None``.
        reason: why it failed (one line), for ``error``.
    """

    photo_id: int
    photo: Path
    sidecar: Path
    outcome: str
    landmark: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class SidecarReport:
    """What ``Library.export_sidecars`` did (or would do, ``dry_run``).

    Attributes:
        options: the ``SidecarOptions`` used. dry_run: nothing was written.
        results: one ``SidecarResult`` per photo that has (or had) a label in its sidecar, by photo id.
        skipped: photos without a confident label and without any sidecar label of ours (nothing to do).
        seconds: how long it took.
    """

    options: SidecarOptions
    dry_run: bool
    results: tuple[SidecarResult, ...] = ()
    skipped: int = 0
    seconds: float = 0.0

    def outcomes(self, outcome: str) -> list[SidecarResult]:
        """The results with this ``SidecarOutcome``."""
        return [r for r in self.results if r.outcome == outcome]

    @property
    def errors(self) -> list[SidecarResult]:
        """The photos whose sidecar could not be written (their sidecars are untouched)."""
        return self.outcomes(SidecarOutcome.ERROR)

    @property
    def summary(self) -> str:
        """One line: ``"3 created, 1 updated, 0 cleaned, 2 unchanged, 1 error; 5 photos without a label"``."""
        counts = [f"{len(self.outcomes(o))} {o}" for o in ("created", "updated", "cleaned", "unchanged")]
        n_err = len(self.errors)
        counts.append(f"{n_err} error{'s' if n_err != 1 else ''}")
        prefix = "would be: " if self.dry_run else ""
        return f"{prefix}{', '.join(counts)}; {self.skipped} photo(s) without a label"


@dataclass(frozen=True)
class ImportReport:
    """What ``Library.import_sidecars`` did.

    Attributes:
        change: the one undoable change that set the labels (kind ``import``), or ``None`` when none was set (or
            ``dry_run``).
        imported: ``(photo id, landmark key)`` of the photos that took a label from their sidecar.
        unchanged: photos whose sidecar names the label they already have as the person's.
        conflicts: ``(photo id, reason)``: not imported (the sidecar names several landmarks, or the person gave the
            photo another label here).
        errors: ``(sidecar path, reason)`` of sidecars that could not be read (left untouched).
        dry_run: nothing was changed.
    """

    change: Change | None
    imported: tuple[tuple[int, str], ...] = ()
    unchanged: tuple[int, ...] = ()
    conflicts: tuple[tuple[int, str], ...] = ()
    errors: tuple[tuple[Path, str], ...] = ()
    dry_run: bool = False

    @property
    def message(self) -> str:
        """One line for the UI."""
        verb = "would take" if self.dry_run else "took"
        parts = [f"{len(self.imported)} photo(s) {verb} a label from their XMP sidecar"]
        if self.unchanged:
            parts.append(f"{len(self.unchanged)} already had it")
        if self.conflicts:
            parts.append(f"{len(self.conflicts)} skipped (several landmarks, or labelled otherwise here)")
        if self.errors:
            parts.append(f"{len(self.errors)} sidecar(s) unreadable")
        return "; ".join(parts)
