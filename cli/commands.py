"""``landmark-tagger`` command line: sub-commands over the ``core.library.Library`` facade.

Usage (global options go before or after the sub-command)::

    landmark-tagger [--db PATH] [--model PATH] [--device auto|cpu|cuda|mps] [--json] COMMAND ...

    add-folder PATH...          add folders (recursively) to the library
    remove-folder PATH...       remove folders and their photos from the library (files untouched)
    tag                         scan all folders and tag new/changed photos (progress bar on stderr)
    watch                       watch the folders and tag changes until Ctrl-C (or --duration)
    albums                      landmark albums with counts, then Unrecognized/Has GPS/Needs review/Failed
    search [TEXT]               photos by landmark name and filters
    similar PHOTO               photos that look like PHOTO (an id or a path)
    relabel PHOTO...            correct labels (--landmark KEY | --new NAME | --not-landmark | --reject)
    undo                        undo the last correction
    export-corrections CSV      write manual labels as a path,label CSV for ``landmark-train``
    stats                       library numbers

``--json`` prints machine-readable JSON on stdout (``watch``: one JSON object per line) and no progress
bar. Exit status: 0 success, 1 error (one line on stderr, e.g. a locked database, a bad model bundle, a
missing folder), 2 bad command-line usage, 130 interrupted (Ctrl-C). Set ``LANDMARK_TAGGER_DEBUG=1`` to
get a traceback instead of the one line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
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
    p = cmd("tag", "scan all folders and tag new or changed photos")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
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
    cmd("albums", "landmark albums with photo counts")
    p = cmd("search", "find photos by landmark name and filters")
    p.add_argument("text", nargs="?", default=None, help="landmark name (prefix and typo tolerant)")
    p.add_argument("--source", choices=["model", "manual"], help="who set the label")
    p.add_argument("--min-conf", type=_confidence, metavar="P", help="lowest confidence (0..1)")
    p.add_argument("--max-conf", type=_confidence, metavar="P", help="highest confidence (0..1)")
    loc = p.add_mutually_exclusive_group()
    loc.add_argument("--has-gps", action="store_true", help="only photos with EXIF GPS coordinates")
    loc.add_argument("--estimated", action="store_true", help="only photos located from their landmark")
    p.add_argument(
        "--from", dest="date_from", type=_date_arg(False), metavar="DATE", help="taken on or after DATE (YYYY-MM-DD)"
    )
    p.add_argument(
        "--to",
        dest="date_to",
        type=_date_arg(True),
        metavar="DATE",
        help="taken on or before DATE (YYYY-MM-DD, the whole day)",
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
    cmd("undo", "undo the last correction")
    p = cmd("export-corrections", "write manual labels as a path,label CSV (for landmark-train)")
    p.add_argument("csv", metavar="CSV")
    cmd("stats", "numbers about the library")
    return parser


# ------------------------------------------------------------------------------------------- output


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
    sys.stdout.write(json.dumps(_jsonable(data), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _conf(c: float | None) -> str:
    return "" if c is None else f"{c:.2f}"


def _print_photos(rows) -> None:
    for s in rows:
        label = s.label_name or {
            "gps": "(has GPS)",
            "no_landmark": "(no landmark)",
            "failed": "(failed)",
            "pending": "(not tagged)",
        }.get(s.status, "")
        print(f"{s.id:>6}  {label:<28.28}  {_conf(s.confidence):>4}  {s.label_source or '':<6}  {s.path}")


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
        raise NotFoundError(f"no such photo: {path}")
    raise NotFoundError(f"not in the library (add its folder and run tag): {path}")


def _cmd_add_folder(lib, args) -> int:
    for p in args.paths:
        lib.add_folder(p)
    folders = lib.folders()
    if args.json:
        _emit_json({"added": [os.path.abspath(os.path.expanduser(p)) for p in args.paths], "folders": folders})
    else:
        for p in args.paths:
            print(f"Added {os.path.abspath(os.path.expanduser(p))}")
        print("Run 'landmark-tagger tag' to tag its photos.")
    return EXIT_OK


def _cmd_remove_folder(lib, args) -> int:
    for p in args.paths:
        lib.remove_folder(p)
    if args.json:
        _emit_json({"removed": [os.path.abspath(os.path.expanduser(p)) for p in args.paths], "folders": lib.folders()})
    else:
        for p in args.paths:
            print(f"Removed {os.path.abspath(os.path.expanduser(p))} (the photos themselves are untouched)")
    return EXIT_OK


def _cmd_tag(lib, args) -> int:
    from core.library import FolderError, LibraryError, TaggingError

    if not lib.folders():
        raise FolderError("the library has no folders yet: run 'landmark-tagger add-folder PATH' first")
    bar = _ProgressBar(enabled=not (args.json or args.no_progress))
    job = lib.start_tagging(bar)
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
        print(f"Done: {prog.message}" if prog.message else "Done.")
        if prog.counts:
            print("  " + ", ".join(f"{k}: {v}" for k, v in prog.counts.items()))
    return EXIT_OK if prog.state == "done" else EXIT_ERROR


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
                f"[{time.strftime('%H:%M:%S')}] {p.state}: {p.message}",
            )

    def on_change(batch) -> None:
        say(
            {"event": "change", "upserted": batch.upserted, "deleted": batch.deleted, "moved": batch.moved},
            f"[{time.strftime('%H:%M:%S')}] {len(batch.upserted)} new/changed, {len(batch.moved)} moved, "
            f"{len(batch.deleted)} deleted",
        )

    lib.start_watching(on_progress=on_progress, on_change=on_change, **opts)
    st = lib.stats()
    folders = [str(f) for f in lib.folders()]
    say(
        {
            "event": "watching",
            "folders": folders,
            "mode": st.get("watch_mode"),
            "fallback_reason": st.get("fallback_reason"),
        },
        f"Watching {len(folders)} folder(s) ({st.get('watch_mode')}"
        + (f": {st['fallback_reason']}" if st.get("fallback_reason") else "")
        + "). Ctrl-C to stop.",
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
        key = f"  [{a.ref.key}]" if a.ref.key else ""
        print(f"{a.count:>7}  {a.title}{extra}{key}")
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
        print(f"{sim:6.3f}  {s.id:>6}  {s.label_name or '':<28.28}  {s.path}")
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
    suggested = lib.suggestions(change) if change.rescored else []
    if args.json:
        _emit_json({"change": change, "suggestions": suggested})
        return EXIT_OK
    print(change.description)
    if suggested:
        print(f"{len(suggested)} other photo(s) now match too:")
        _print_photos(suggested)
    print("('landmark-tagger undo' reverts it)")
    return EXIT_OK


def _cmd_undo(lib, args) -> int:
    change = lib.undo()
    if args.json:
        _emit_json({"undone": change})
    else:
        print(f"Undone: {change.description}" if change else "Nothing to undo.")
    return EXIT_OK


def _cmd_export(lib, args) -> int:
    n = lib.export_corrections(args.csv)
    path = os.path.abspath(os.path.expanduser(args.csv))
    if args.json:
        _emit_json({"rows": n, "path": path})
    else:
        print(f"Wrote {n} labelled photo(s) to {path}")
    return EXIT_OK


def _cmd_stats(lib, args) -> int:
    st = lib.stats()
    if args.json:
        _emit_json(st)
        return EXIT_OK
    for k, v in st.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}: {b}" for a, b in v.items())
        print(f"{k:<16} {v}")
    return EXIT_OK


_COMMANDS = {
    "add-folder": _cmd_add_folder,
    "remove-folder": _cmd_remove_folder,
    "tag": _cmd_tag,
    "watch": _cmd_watch,
    "albums": _cmd_albums,
    "search": _cmd_search,
    "similar": _cmd_similar,
    "relabel": _cmd_relabel,
    "undo": _cmd_undo,
    "export-corrections": _cmd_export,
    "stats": _cmd_stats,
}


# ------------------------------------------------------------------------------------------- main


def _fail(message: str, code: int) -> int:
    line = " ".join(str(message).split()) or "unknown error"
    print(f"{PROG}: error: {line}", file=sys.stderr)
    return code


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
    old_sigterm = _sigterm_as_interrupt()
    lib = None
    try:
        from core.library import Library

        lib = Library.open(db_path=args.db, model_path=args.model, device=args.device, verify=not args.no_verify)
        return _COMMANDS[args.command](lib, args)
    except UsageError as exc:
        return _fail(f"{exc} (see '{PROG} {args.command} --help')", EXIT_USAGE)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
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


def _describe(exc: BaseException) -> str:
    """One readable line for an exception."""
    from core.library import LibraryError
    from core.recognition.bundle import BundleError

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
