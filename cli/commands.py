"""``landmark-tagger`` command line: sub-commands over the ``core.library.Library`` facade.

Usage (global options go before or after the sub-command)::

    landmark-tagger [--db PATH] [--model PATH] [--device auto|cpu|cuda|mps] [--json] COMMAND ...

    add-folder PATH...          add folders (recursively) to the library
    remove-folder PATH...       remove folders and their photos from the library (files untouched)
    folders                     the library folders and their state (watching/available/missing/unreadable)
    tag                         scan all folders and tag new/changed photos (progress bar on stderr)
    retry-failed [PHOTO...]     tag the failed photos (or these) again
    watch                       watch the folders and tag changes until Ctrl-C (or --duration)
    albums                      landmark albums with counts, then Unrecognized/Has GPS/Needs review/Failed
    places                      the cities and countries photos were taken in (from their GPS), with counts
    search [TEXT]               photos by landmark name or place (city, country) and filters
    similar PHOTO               photos that look like PHOTO (an id or a path)
    relabel PHOTO...            correct labels (--landmark KEY | --new NAME | --not-landmark | --reject)
    undo                        undo the last correction
    export-corrections CSV      write manual labels as a path,label CSV for ``landmark-train`` (--force replaces)
    export-xmp                  write each labelled photo's XMP sidecar beside it (digiKam/darktable/Lightroom names)
    import-xmp                  labels from keywords of existing XMP sidecars that name a landmark (one undoable change)
    stats                       library numbers
    check [--full]              check the database for damage (quick_check; --full: integrity_check)
    backups [--now]             the backups of the database, newest first (numbered); --now takes one first
    restore BACKUP              replace the database with a backup (its number in 'backups', or its path)
    rebuild [--from BACKUP]     a new database from your photos, keeping the folders and corrections of a backup

``--json`` prints machine-readable JSON on stdout (``watch``: one JSON object per line) and no progress
bar; a path that is not valid UTF-8 is written with ``\\udcXX`` escapes (Python's ``json`` + ``os.fsencode``
give its bytes back). Text output is made safe for a terminal: undecodable bytes of file names and control
characters (terminal escape sequences) are shown as U+FFFD. Exit status: 0 success, 1 error (one line on
stderr, e.g. a locked or damaged database, a bad model bundle, a missing folder), 2 bad command-line usage, 130
interrupted (Ctrl-C), 141 the reader of the output went away (``| head``; like a program killed by SIGPIPE).
``check``, ``backups``, ``restore`` and ``rebuild`` work on a damaged database; every other command fails with
status 1 on one. Set ``LANDMARK_TAGGER_DEBUG=1`` to get a traceback instead of the one line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser"]

PROG = "landmark-tagger"
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: Exit status when stdout's reader went away (128 + SIGPIPE, what a shell reports for ``yes | head``).
EXIT_BROKEN_PIPE = 141


class UsageError(Exception):
    """Bad command-line usage (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """``ArgumentParser`` whose errors are one line (raised, not printed with the usage block)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


# ------------------------------------------------------------------------------------------- parsing


def _date_arg(end_of_day: bool):
    def parse(text: str) -> datetime:
        try:
            if len(text) == 10:  # YYYY-MM-DD: the whole day
                d = date.fromisoformat(text)
                return datetime.combine(d, dtime.max if end_of_day else dtime.min)
            return datetime.fromisoformat(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid date {text!r} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None

    return parse


def _confidence(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid confidence {text!r} (a number from 0 to 1)") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"confidence {text} is outside 0..1")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text} must not be negative")
    return v


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text} must not be negative")
    return v


def _add_globals(p: argparse.ArgumentParser, *, suppress: bool) -> None:
    d = (lambda v: argparse.SUPPRESS) if suppress else (lambda v: v)
    p.add_argument("--db", metavar="PATH", default=d(None), help="library database file (default: the per-user one)")
    p.add_argument(
        "--model", metavar="PATH", default=d(None), help="model bundle (.safetensors; default: the shipped bundle)"
    )
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda", "mps"],
        default=d("auto"),
        help="where the CNN runs (default: auto = CUDA, then MPS, then CPU)",
    )
    p.add_argument(
        "--no-verify",
        dest="no_verify",
        action="store_true",
        default=d(False),
        help="no geometric verification of uncertain photos (default: on when the model has verification features)",
    )
    p.add_argument("--json", action="store_true", default=d(False), help="machine-readable JSON output")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for the GUI's help text and for tests)."""
    parser = _Parser(
        prog=PROG,
        description="Name the landmarks in your photos (photos with EXIF GPS are "
        "left alone) and browse them by landmark.",
    )
    _add_globals(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def cmd(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _add_globals(p, suppress=True)
        return p

    p = cmd("add-folder", "add photo folders (recursively) to the library")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p = cmd("remove-folder", "remove folders and their photos from the library (the files are not touched)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    cmd("folders", "the library folders and their state (watching, available, missing, unreadable)")
    p = cmd("tag", "scan all folders and tag new or changed photos")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-wait", action="store_true", help="fail at once when another process is tagging the library (no waiting)"
    )
    p.add_argument("--follow-links", action="store_true", help="follow symbolic links out of the library folders")
    p = cmd("retry-failed", "tag the failed photos again (all, or the given ones)")
    p.add_argument("photos", nargs="*", metavar="PHOTO", help="photo ids or paths (default: every failed photo)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-wait", action="store_true", help="fail at once when another process is tagging the library (no waiting)"
    )
    p = cmd("watch", "watch the library folders and tag changes until Ctrl-C")
    p.add_argument(
        "--duration",
        type=_positive_float,
        default=0.0,
        metavar="SECONDS",
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    p.add_argument(
        "--settle",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="a new file is tagged once unchanged this long (default 1)",
    )
    p.add_argument(
        "--poll-interval",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="rescan interval when polling (default 30)",
    )
    p.add_argument("--force-polling", action="store_true", help="poll even where file events work")
    p.add_argument("--follow-links", action="store_true", help="follow symbolic links out of the library folders")
    cmd("albums", "landmark albums with photo counts")
    cmd("places", "the cities and countries photos were taken in (from their EXIF GPS), with photo counts")
    p = cmd("search", "find photos by landmark name or place, and filters")
    p.add_argument("text", nargs="?", default=None, help="landmark name, city or country (prefix and typo tolerant)")
    p.add_argument("--city", metavar="CITY", help="only photos taken in this city (from their GPS)")
    p.add_argument(
        "--country", metavar="COUNTRY", help="only photos taken in this country (GPS) or of a landmark there"
    )
    p.add_argument(
        "--source", choices=["model", "manual", "gps"], help="who set the label (gps: placed from the photo's GPS)"
    )
    p.add_argument("--min-conf", type=_confidence, metavar="P", help="lowest confidence (0..1)")
    p.add_argument("--max-conf", type=_confidence, metavar="P", help="highest confidence (0..1)")
    loc = p.add_mutually_exclusive_group()
    loc.add_argument("--has-gps", action="store_true", help="only photos with EXIF GPS coordinates")
    loc.add_argument("--estimated", action="store_true", help="only photos located from their landmark")
    p.add_argument(
        "--from",
        dest="date_from",
        type=_date_arg(False),
        metavar="DATE",
        help="taken on or after DATE (YYYY-MM-DD; the EXIF date, else the file's date)",
    )
    p.add_argument(
        "--to",
        dest="date_to",
        type=_date_arg(True),
        metavar="DATE",
        help="taken on or before DATE (YYYY-MM-DD, the whole day; the EXIF date, else the file's date)",
    )
    p.add_argument("--folder", metavar="PATH", help="only photos under this folder")
    p.add_argument("--limit", type=_count, default=100, metavar="N", help="at most N photos (0 = all; default 100)")
    p = cmd("similar", "photos that look like PHOTO")
    p.add_argument("photo", metavar="PHOTO_ID_OR_PATH")
    p.add_argument("--limit", type=_count, default=20, metavar="N", help="how many (default 20)")
    p = cmd("relabel", "correct the label of photos")
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="photo ids or paths")
    p.add_argument(
        "--landmark", metavar="KEY", help="set this landmark (key or exact name); with --reject: the label to reject"
    )
    p.add_argument("--new", dest="new_name", metavar="NAME", help="create a landmark with this name and set it")
    p.add_argument("--not-landmark", action="store_true", help="the photos show no landmark")
    p.add_argument("--reject", action="store_true", help="reject the current (or --landmark) label")
    p = cmd("confirm", "the photos' current labels are right: make them yours (locked, exported)")
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="photo ids or paths")
    p = cmd("reject", "the photos do not show their label: reject it (they take the next candidate)")
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="photo ids or paths")
    p.add_argument("--landmark", metavar="KEY", help="the label to reject (default: each photo's current one)")
    p = cmd("suggestions", "open proposals: photos teaching proposes a label for (nothing changes until accepted)")
    p.add_argument("--change", type=int, metavar="N", help="only those change N made")
    p = cmd("accept", "apply proposals (one undoable change)")
    p.add_argument("ids", nargs="*", type=int, metavar="ID", help="proposal ids (see 'suggestions')")
    p.add_argument("--all", action="store_true", help="every open proposal (of --change N)")
    p.add_argument("--change", type=int, metavar="N", help="with --all: only those change N made")
    p = cmd("dismiss", "dismiss proposals (never proposed again)")
    p.add_argument("ids", nargs="*", type=int, metavar="ID", help="proposal ids (see 'suggestions')")
    p.add_argument("--all", action="store_true", help="every open proposal (of --change N)")
    p.add_argument("--change", type=int, metavar="N", help="with --all: only those change N made")
    p = cmd("more-like", "find more like this: propose the photos' landmark for look-alike photos")
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="photo ids or paths")
    cmd("undo", "undo the last correction")
    cmd("redo", "redo the last undone correction")
    p = cmd("history", "every correction: what, when, how many photos, undone or not")
    p.add_argument("--limit", type=_count, default=50, metavar="N", help="at most N entries (0 = all; default 50)")
    p = cmd("revert", "revert one correction of the history (even an older one)")
    p.add_argument("change_id", type=int, metavar="CHANGE_ID")
    p = cmd("export-corrections", "write manual labels as a path,label CSV (for landmark-train)")
    p.add_argument("csv", metavar="CSV")
    p.add_argument(
        "--force", action="store_true", help="replace CSV if it exists (never an image, a link, a folder or a device)"
    )
    p = cmd("export-xmp", "write each labelled photo's landmark into an XMP sidecar beside it (photos untouched)")
    p.add_argument(
        "--convention",
        choices=["digikam", "darktable", "lightroom"],
        default="digikam",
        help="sidecar names of this app: photo.jpg.xmp (digikam, darktable) or photo.xmp (lightroom); default digikam",
    )
    p.add_argument(
        "--estimated-gps",
        action="store_true",
        help="also write the landmark's coordinates as GPS for photos without EXIF GPS",
    )
    p.add_argument("--dry-run", action="store_true", help="report what would be written; write nothing")
    p = cmd("import-xmp", "make landmark keywords of existing XMP sidecars your labels (one undoable change)")
    p.add_argument("--dry-run", action="store_true", help="report what would be labelled; change nothing")
    cmd("stats", "numbers about the library")
    p = cmd("check", "check the library database for damage")
    p.add_argument("--full", action="store_true", help="PRAGMA integrity_check (slower) instead of quick_check")
    p = cmd("backups", "list the backups of the library database, newest first")
    p.add_argument("--now", action="store_true", help="check the database and take a backup now, then list them")
    p = cmd("restore", "replace the library database with one of its backups (the current one is kept aside)")
    p.add_argument("backup", metavar="BACKUP", help="its number in 'landmark-tagger backups' (1 = newest) or its path")
    p = cmd("rebuild", "make a new library database from your photos, keeping folders and corrections from a backup")
    p.add_argument(
        "--from", dest="backup", metavar="BACKUP", help="backup to keep them from (default: the newest undamaged one)"
    )
    p.add_argument("--no-tag", action="store_true", help="do not scan and tag the photos afterwards")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


# ------------------------------------------------------------------------------------------- output


_SURROGATE = re.compile("[\ud800-\udfff]")


def _safe(text: Any) -> str:
    """``text`` as one line safe for a terminal (``core.domain.display_text``)."""
    from core.domain import display_text

    return display_text(str(text))


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    return obj


def _emit_json(data: Any) -> None:
    text = json.dumps(_jsonable(data), ensure_ascii=False)
    # Lone surrogates (undecodable bytes of a file name) only occur inside JSON strings: escape them as \udcXX,
    # valid JSON that Python's json + os.fsencode turn back into the exact bytes.
    text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _conf(c: float | None) -> str:
    return "" if c is None else f"{c:.2f}"


def _print_photos(rows) -> None:
    for s in rows:
        label = s.label_name or {
            "gps": f"({s.place})" if s.place else "(has GPS)",
            "no_landmark": "(no landmark)",
            "failed": "(failed)",
            "pending": "(not tagged)",
        }.get(s.status, "")
        offline = "  (offline)" if getattr(s, "offline", False) else ""
        print(
            f"{s.id:>6}  {_safe(label):<28.28}  {_conf(s.confidence):>4}  {s.label_source or '':<6}  "
            f"{_safe(s.path)}{offline}"
        )


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60:02d}:{seconds % 60:02d}"
    )


class _ProgressBar:
    """``Progress`` stream → tqdm bar on stderr (done/total, photos/s, ETA); callbacks may come from
    several worker threads, so updates are serialised."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None  # a tqdm bar while a phase is shown
        self._state: str | None = None
        self._lock = threading.Lock()

    def __call__(self, p) -> None:
        if not self.enabled:
            return
        with self._lock:
            if p.state not in ("scanning", "tagging", "paused"):
                if self._bar is not None and p.total == self._bar.total:
                    self._bar.n = p.done  # the last advance may have been throttled away
                    self._bar.set_postfix_str(f"{p.photos_per_second:.1f} photos/s", refresh=True)
                self._close()
                return
            if p.state == "paused":
                if self._bar is not None:
                    self._bar.set_description_str("Paused")
                return
            if self._bar is None or self._state != p.state or (p.total and self._bar.total != p.total):
                self._close()
                from tqdm import tqdm

                self._bar = tqdm(
                    total=p.total or None,
                    desc="Scanning" if p.state == "scanning" else "Tagging",
                    unit=" photos",
                    file=sys.stderr,
                    dynamic_ncols=True,
                    leave=True,
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]",
                )
                self._state = p.state
            self._bar.n = p.done
            self._bar.set_postfix_str(
                f"ETA {_fmt_eta(p.eta_seconds)}, {p.photos_per_second:.1f} photos/s", refresh=True
            )

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._state = None

    def close(self) -> None:
        with self._lock:
            self._close()


# ------------------------------------------------------------------------------------------- commands


def _photo_id(lib, token: str) -> int:
    """A photo id from an id or a path (absolute or relative to the current folder)."""
    from core.library import NotFoundError

    if token.isdigit():
        return int(token)
    path = Path(os.path.abspath(os.path.expanduser(token)))
    photo_id = lib.photo_id(path)
    if photo_id is not None:
        return photo_id
    if not path.exists():
        raise NotFoundError(f"no such photo: {_safe(path)}")
    raise NotFoundError(f"not in the library (add its folder and run tag): {_safe(path)}")


def _cmd_add_folder(lib, args) -> int:
    for p in args.paths:
        lib.add_folder(p)
    folders = lib.folders()
    if args.json:
        _emit_json({"added": [os.path.abspath(os.path.expanduser(p)) for p in args.paths], "folders": folders})
    else:
        for p in args.paths:
            print(f"Added {_safe(os.path.abspath(os.path.expanduser(p)))}")
        print("Run 'landmark-tagger tag' to tag its photos.")
    return EXIT_OK


def _cmd_remove_folder(lib, args) -> int:
    for p in args.paths:
        lib.remove_folder(p)
    if args.json:
        _emit_json({"removed": [os.path.abspath(os.path.expanduser(p)) for p in args.paths], "folders": lib.folders()})
    else:
        for p in args.paths:
            print(f"Removed {_safe(os.path.abspath(os.path.expanduser(p)))} (the photos themselves are untouched)")
    return EXIT_OK


def _cmd_folders(lib, args) -> int:
    infos = lib.folder_states()
    if args.json:
        _emit_json(infos)
        return EXIT_OK
    if not infos:
        print("No folders yet: run 'landmark-tagger add-folder PATH'.")
    for f in infos:
        why = f"  ({_safe(f.reason)}; its photos are offline, kept)" if f.reason else ""
        print(f"{f.state:<11} {f.photos:>7} photos  {_safe(f.path)}{why}")
    return EXIT_OK


def _cmd_tag(lib, args) -> int:
    from core.library import FolderError, LibraryError, TaggingError

    if not lib.folders():
        raise FolderError("the library has no folders yet: run 'landmark-tagger add-folder PATH' first")
    bar = _ProgressBar(enabled=not (args.json or args.no_progress))
    said: set[str] = set()

    def on_progress(p) -> None:
        if p.message.startswith("waiting:") and p.message not in said:  # another process holds the tagging lock
            said.add(p.message)
            print(
                f"{_safe(p.message[len('waiting: ') :])}; waiting for it to finish (Ctrl-C to stop)…", file=sys.stderr
            )
        bar(p)

    job = lib.start_tagging(on_progress, wait=not getattr(args, "no_wait", False))
    try:
        while job.is_alive():
            job.wait(timeout=0.2)  # short waits keep Ctrl-C responsive
        prog = job.wait()
    except KeyboardInterrupt:
        job.cancel()
        job.wait()
        bar.close()
        print("Cancelled; what was tagged so far is kept.", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        bar.close()
    if job.error is not None:
        if isinstance(job.error, LibraryError):
            raise job.error
        raise TaggingError(f"tagging failed: {type(job.error).__name__}: {job.error}")
    if args.json:
        _emit_json(
            {
                "state": prog.state,
                "done": prog.done,
                "total": prog.total,
                "message": prog.message,
                "photos_per_second": prog.photos_per_second,
                "counts": prog.counts,
            }
        )
    else:
        print(f"Done: {_safe(prog.message)}" if prog.message else "Done.")
        if prog.counts:
            print("  " + ", ".join(f"{k}: {v}" for k, v in prog.counts.items()))
    return EXIT_OK if prog.state == "done" else EXIT_ERROR


def _cmd_retry_failed(lib, args) -> int:
    ids = [_photo_id(lib, t) for t in args.photos] if args.photos else None
    n = lib.retry_failed(ids)
    if not args.json:
        print(f"{n} failed photo(s) will be tagged again.")
    if n == 0:
        if args.json:
            _emit_json({"retried": 0})
        return EXIT_OK
    return _cmd_tag(lib, args)


def _cmd_watch(lib, args) -> int:
    opts = {}
    if args.settle is not None:
        opts["settle_seconds"] = args.settle
    if args.poll_interval is not None:
        opts["poll_interval_seconds"] = args.poll_interval
    if args.force_polling:
        opts["force_polling"] = True
    out_lock = threading.Lock()
    last_state: dict[str, Any] = {}

    def say(obj: dict, text: str) -> None:
        with out_lock:
            if args.json:
                _emit_json(obj)
            else:
                print(text, flush=True)

    def on_progress(p) -> None:
        if p.state in ("done", "cancelled", "failed") and (p.state, p.message) != last_state.get("s"):
            last_state["s"] = (p.state, p.message)
            say(
                {"event": "progress", "state": p.state, "message": p.message, "counts": p.counts},
                f"[{time.strftime('%H:%M:%S')}] {p.state}: {_safe(p.message)}",
            )

    def on_change(batch) -> None:
        say(
            {"event": "change", "upserted": batch.upserted, "deleted": batch.deleted, "moved": batch.moved},
            f"[{time.strftime('%H:%M:%S')}] {len(batch.upserted)} new/changed, {len(batch.moved)} moved, "
            f"{len(batch.deleted)} deleted",
        )

    def on_folders(infos) -> None:
        for f in infos:
            key = (str(f.path), f.state)
            if last_state.get(str(f.path)) == key:
                continue
            last_state[str(f.path)] = key
            what = (
                f"is {f.state} ({_safe(f.reason)}); its {f.photos} photo(s) are offline, kept in the library"
                if f.offline
                else "is back; watching it again"
            )
            say(
                {"event": "folder", "path": f.path, "state": f.state, "reason": f.reason, "photos": f.photos},
                f"[{time.strftime('%H:%M:%S')}] folder {_safe(f.path)} {what}",
            )

    lib.start_watching(on_progress=on_progress, on_change=on_change, on_folders=on_folders, **opts)
    st = lib.stats()
    infos = lib.folder_states()
    for f in infos:
        last_state[str(f.path)] = (str(f.path), f.state)
    folders = [str(f.path) for f in infos]
    offline = [f for f in infos if f.offline]
    say(
        {
            "event": "watching",
            "folders": folders,
            "states": {str(f.path): f.state for f in infos},
            "mode": st.get("watch_mode"),
            "fallback_reason": st.get("fallback_reason"),
        },
        f"Watching {len(folders) - len(offline)} of {len(folders)} folder(s) ({st.get('watch_mode')}"
        + (f": {_safe(st['fallback_reason'])}" if st.get("fallback_reason") else "")
        + "). Ctrl-C to stop."
        + "".join(
            f"\n  {_safe(f.path)} is {f.state} ({_safe(f.reason)}): watched as soon as it is back" for f in offline
        ),
    )
    try:
        end = time.monotonic() + args.duration if args.duration else None
        while end is None or time.monotonic() < end:
            time.sleep(0.1 if end is None else max(0.0, min(0.1, end - time.monotonic())))
    except KeyboardInterrupt:
        pass  # Ctrl-C is the normal way to end `watch`: exit status 0
    finally:
        lib.stop_watching()
    say({"event": "stopped"}, "Stopped watching.")
    return EXIT_OK


def _cmd_albums(lib, args) -> int:
    albums = lib.albums()
    if args.json:
        _emit_json(albums)
        return EXIT_OK
    for a in albums:
        extra = f"  ({a.country})" if a.country else ""
        key = f"  [{_safe(a.ref.key)}]" if a.ref.key else ""
        print(f"{a.count:>7}  {_safe(a.title)}{_safe(extra)}{key}")
    return EXIT_OK


def _cmd_places(lib, args) -> int:
    places = lib.places()
    if args.json:
        _emit_json([{"country": country, "city": city, "photos": n} for country, city, n in places])
        return EXIT_OK
    if not places:
        print("No places yet: photos with EXIF GPS are placed when 'landmark-tagger tag' scans them.")
    for country, city, n in places:
        print(f"{n:>7}  {_safe(', '.join(x for x in (city, country) if x))}")
    return EXIT_OK


def _cmd_search(lib, args) -> int:
    from core.library import SearchQuery

    if args.min_conf is not None and args.max_conf is not None and args.min_conf > args.max_conf:
        raise UsageError("--min-conf is larger than --max-conf")
    if args.date_from and args.date_to and args.date_from > args.date_to:
        raise UsageError("--from is after --to")
    q = SearchQuery(
        text=args.text or None,
        label_source=args.source,
        min_confidence=args.min_conf,
        max_confidence=args.max_conf,
        location="gps" if args.has_gps else ("estimated" if args.estimated else None),
        date_from=args.date_from,
        date_to=args.date_to,
        folder=os.path.abspath(os.path.expanduser(args.folder)) if args.folder else None,
        city=args.city,
        country=args.country,
    )
    rows = lib.photos(query=q, limit=args.limit or None)
    if args.json:
        _emit_json(rows)
        return EXIT_OK
    _print_photos(rows)
    total = lib.count(query=q)
    if len(rows) < total:
        print(f"(showing {len(rows)} of {total}; --limit 0 shows all)")
    elif not rows:
        print("No photos found.")
    return EXIT_OK


def _cmd_similar(lib, args) -> int:
    pid = _photo_id(lib, args.photo)
    hits = lib.similar(pid, limit=args.limit or 20)
    if args.json:
        _emit_json([{"similarity": sim, **_jsonable(s)} for s, sim in hits])
        return EXIT_OK
    for s, sim in hits:
        print(f"{sim:6.3f}  {s.id:>6}  {_safe(s.label_name or ''):<28.28}  {_safe(s.path)}")
    if not hits:
        print("No similar photos.")
    return EXIT_OK


def _cmd_relabel(lib, args) -> int:
    chosen = sum(
        [
            args.landmark is not None and not args.reject,
            args.new_name is not None,
            bool(args.not_landmark),
            bool(args.reject),
        ]
    )
    if chosen != 1 or (args.reject and (args.new_name or args.not_landmark)):
        raise UsageError(
            "choose exactly one of --landmark KEY, --new NAME, --not-landmark, --reject "
            "(--reject may name the label with --landmark)"
        )
    ids = [_photo_id(lib, t) for t in args.photos]
    change = lib.relabel(
        ids, landmark=args.landmark, new_name=args.new_name, not_landmark=args.not_landmark, reject=args.reject
    )
    return _report_change(change, args)


def _report_change(change, args) -> int:
    if args.json:
        _emit_json({"change": change})
        return EXIT_OK
    print(_safe(change.description))
    if change.proposals:
        print(
            f"{change.proposals} proposal(s) for other photos: 'landmark-tagger suggestions --change {change.id}' "
            "lists them, 'landmark-tagger accept' applies them"
        )
    print("('landmark-tagger undo' reverts it)")
    return EXIT_OK


def _cmd_confirm(lib, args) -> int:
    return _report_change(lib.confirm([_photo_id(lib, t) for t in args.photos]), args)


def _cmd_reject(lib, args) -> int:
    return _report_change(lib.reject([_photo_id(lib, t) for t in args.photos], landmark=args.landmark), args)


def _print_proposals(props) -> None:
    for p in props:
        old = p.old_label_name or "(no landmark)"
        conf = f" {p.old_confidence:.2f}" if p.old_confidence is not None else ""
        print(
            f"{p.id:>6}  photo {p.photo.id:>6}  {_safe(old)}{conf} → {_safe(p.new_label_name)}  "
            f"sim {p.similarity:.3f}  {_safe(p.photo.path)}"
        )


def _cmd_suggestions(lib, args) -> int:
    props = lib.proposals(args.change)
    if args.json:
        _emit_json(props)
        return EXIT_OK
    if not props:
        print("No open proposals.")
        return EXIT_OK
    print(f"{len(props)} open proposal(s) (id, photo, old → new label, similarity); nothing changes until accepted:")
    _print_proposals(props)
    return EXIT_OK


def _proposal_ids(lib, args) -> list[int]:
    if bool(args.all) == bool(args.ids):
        raise UsageError("give proposal ids or --all")
    if args.change is not None and not args.all:
        raise UsageError("--change goes with --all")
    return list(args.ids) if args.ids else [p.id for p in lib.proposals(args.change)]


def _cmd_accept(lib, args) -> int:
    ids = _proposal_ids(lib, args)
    if not ids:
        report = None
    else:
        report = lib.accept_proposals(ids)
    if args.json:
        _emit_json({"report": report})
    else:
        print(report.message if report is not None else "No open proposals.")
    return EXIT_OK


def _cmd_dismiss(lib, args) -> int:
    ids = _proposal_ids(lib, args)
    n = lib.dismiss_proposals(ids) if ids else 0
    if args.json:
        _emit_json({"dismissed": n})
    else:
        print(f"{n} proposal(s) dismissed.")
    return EXIT_OK


def _cmd_more_like(lib, args) -> int:
    props = lib.more_like([_photo_id(lib, t) for t in args.photos])
    if args.json:
        _emit_json(props)
        return EXIT_OK
    print(
        f"{len(props)} new proposal(s); 'landmark-tagger accept ID...' applies them:" if props else "No new proposals."
    )
    _print_proposals(props)
    return EXIT_OK


def _cmd_undo(lib, args) -> int:
    change = lib.undo()
    if args.json:
        _emit_json({"undone": change})
    else:
        print(f"Undone: {_safe(change.description)}" if change else "Nothing to undo.")
    return EXIT_OK


def _cmd_redo(lib, args) -> int:
    change = lib.redo()
    if args.json:
        _emit_json({"redone": change})
    else:
        print(f"Redone: {_safe(change.description)}" if change else "Nothing to redo.")
    return EXIT_OK


def _cmd_history(lib, args) -> int:
    changes = lib.history(args.limit or None)
    if args.json:
        _emit_json(changes)
        return EXIT_OK
    if not changes:
        print("No corrections yet.")
    for c in changes:
        when = c.created_at.strftime("%Y-%m-%d %H:%M") if c.created_at else "?"
        state = " (undone)" if c.undone else ""
        print(f"{c.id:>5}  {when}  {c.kind:<12}  {c.photo_count:>4} photo(s)  {_safe(c.description)}{state}")
    return EXIT_OK


def _cmd_revert(lib, args) -> int:
    change = lib.revert(args.change_id)
    if args.json:
        _emit_json({"reverted": change})
    else:
        print(f"Reverted: {_safe(change.description)}")
    return EXIT_OK


def _cmd_export(lib, args) -> int:
    n = lib.export_corrections(args.csv, force=args.force)
    path = os.path.abspath(os.path.expanduser(args.csv))
    if args.json:
        _emit_json({"rows": n, "path": path})
    else:
        print(f"Wrote {n} labelled photo(s) to {_safe(path)}")
    return EXIT_OK


def _cmd_export_xmp(lib, args) -> int:
    from core.library import ExportError, SidecarOptions

    opts = SidecarOptions(convention=args.convention, estimated_gps=args.estimated_gps)
    report = lib.export_sidecars(opts, dry_run=args.dry_run)
    if args.json:
        _emit_json(
            {
                "dry_run": report.dry_run,
                "convention": opts.convention,
                "estimated_gps": opts.estimated_gps,
                "results": report.results,
                "counts": {o: len(report.outcomes(o)) for o in ("created", "updated", "cleaned", "unchanged", "error")},
                "skipped": report.skipped,
                "seconds": round(report.seconds, 3),
            }
        )
    else:
        for r in report.results:
            what = f"  ({_safe(r.landmark)})" if r.landmark else ""
            why = f": {_safe(r.reason)}" if r.reason else ""
            print(f"{r.outcome:<9}  {_safe(r.sidecar)}{what}{why}")
        print(("Dry run, nothing written: " if report.dry_run else "") + report.summary)
    if report.errors:
        n = len(report.errors)
        if report.dry_run:
            raise ExportError(f"{n} sidecar(s) cannot be written (listed above)")
        raise ExportError(f"{n} sidecar(s) could not be written (listed above)")
    return EXIT_OK


def _cmd_import_xmp(lib, args) -> int:
    report = lib.import_sidecars(dry_run=args.dry_run)
    if args.json:
        _emit_json(report)
        return EXIT_OK
    names = dict(lib.landmark_names())
    for pid, key in report.imported:
        print(f"{'would set' if report.dry_run else 'labelled'}  photo {pid:>6} → {_safe(names.get(key, key))}")
    for pid, why in report.conflicts:
        print(f"skipped    photo {pid:>6}: {_safe(why)}")
    for path, why in report.errors:
        print(f"unreadable {_safe(path)}: {_safe(why)} (left untouched)")
    print(report.message + (" ('landmark-tagger undo' reverts it)" if report.change else ""))
    return EXIT_OK


def _cmd_stats(lib, args) -> int:
    st = lib.stats()
    if args.json:
        _emit_json(st)
        return EXIT_OK
    for k, v in st.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}: {b}" for a, b in v.items())
        elif isinstance(v, list):
            v = ", ".join(str(x) for x in v) or "none"
        print(f"{k:<16} {_safe(v)}")
    return EXIT_OK


# ---------------------------------------------------------------------------- database safety (no Library)


def _cmd_check(args) -> int:
    from core.library import DatabaseDamagedError, check_library, damaged_message

    result = check_library(args.db, full=args.full)
    kind = "integrity_check" if result.full else "quick_check"
    if args.json:
        _emit_json({"ok": result.ok, "check": kind, "problems": result.problems, "seconds": result.seconds})
    elif result.ok:
        print(f"The library database is fine ({kind}, {result.seconds:.1f} s).")
    if not result.ok:
        raise DatabaseDamagedError(damaged_message(_db_shown(args), result.problems[0]))
    return EXIT_OK


def _db_shown(args) -> str:
    from core.paths import default_db_path

    return _safe(os.path.abspath(os.path.expanduser(args.db)) if args.db else default_db_path())


def _cmd_backups(args) -> int:
    from core.library import Library, library_backups

    if args.now:
        lib = Library.open(db_path=args.db, model_path=args.model, device=args.device)
        try:
            lib.backup_if_due(force=True)
        finally:
            lib.close()
    backups = library_backups(args.db)
    if args.json:
        _emit_json([{"number": i, **_jsonable(b)} for i, b in enumerate(backups, 1)])
        return EXIT_OK
    if not backups:
        print(f"No backups of {_db_shown(args)} yet (one is taken each day the library changes).")
        return EXIT_OK
    for i, b in enumerate(backups, 1):
        when = b.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
        rev = f", schema {b.revision}" if b.revision else ""
        print(f"{i:>3}  {when}  {b.kind:<9} {b.size / 1e6:8.1f} MB{rev}  {_safe(b.path)}")
    print(f"('{PROG} restore N' restores number N; '{PROG} rebuild' rebuilds from your photos)")
    return EXIT_OK


def _resolve_backup(args, token: str):
    from core.library import NotFoundError, library_backups

    if token.isdigit():
        backups = library_backups(args.db)
        n = int(token)
        if not 1 <= n <= len(backups):
            raise NotFoundError(f"there is no backup number {n} (see '{PROG} backups': {len(backups)} backup(s))")
        return backups[n - 1]
    path = Path(os.path.abspath(os.path.expanduser(token)))
    if not path.is_file():
        raise NotFoundError(f"no backup at {_safe(path)}")
    return path


def _cmd_restore(args) -> int:
    from core.library import BackupInfo, restore_library

    backup = _resolve_backup(args, args.backup)
    replaced = restore_library(args.db, backup)
    path = backup.path if isinstance(backup, BackupInfo) else backup
    if args.json:
        _emit_json({"restored": path, "replaced": replaced})
    else:
        print(f"Restored the library from {_safe(path)}.")
        if replaced is not None:
            print(f"The database it replaced was kept at {_safe(replaced)}.")
    return EXIT_OK


def _cmd_rebuild(args) -> int:
    from core.library import Library, rebuild_library

    backup = _resolve_backup(args, args.backup) if args.backup else None
    report = rebuild_library(args.db, backup)
    if not args.json:
        src = _safe(report.source) if report.source else "nothing (no readable backup)"
        kept = ", ".join(f"{n} {t}" for t, n in report.rows.items() if n) or "nothing"
        print(f"Rebuilt the library database; kept from {src}: {kept}.")
        if report.lost:
            print(f"Could not read: {', '.join(report.lost)}.")
        if report.replaced is not None:
            print(f"The damaged database was kept at {_safe(report.replaced)}.")
    if args.no_tag:
        if args.json:
            _emit_json({"rebuilt": report})
        return EXIT_OK
    lib = Library.open(db_path=args.db, model_path=args.model, device=args.device)
    try:
        if not lib.folders():
            if args.json:
                _emit_json({"rebuilt": report})
            return EXIT_OK
        return _cmd_tag(lib, args)
    finally:
        lib.close()


_COMMANDS = {
    "add-folder": _cmd_add_folder,
    "remove-folder": _cmd_remove_folder,
    "folders": _cmd_folders,
    "tag": _cmd_tag,
    "retry-failed": _cmd_retry_failed,
    "watch": _cmd_watch,
    "albums": _cmd_albums,
    "places": _cmd_places,
    "search": _cmd_search,
    "similar": _cmd_similar,
    "relabel": _cmd_relabel,
    "confirm": _cmd_confirm,
    "reject": _cmd_reject,
    "suggestions": _cmd_suggestions,
    "accept": _cmd_accept,
    "dismiss": _cmd_dismiss,
    "more-like": _cmd_more_like,
    "undo": _cmd_undo,
    "redo": _cmd_redo,
    "history": _cmd_history,
    "revert": _cmd_revert,
    "export-corrections": _cmd_export,
    "export-xmp": _cmd_export_xmp,
    "import-xmp": _cmd_import_xmp,
    "stats": _cmd_stats,
}

#: Commands that work on the database file without opening it as a library (they must work on a damaged one).
_REPAIR_COMMANDS = {
    "check": _cmd_check,
    "backups": _cmd_backups,
    "restore": _cmd_restore,
    "rebuild": _cmd_rebuild,
}


# ------------------------------------------------------------------------------------------- main


def _fail(message: str, code: int) -> int:
    line = _safe(" ".join(str(message).split()) or "unknown error")
    print(f"{PROG}: error: {line}", file=sys.stderr)
    return code


def _quiet_broken_pipe() -> int:
    """stdout's reader went away (``| head``): point stdout at the null device so the interpreter's final flush
    stays quiet, and return ``EXIT_BROKEN_PIPE`` (Python's documented recipe for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (tests, embedded)
        pass
    return EXIT_BROKEN_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``landmark-tagger`` command; returns the exit status (0 ok, 1 error, 2 usage, 130 Ctrl-C).

    Args:
        argv: the arguments without the program name (default ``sys.argv[1:]``).

    Errors never escape as tracebacks: ``LibraryError``, ``BundleError``, ``OSError`` (missing file,
    permission) and anything unexpected become one line on stderr (set ``LANDMARK_TAGGER_DEBUG=1`` to
    re-raise them instead).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        return _fail(f"{exc} (see '{PROG} --help')", EXIT_USAGE)
    except SystemExit as exc:  # --help / --version printed their text
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_USAGE
    debug = bool(os.environ.get("LANDMARK_TAGGER_DEBUG"))
    _configure_logging(debug)
    old_sigterm = _sigterm_as_interrupt()
    lib = None
    try:
        from core.library import Library

        if args.command in _REPAIR_COMMANDS:
            status = _REPAIR_COMMANDS[args.command](args)
        else:
            lib = Library.open(
                db_path=args.db,
                model_path=args.model,
                device=args.device,
                follow_links=bool(getattr(args, "follow_links", False)),
                verify=not args.no_verify,
            )
            status = _COMMANDS[args.command](lib, args)
        sys.stdout.flush()  # a reader that went away is noticed here, not at interpreter exit
        return status
    except UsageError as exc:
        return _fail(f"{exc} (see '{PROG} {args.command} --help')", EXIT_USAGE)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except Exception as exc:
        if debug:
            raise
        return _fail(_describe(exc), EXIT_ERROR)
    finally:
        if lib is not None:
            try:
                lib.close()
            except Exception:  # noqa: BLE001 - closing must not hide the real outcome
                pass
        if old_sigterm is not None:
            signal.signal(signal.SIGTERM, old_sigterm)


def _configure_logging(debug: bool) -> None:
    """Log records stay off the terminal (what matters is printed as one line; Python's last-resort handler
    used to print the watcher's warnings on stderr); ``LANDMARK_TAGGER_DEBUG=1`` shows them all."""
    import logging

    root = logging.getLogger()
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    elif not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())


def _describe(exc: BaseException) -> str:
    """One readable line for an exception."""
    from core.library import DatabaseDamagedError, LibraryError, TaggingBusyError
    from core.recognition.bundle import BundleError

    if isinstance(exc, DatabaseDamagedError):
        return (
            f"{exc}. To repair it: '{PROG} backups' lists the backups, '{PROG} restore 1' restores the newest, "
            f"'{PROG} rebuild' rebuilds it from your photos (keeping your corrections)"
        )
    if isinstance(exc, TaggingBusyError):
        return f"{exc} (without --no-wait, '{PROG} tag' waits for it)"
    if isinstance(exc, LibraryError):
        return str(exc)
    if isinstance(exc, BundleError):
        return f"cannot use the model: {exc}"
    if isinstance(exc, FileNotFoundError):
        return f"not found: {exc.filename or exc}"
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or exc}"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
    return f"unexpected {type(exc).__name__}: {exc} (set LANDMARK_TAGGER_DEBUG=1 for details)"


def _sigterm_as_interrupt():
    """Let ``kill`` stop ``watch``/``tag`` as cleanly as Ctrl-C (main thread only, and only when SIGTERM
    has its default action). Returns the previous handler to restore, or None when nothing changed."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        return None
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _raise_interrupt)
            return signal.SIG_DFL
    except (ValueError, OSError):  # pragma: no cover - embedded interpreters
        pass
    return None


def _raise_interrupt(signum, frame) -> None:  # pragma: no cover - signal handler
    raise KeyboardInterrupt


if __name__ == "__main__":  # pragma: no cover - `python -m cli.commands`
    sys.exit(main())
