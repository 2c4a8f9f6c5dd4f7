"""Watch photo folders with watchdog and deliver settled, coalesced changes from one thread.

``FolderWatcher(folders, on_batch)`` schedules every folder recursively on a watchdog ``Observer``
(inotify, FSEvents, ReadDirectoryChangesW, kqueue) and turns the raw events into ``ChangeBatch`` calls:

* only photo files count (``scanner.SUPPORTED_EXTENSIONS``, any case); hidden paths (a ``.``-prefixed
  component below the watched folder) and folders-as-such are ignored;
* a created or modified photo is delivered in ``upserted`` only after its (size, mtime_ns) has stayed the
  same for ``settle_seconds`` (cameras, card readers and copy jobs write slowly); a photo that vanishes
  before it settles is not delivered at all;
* renames are delivered as ``(src, dst)`` pairs in ``moved``; a moved folder is expanded to one pair per
  photo in it; a move from an unsupported/hidden name (``x.jpg.part`` → ``x.jpg``) is a new photo, a
  move to one is a deletion;
* ``deleted`` holds deleted photos and also deleted (or moved-away) *folders*, whose contents cannot be
  listed any more: a consumer deletes each path **and everything below it**. The watched folder itself
  disappearing (unplugged drive, unmounted share) is never reported as a deletion;
* changes are coalesced: a batch is handed over once no new change joined it for
  ``batch_window_seconds`` (or it is 10 windows old, or holds 5 000 changes), so a burst of 1 000 photos
  arrives in a few calls. Apply a batch in the order moved → deleted → upserted (the batch is normalised
  for that order: e.g. a photo created and deleted inside one batch is only in ``deleted``);
* ``on_batch`` is called from ONE background thread ("landmark-watcher"), never concurrently; an
  exception in it is logged and the watcher goes on.

Polling fallback: when ``force_polling`` is set, when a folder is on a network file system (NFS, SMB/CIFS,
SSHFS…; inotify and friends do not see changes made by other machines), or when the event observer cannot
start (e.g. ``OSError`` ENOSPC "inotify watch limit reached", EMFILE "inotify instance limit reached"),
the folders are watched by watchdog's ``PollingObserver`` instead (a snapshot diff every
``poll_interval_seconds``), ``mode`` becomes ``"polling"`` and ``fallback_reason`` says why. The same
settling/coalescing applies.

Folder health: every folder has its own state (``core.domain.FolderState``: watching / missing / unreadable;
``states``). A folder that is missing or unreadable at ``start`` — or goes away later (an unplugged drive) — is
not watched but never stops the others; the watcher looks at every folder every ``health_interval_seconds`` and
starts watching one again by itself when it returns. ``on_folder_state(folder, state, reason)`` is called (from
the watcher thread) on every change of state, so the library can mark the folder's photos offline, and rescan the
folder when it is back (events that happened while it was away were lost).

Scope: paths inside ``exclude`` (the app's own data and cache folders) are ignored, and a new file or folder that
is a symbolic link leading out of its watched folder is not followed unless ``follow_links``.

Events can be lost (e.g. while the app was closed, or an inotify queue overflow), so the library should
still run ``scanner.diff_folder`` at start-up; the watcher only reports what happens while it runs.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import stat as stat_mod
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from core.domain import FolderState
from core.photos.folder_health import folder_state
from core.photos.scanner import is_hidden_name, is_supported, is_within, iter_photo_files

__all__ = ["ChangeBatch", "FolderWatcher", "network_filesystem"]

log = logging.getLogger(__name__)

MAX_BATCH_CHANGES = 5000
"""A batch is handed over as soon as it holds this many changes (bounds memory and latency)."""
MAX_BATCH_AGE_WINDOWS = 10
"""A batch is handed over at the latest this many ``batch_window_seconds`` after its first change."""
DELIVERED_MEMORY = 200_000
"""How many delivered (path -> size, mtime_ns) signatures are remembered to drop no-op repeats (~40 MB)."""
HEALTH_INTERVAL_SECONDS = 2.0
"""Default seconds between two looks at every folder's health (missing / back again)."""

#: ``on_folder_state(folder, state, reason)``: a folder's ``FolderState`` changed (reason: one line, or None).
FolderStateCallback = Callable[[Path, str, "str | None"], None]

_EVENT_FILTER = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
    DirDeletedEvent,
]
_NETWORK_FS = {
    "nfs",
    "nfs4",
    "cifs",
    "smb",
    "smb2",
    "smb3",
    "smbfs",
    "ncpfs",
    "afs",
    "coda",
    "9p",
    "davfs",
    "fuse.sshfs",
    "fuse.rclone",
    "fuse.gvfsd-fuse",
    "fuse.s3fs",
    "ceph",
    "glusterfs",
    "fuse.glusterfs",
    "lustre",
    "gpfs",
    "beegfs",
}
_STOP = object()


@dataclass
class ChangeBatch:
    """Settled changes under the watched folders, to apply in the order moved → deleted → upserted.

    Attributes:
        upserted: photos created or modified whose size and mtime were stable for ``settle_seconds``.
        deleted: photos deleted, or folders deleted/moved away (delete the path and everything below it).
        moved: ``(src, dst)`` per photo renamed/moved inside the watched folders (folder moves expanded);
            a ``src`` the consumer does not know is to be treated as a new photo at ``dst``.
    """

    upserted: list[Path] = field(default_factory=list)
    deleted: list[Path] = field(default_factory=list)
    moved: list[tuple[Path, Path]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.upserted) + len(self.deleted) + len(self.moved)


def network_filesystem(path: str | os.PathLike[str]) -> str | None:
    """The network file-system type holding ``path`` ("nfs4", "cifs", "remote drive"…), else None.

    Linux: the longest matching mount point in ``/proc/self/mounts``; Windows: ``GetDriveTypeW`` ==
    ``DRIVE_REMOTE`` (4). Other systems, or any error: None (unknown counts as local).
    """
    try:
        p = os.path.realpath(os.fspath(path))
        if sys.platform.startswith("linux"):
            best, best_type = "", None
            with open("/proc/self/mounts", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    parts = line.split()
                    if len(parts) < 3:
                        continue
                    mnt = parts[1].replace("\\040", " ")
                    if (p == mnt or p.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                        best, best_type = mnt, parts[2]
            return best_type if best_type in _NETWORK_FS else None
        if os.name == "nt":
            import ctypes

            drive = os.path.splitdrive(p)[0] + "\\"
            if drive.startswith("\\\\"):
                return "network share"
            return "remote drive" if ctypes.windll.kernel32.GetDriveTypeW(drive) == 4 else None
    except Exception:  # noqa: BLE001  # pragma: no cover - best effort
        return None
    return None


class _Handler(FileSystemEventHandler):
    """Runs on watchdog's threads: only enqueues, never does I/O."""

    def __init__(self, q: queue.SimpleQueue) -> None:
        self._q = q

    def on_any_event(self, event: FileSystemEvent) -> None:
        self._q.put(event)


@dataclass
class _Pending:
    signature: tuple[int, int] | None  # (size, mtime_ns) at the last check
    stable_since: float  # monotonic seconds


class FolderWatcher:
    """Watches folders recursively and calls ``on_batch(ChangeBatch)`` with settled, coalesced changes.

    Args:
        folders: folders to watch (each recursively); a missing or unreadable one is watched once it is back.
        on_batch: called from one background thread, never concurrently, with a non-empty ``ChangeBatch``.
        settle_seconds: a new/modified photo is delivered once its (size, mtime_ns) stayed unchanged this
            long (seconds).
        batch_window_seconds: a batch is delivered once no change joined it for this long (seconds).
        poll_interval_seconds: snapshot interval of the polling fallback (seconds).
        force_polling: use the polling observer even where events would work.
        on_folder_state: called from the watcher thread when a folder's state changes (see the module docstring).
        health_interval_seconds: seconds between two looks at every folder's state.
        exclude: folders whose changes are ignored (the app's own data and cache).
        follow_links: deliver new photos that are symbolic links leading out of their watched folder.

    Attributes:
        mode: ``"events"`` or ``"polling"`` (set by ``start``; ``"polling"`` if any folder is polled).
        fallback_reason: why polling is used (None in events mode).

    Raises:
        FileNotFoundError / NotADirectoryError (from ``add_folder``): the folder to add does not exist.
    """

    def __init__(
        self,
        folders: Iterable[str | os.PathLike[str]],
        on_batch: Callable[[ChangeBatch], None],
        *,
        settle_seconds: float = 1.0,
        batch_window_seconds: float = 0.5,
        poll_interval_seconds: float = 30.0,
        force_polling: bool = False,
        on_folder_state: FolderStateCallback | None = None,
        health_interval_seconds: float = HEALTH_INTERVAL_SECONDS,
        exclude: Iterable[str | os.PathLike[str]] = (),
        follow_links: bool = False,
    ) -> None:
        self._on_batch = on_batch
        self._on_folder_state = on_folder_state
        self.health_interval_seconds = float(health_interval_seconds)
        self.follow_links = bool(follow_links)
        self._exclude: list[Path] = []
        for ex in exclude:
            for variant in (_abspath(ex), Path(os.path.realpath(os.fspath(ex)))):
                if variant not in self._exclude:
                    self._exclude.append(variant)
        self._states: dict[Path, tuple[str, str | None]] = {}  # folder -> (FolderState, reason)
        self._events_broken: str | None = None  # why the event observer cannot be used (then: polling)
        self.settle_seconds = float(settle_seconds)
        self.batch_window_seconds = float(batch_window_seconds)
        self.poll_interval_seconds = float(poll_interval_seconds)
        self.force_polling = bool(force_polling)
        self.mode: str = "polling" if force_polling else "events"
        self.fallback_reason: str | None = "force_polling=True" if force_polling else None
        self._folders: dict[Path, ObservedWatch | None] = {}  # folder -> its watch (None until started)
        self._polled: dict[Path, str] = {}  # folder -> reason it is polled
        for f in folders:
            self._folders[_abspath(f)] = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._handler = _Handler(self._queue)
        self._observer: BaseObserver | None = None  # event observer
        self._poller: BaseObserver | None = None  # PollingObserver
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._running = False
        # worker-thread state
        self._pending: dict[Path, _Pending] = {}
        self._up: dict[Path, None] = {}  # batch being built: upserted (ordered set)
        self._del: dict[Path, None] = {}  # deleted (ordered set)
        self._mv: dict[Path, Path] = {}  # moved: dst -> src
        self._batch_first: float | None = None  # monotonic seconds of the batch's first / last change
        self._batch_last = 0.0
        self._delivered: OrderedDict[Path, tuple[int, int]] = OrderedDict()

    # ----------------------------------------------------------------------------------- public API

    @property
    def folders(self) -> list[Path]:
        """The library folders given to the watcher (absolute paths), watched or not."""
        with self._lock:
            return list(self._folders)

    @property
    def states(self) -> dict[Path, tuple[str, str | None]]:
        """``{folder: (FolderState, reason)}``: ``"watching"`` (reason None), ``"missing"`` or ``"unreadable"``."""
        with self._lock:
            return {f: self._states.get(f, (FolderState.MISSING, "not looked at yet")) for f in self._folders}

    def start(self) -> None:
        """Start watching (events where possible, else polling) and the delivery thread. A folder that is
        missing or unreadable now is watched as soon as it is back (``states`` says which).

        Raises:
            RuntimeError: already started.
        """
        with self._lock:
            if self._running:
                raise RuntimeError("FolderWatcher already started")
            self._thread = threading.Thread(target=self._run, name="landmark-watcher", daemon=True)
            self._running = True
            self._thread.start()
            for folder in self._folders:
                state, reason = folder_state(folder)
                if state == FolderState.AVAILABLE:
                    self._schedule(folder)
                    self._states[folder] = (FolderState.WATCHING, None)
                else:
                    log.warning("watched folder %s %s; watching the others", folder, reason)
                    self._states[folder] = (state, reason)
            self._update_mode()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the observers, deliver the changes that are ready (moves, deletions, settled photos) and
        join the threads. Photos still settling are dropped (the next scan finds them). Idempotent."""
        with self._lock:
            if not self._running:
                return
            self._running = False
            observers = [o for o in (self._observer, self._poller) if o is not None]
            self._observer = self._poller = None
        for obs in observers:
            with _suppress():
                obs.stop()
        for obs in observers:
            with _suppress():
                obs.join(timeout)
        self._queue.put(_STOP)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None

    def add_folder(self, path: str | os.PathLike[str]) -> None:
        """Watch one more folder (recursively); works before and after ``start``.

        Raises:
            FileNotFoundError / NotADirectoryError: the folder does not exist.
        """
        folder = _abspath(path)
        _check_folder(folder)
        with self._lock:
            if folder in self._folders:
                return
            self._folders[folder] = None
            if not self._running:
                return
            self._schedule(folder)
            self._states[folder] = (FolderState.WATCHING, None)
            self._update_mode()

    def remove_folder(self, path: str | os.PathLike[str]) -> None:
        """Stop watching a folder; its unsettled photos are dropped. Unknown folders are ignored."""
        folder = _abspath(path)
        with self._lock:
            if folder not in self._folders:
                return
            self._unschedule(folder)
            self._folders.pop(folder, None)
            self._states.pop(folder, None)
            self._update_mode()

    def __enter__(self) -> FolderWatcher:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ----------------------------------------------------------------------------------- observers

    def _make_event_observer(self) -> BaseObserver:
        """The platform's native watchdog observer (a seam for tests and odd platforms)."""
        return Observer()

    def _schedule(self, folder: Path) -> None:
        """Watch ``folder``: file events where they work, else the polling observer (lock held)."""
        reason = self._polling_reason(folder) or self._events_broken
        if not reason:
            try:
                if self._observer is None:
                    obs = self._make_event_observer()
                    watch = obs.schedule(self._handler, str(folder), recursive=True, event_filter=_EVENT_FILTER)
                    try:
                        obs.start()
                    except Exception as exc:
                        with _suppress():
                            obs.unschedule_all()
                        self._events_broken = f"event observer could not start: {_describe(exc)}"
                        raise
                    self._observer = obs
                else:
                    watch = self._observer.schedule(
                        self._handler, str(folder), recursive=True, event_filter=_EVENT_FILTER
                    )
                self._folders[folder] = watch
                self._polled.pop(folder, None)
                return
            except Exception as exc:  # noqa: BLE001 - a failing observer falls back to polling, never stops watching
                log.warning("file events unavailable for %s (%s); falling back to polling", folder, exc)
                reason = self._events_broken or f"event watch could not be added: {_describe(exc)}"
        self._polled[folder] = reason
        self._schedule_polled(folder)

    def _unschedule(self, folder: Path) -> None:
        """Stop the observers watching ``folder`` (lock held)."""
        watch = self._folders.get(folder)
        self._folders[folder] = None
        self._polled.pop(folder, None)
        if watch is not None:
            for obs in (self._observer, self._poller):
                if obs is not None:
                    with _suppress():
                        obs.unschedule(watch)

    def _polling_reason(self, folder: Path) -> str | None:
        if self.force_polling:
            return "force_polling=True"
        fs = network_filesystem(folder)
        if fs:
            return f"{folder} is on a network file system ({fs}); its changes do not raise local events"
        return None

    def _schedule_polled(self, folder: Path) -> None:
        if self._poller is None:
            self._poller = PollingObserver(timeout=self.poll_interval_seconds)
            self._poller.start()
        self._folders[folder] = self._poller.schedule(
            self._handler, str(folder), recursive=True, event_filter=_EVENT_FILTER
        )

    def _update_mode(self) -> None:
        if self._polled:
            self.mode = "polling"
            self.fallback_reason = "; ".join(dict.fromkeys(self._polled.values()))
        elif self.force_polling:
            self.mode, self.fallback_reason = "polling", "force_polling=True"
        else:
            self.mode, self.fallback_reason = "events", None

    # ----------------------------------------------------------------------------------- worker thread

    def _check_health(self) -> None:
        """Look at every folder: stop watching one that went away, watch one that came back; report changes."""
        changes: list[tuple[Path, str, str | None]] = []
        with self._lock:
            folders = list(self._folders)
        for folder in folders:
            state, reason = folder_state(folder)
            with self._lock:
                if not self._running or folder not in self._folders:
                    continue
                old = self._states.get(folder, (None, None))[0]
                if state == FolderState.AVAILABLE:
                    if old == FolderState.WATCHING:
                        continue
                    log.info("watched folder %s is back; watching it again", folder)
                    self._schedule(folder)
                    self._states[folder] = (FolderState.WATCHING, None)
                    self._update_mode()
                    changes.append((folder, FolderState.WATCHING, None))
                elif old != state:
                    log.warning("watched folder %s %s; its photos are offline", folder, reason)
                    self._unschedule(folder)
                    self._states[folder] = (state, reason)
                    self._update_mode()
                    for p in [p for p in self._pending if folder in p.parents]:
                        del self._pending[p]
                    changes.append((folder, state, reason))
        if self._on_folder_state is not None:
            for folder, state, reason in changes:
                try:
                    self._on_folder_state(folder, state, reason)
                except Exception:
                    log.exception("watcher: on_folder_state failed for %s", folder)

    def _run(self) -> None:
        tick = min(max(self.settle_seconds / 5.0, 0.02), 0.25)
        next_check = 0.0
        next_health = time.monotonic() + self.health_interval_seconds
        stopping = False
        while not stopping:
            try:
                item = self._queue.get(timeout=tick)
            except queue.Empty:
                item = None
            while item is not None:
                if item is _STOP:
                    stopping = True
                    break
                try:
                    self._handle(item)
                except Exception:  # never let one odd event kill the watcher
                    log.exception("watcher: could not handle %r", item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            now = time.monotonic()
            if now >= next_check or stopping:
                self._check_pending(now)
                next_check = now + tick
            if self._batch_size() and (stopping or self._batch_due(now)):
                self._deliver()
            if not stopping and now >= next_health:
                try:
                    self._check_health()
                except Exception:  # never let a health check kill the watcher
                    log.exception("watcher: folder health check failed")
                next_health = time.monotonic() + self.health_interval_seconds

    def _batch_due(self, now: float) -> bool:
        w = self.batch_window_seconds
        first = self._batch_last if self._batch_first is None else self._batch_first
        return (
            now - self._batch_last >= w
            or now - first >= MAX_BATCH_AGE_WINDOWS * w
            or self._batch_size() >= MAX_BATCH_CHANGES
        )

    def _batch_size(self) -> int:
        return len(self._up) + len(self._del) + len(self._mv)

    def _deliver(self) -> None:
        batch = ChangeBatch(
            upserted=list(self._up), deleted=list(self._del), moved=[(s, d) for d, s in self._mv.items()]
        )
        self._up, self._del, self._mv = {}, {}, {}
        self._batch_first = None
        try:
            self._on_batch(batch)
        except Exception:
            log.exception("watcher: on_batch failed for a batch of %d changes", len(batch))

    def _touch_batch(self) -> None:
        now = time.monotonic()
        if self._batch_first is None:
            self._batch_first = now
        self._batch_last = now

    def _root_of(self, path: Path) -> Path | None:
        with self._lock:
            for folder in self._folders:
                if path == folder or folder in path.parents:
                    return folder
        return None

    def _excluded(self, path: Path) -> bool:
        """True for a path inside one of the excluded folders (the app's own data and cache)."""
        if not self._exclude:
            return False
        if any(is_within(path, ex) for ex in self._exclude):
            return True
        real = os.path.realpath(os.fspath(path))
        return any(is_within(real, ex) for ex in self._exclude)

    def _leaves_root(self, path: Path) -> bool:
        """True when ``path`` is a symbolic link whose target is outside its watched folder (and links out are
        not followed)."""
        if self.follow_links or not os.path.islink(path):
            return False
        root = self._root_of(path)
        return root is None or not is_within(os.path.realpath(path), os.path.realpath(root))

    def _visible(self, path: Path) -> tuple[bool, bool]:
        """(inside a watched folder, and not hidden below it nor excluded)."""
        root = self._root_of(path)
        if root is None:
            return False, False
        rel = path.relative_to(root).parts
        return True, not any(is_hidden_name(part) for part in rel) and not self._excluded(path)

    def _photo(self, path: Path) -> bool:
        inside, visible = self._visible(path)
        return inside and visible and is_supported(path.name)

    def _handle(self, ev: FileSystemEvent) -> None:
        src = Path(os.fsdecode(ev.src_path))
        etype = ev.event_type
        if etype == "moved":
            dst = Path(os.fsdecode(ev.dest_path))
            if ev.is_directory:
                self._dir_moved(src, dst)
            elif not ev.is_synthetic:  # inotify's synthetic sub-moves: we expand folder moves ourselves
                self._file_moved(src, dst)
        elif etype in ("created", "modified"):
            if ev.is_directory:
                if etype == "created":
                    self._dir_created(src)
            elif self._photo(src):
                self._mark_pending(src)
        elif etype == "deleted":
            if ev.is_directory:
                self._dir_deleted(src)
            elif self._photo(src):
                self._pending.pop(src, None)
                self._add_deleted(src)

    # batch normalisation (applied by the consumer as moved -> deleted -> upserted) ------------------

    def _mark_pending(self, path: Path) -> None:
        p = self._pending.get(path)
        now = time.monotonic()
        if p is None:
            self._pending[path] = _Pending(None, now)
        else:
            p.stable_since = now  # any event restarts the settling clock

    def _add_upsert(self, path: Path) -> None:
        self._del.pop(path, None)
        self._up[path] = None
        self._touch_batch()

    def _add_deleted(self, path: Path) -> None:
        self._delivered.pop(path, None)
        self._up.pop(path, None)
        src = self._mv.pop(path, None)
        if src is not None:  # moved then deleted: the source is gone too
            self._del[src] = None
        self._del[path] = None
        self._touch_batch()

    def _add_moved(self, src: Path, dst: Path) -> None:
        if self._mv.get(dst) == src:
            return  # the same move reported twice (folder expansion + per-file events)
        sig = self._delivered.pop(src, None)
        if sig is not None:
            self._remember(dst, sig)
        self._del.pop(dst, None)  # moved onto a path deleted earlier in this batch
        if src in self._up:
            del self._up[src]
            self._up[dst] = None
        origin = self._mv.pop(src, None)  # a->src then src->dst == a->dst
        origin = src if origin is None else origin
        self._mv.pop(dst, None)
        if origin != dst:
            self._mv[dst] = origin
        self._touch_batch()

    def _file_moved(self, src: Path, dst: Path) -> None:
        src_ok, dst_ok = self._photo(src), self._photo(dst)
        pending = self._pending.pop(src, None)
        if pending is not None:  # never delivered: just a new photo at dst (or nothing)
            if dst_ok:
                self._pending[dst] = pending
                self._mark_pending(dst)
            return
        if src_ok and dst_ok:
            self._add_moved(src, dst)
        elif src_ok:
            self._add_deleted(src)
        elif dst_ok:
            self._mark_pending(dst)

    def _dir_created(self, folder: Path) -> None:
        inside, visible = self._visible(folder)
        if not (inside and visible) or self._leaves_root(folder):
            return
        root = self._root_of(folder)
        try:
            for f in iter_photo_files(folder, exclude=self._exclude, follow_links=self.follow_links, within=root):
                self._mark_pending(f)
        except OSError:
            pass  # gone again

    def _dir_deleted(self, folder: Path) -> None:
        with self._lock:
            if folder in self._folders:
                log.warning("watched folder %s disappeared; not reporting its photos as deleted", folder)
                return
        inside, visible = self._visible(folder)
        if not (inside and visible):
            return
        for p in [p for p in self._pending if folder in p.parents]:
            del self._pending[p]
        for p in [p for p in self._up if folder in p.parents]:
            del self._up[p]
        for dst in [d for d in self._mv if folder in d.parents]:
            self._del[self._mv.pop(dst)] = None  # moved into the folder, then the folder went away
        self._add_deleted(folder)

    def _dir_moved(self, src: Path, dst: Path) -> None:
        with self._lock:
            if src in self._folders:
                log.warning("watched folder %s was moved to %s; not reporting its photos as deleted", src, dst)
                return
        s_in, s_vis = self._visible(src)
        d_in, d_vis = self._visible(dst)
        src_ok, dst_ok = s_in and s_vis, d_in and d_vis
        moved_pending = {p: v for p, v in self._pending.items() if src in p.parents}
        for p in moved_pending:
            del self._pending[p]
        if src_ok and dst_ok:
            try:
                root = self._root_of(dst)
                files = list(iter_photo_files(dst, exclude=self._exclude, follow_links=self.follow_links, within=root))
            except OSError:
                files = []
            for f in files:
                old = src / f.relative_to(dst)
                if old in moved_pending:
                    self._pending[f] = moved_pending[old]
                    self._mark_pending(f)
                else:
                    self._add_moved(old, f)
        elif src_ok:
            self._add_deleted(src)
        elif dst_ok:
            self._dir_created(dst)

    def _check_pending(self, now: float) -> None:
        ready: list[Path] = []
        for path, p in list(self._pending.items()):
            if p.signature is not None and now - p.stable_since < self.settle_seconds:
                continue  # nothing to decide yet: a file is stat'ed about twice, not on every tick
            if not self._photo(path):  # its folder is no longer watched
                del self._pending[path]
                continue
            try:
                st = os.stat(path)
            except OSError:  # vanished (its deletion event follows) or unreadable
                del self._pending[path]
                continue
            if not stat_mod.S_ISREG(st.st_mode) or self._leaves_root(path):
                del self._pending[path]
                continue
            sig = (st.st_size, st.st_mtime_ns)
            if sig != p.signature:
                p.signature, p.stable_since = sig, now
            elif now - p.stable_since >= self.settle_seconds:
                ready.append(path)
        for path in ready:
            settled = self._pending.pop(path).signature
            if settled is None or self._delivered.get(path) == settled:
                continue  # an event without a change (attributes, a re-save of identical bytes & time)
            self._remember(path, settled)
            self._add_upsert(path)

    def _remember(self, path: Path, sig: tuple[int, int]) -> None:
        self._delivered[path] = sig
        self._delivered.move_to_end(path)
        while len(self._delivered) > DELIVERED_MEMORY:
            self._delivered.popitem(last=False)


# --------------------------------------------------------------------------------------------- helpers


def _abspath(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(os.fspath(path)))


def _check_folder(folder: Path) -> None:
    if not folder.exists():
        raise FileNotFoundError(f"folder not found: {folder}")
    if not folder.is_dir():
        raise NotADirectoryError(f"not a folder: {folder}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EMFILE):
        hint = (
            "raise fs.inotify.max_user_watches" if exc.errno == errno.ENOSPC else "raise fs.inotify.max_user_instances"
        )
        return f"{exc.strerror or exc} ({errno.errorcode[exc.errno]}; {hint})"
    return f"{type(exc).__name__}: {exc}"


class _suppress:
    """``contextlib.suppress(Exception)`` that also logs at debug level."""

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if ev is not None and isinstance(ev, Exception):
            log.debug("watcher: ignored %r", ev)
            return True
        return False
