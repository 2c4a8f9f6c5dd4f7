"""Corrections in the window: change label, confirm ✓, reject ✗, proposals, find more like this, undo, redo,
history and revert.

``CorrectionsController`` carries out what the person asked through the ``Library`` (``relabel``, ``confirm``,
``reject``, ``proposals``, ``accept_proposals``, ``dismiss_proposals``, ``more_like``, ``undo``, ``redo``,
``revert``, ``history``). Every library call runs in a worker thread (one at a time: a correction may wait on
the tagger's write lock, and teaching scores embeddings), and the result comes back to the GUI thread as a
signal. Undo and redo are the library's, kept in the database, so they survive a restart. The controller owns
no widgets of the window: the window refreshes the albums, the grid, the menus and the status bar from its
signals. Failures are reported by error class (``core.domain``), never as a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThreadPool, Signal
from PySide6.QtWidgets import QWidget

from core.domain import (
    NO_LANDMARK,
    AcceptReport,
    Change,
    ChangeKind,
    DatabaseError,
    InvalidRequestError,
    LibraryError,
    NotFoundError,
    PhotoStatus,
    Proposal,
)
from desktop.background import run_in_background
from desktop.errors import friendly_message, show_unexpected_error
from desktop.history import HistoryDialog
from desktop.proposals import ProposalsDialog, plural
from desktop.relabel import TOP_CHOICES, CurrentLabel, RelabelChoice, RelabelDialog
from desktop.thumbnails import ThumbnailLoader

if TYPE_CHECKING:
    from core.library import Library

log = logging.getLogger("landmark_tagger.desktop")

#: Calls that need the model (they teach: proposals come from its gallery and scoring). The model is loaded on first
#: use, so the first of them says so in the status bar.
MODEL_VERBS = frozenset({"change the label", "confirm the labels", "find more like this", "redo"})

#: Selected photos whose top-k the relabel dialog averages for its one-click choices (the rest are not read).
TOP_SAMPLE = 50


@dataclass(frozen=True)
class LibraryState:
    """What the menus show, read after every operation (in the worker).

    Attributes:
        last: the change Ctrl+Z undoes (``Library.last_change``), or ``None``.
        history: ``Library.history()``, newest first.
        open_proposals: number of open proposals.
        names: ``Library.landmark_names()``.
    """

    last: Change | None
    history: tuple[Change, ...]
    open_proposals: int
    names: tuple[tuple[str, str], ...]

    @property
    def redoable(self) -> tuple[Change, ...]:
        """The changes ``Library.redo`` may re-apply, newest id first."""
        return tuple(c for c in self.history if c.redoable)


def read_state(lib: Library) -> LibraryState:
    """The ``LibraryState`` of ``lib`` (any thread). Raises ``LibraryError`` when the database cannot be read."""
    return LibraryState(
        last=lib.last_change(),
        history=tuple(lib.history()),
        open_proposals=len(lib.proposals()),
        names=tuple(lib.landmark_names()),
    )


def describe_failure(verb: str, exc: BaseException) -> tuple[str, str]:
    """``(banner text, level)`` for an operation that failed, by the error's class.

    A request that cannot be carried out (``InvalidRequestError``) or a photo/change that is gone
    (``NotFoundError``) is a warning; a database that cannot be written, and every other failure, an error.
    """
    msg = friendly_message(exc)
    if isinstance(exc, (InvalidRequestError, NotFoundError)):
        return f"Could not {verb}: {msg}", "warning"
    if isinstance(exc, DatabaseError):
        return f"Could not {verb}: the library database cannot be written ({msg}). Nothing was changed.", "error"
    return f"Could not {verb}: {msg}", "error"


class CorrectionsController(QObject):
    """Corrections of the photos the person selected, proposals, undo/redo and history.

    Args:
        loader: thumbnails for the proposals dialog.
        dialog_parent: the window the dialogs belong to.

    Attributes:
        library: the open ``Library`` (``None`` while none is open; set by the window).
        names: ``Library.landmark_names()`` — ``[(key, display name)]`` offered by the relabel dialog.
        busy: a library call runs in the worker or waits to run.
        open_proposals: number of open proposals (after the last operation).
        relabel_dialog, proposals_dialog, history_dialog: the dialog shown last (tests drive them), or ``None``.

    Signals:
        changed(): labels changed (a correction, accepted proposals, undo, redo, revert): refresh what is shown.
        namesChanged(list): the landmark names changed (a landmark was created or deleted).
        undoChanged(str): what Ctrl+Z undoes ('' when nothing).
        redoChanged(bool, str): whether Ctrl+Shift+Z can redo, and what ('' when it cannot be named).
        proposalsChanged(int): the number of open proposals.
        offer(int, int, str): a correction made proposals: (change id, how many, the landmark's name or '').
        offerWithdrawn(int): the change (id) was undone or reverted: its proposals are withdrawn.
        status(str): a short note for the status bar (exactly what changed).
        problem(str, str): (message, level) for the window's banner; the operation did not happen.
        finished(object): an operation ended: its result, or the exception it failed with.
    """

    changed = Signal()
    namesChanged = Signal(list)
    undoChanged = Signal(str)
    redoChanged = Signal(bool, str)
    proposalsChanged = Signal(int)
    offer = Signal(int, int, str)
    offerWithdrawn = Signal(int)
    status = Signal(str)
    problem = Signal(str, str)
    finished = Signal(object)

    def __init__(self, loader: ThumbnailLoader, dialog_parent: QWidget):
        super().__init__(dialog_parent)
        self.loader = loader
        self.dialog_parent = dialog_parent
        self.library: Library | None = None
        self.names: list[tuple[str, str]] = []
        self.open_proposals = 0
        self._queue: list[tuple[str, Callable[[Library], Any], Callable[[Any], None] | None]] = []
        self._running = False
        self.relabel_dialog: RelabelDialog | None = None
        self.proposals_dialog: ProposalsDialog | None = None
        self.history_dialog: HistoryDialog | None = None
        self._redo_ids: list[int] = []  # changes undone in this window, most recent last (the redo order)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)

    # ------------------------------------------------------------------------------------ running
    def _run(
        self,
        verb: str,
        fn: Callable[[Library], Any],
        on_done: Callable[[Any], None] | None = None,
    ) -> bool:
        """Run ``fn(library)`` then ``read_state`` in the worker; in the GUI thread call ``on_done(result)``,
        update the menus, then emit ``finished``. Calls run one at a time, in the order asked (a call asked
        while another runs waits for it). ``False`` when no library is open."""
        if self.library is None:
            return False
        self._queue.append((verb, fn, on_done))
        if not self._running:
            self._next()
        return True

    @property
    def busy(self) -> bool:
        """A library call runs or waits to run."""
        return self._running or bool(self._queue)

    def _next(self) -> None:
        lib = self.library
        if not self._queue or lib is None:
            self._queue.clear()
            return
        verb, fn, on_done = self._queue.pop(0)
        self._running = True
        if verb in MODEL_VERBS and not getattr(lib, "model_loaded", True):
            self.status.emit("Loading the model…")  # the first teaching correction loads it (a few seconds)

        def work() -> tuple[Any, LibraryState]:
            result = fn(lib)
            return result, read_state(lib)

        def done(out: tuple[Any, LibraryState]) -> None:
            self._running = False
            if lib is self.library:  # else the library closed meanwhile
                result, state = out
                self._show_names(state.names)  # on_done may name a landmark the call created
                if on_done is not None:
                    on_done(result)
                self._show_state(state)
                self.finished.emit(result)
            self._next()

        def failed(exc: Exception) -> None:
            self._running = False
            if lib is not self.library:
                log.info("%s after the library closed: %s", verb, friendly_message(exc))
            elif isinstance(exc, LibraryError):
                self.problem.emit(*describe_failure(verb, exc))
            else:  # a bug: the traceback goes to the log and behind "Show Details…"
                tb = getattr(exc, "__traceback_text__", "")
                log.error("%s failed unexpectedly\n%s", verb, tb)
                show_unexpected_error(exc, tb)
                self.problem.emit(*describe_failure(verb, exc))
            if lib is self.library:
                self.finished.emit(exc)
            self._next()

        def orphan(_result: Any) -> None:
            self._running = False

        run_in_background(work, done, failed, self._pool, owner=self, on_orphan=orphan)

    def wait_idle(self, msecs: int = 10_000) -> bool:
        """Drop the calls waiting to run and wait up to ``msecs`` for the one in flight (before the library is
        closed)."""
        self._queue.clear()
        return self._pool.waitForDone(msecs)

    def refresh_state(self) -> bool:
        """Re-read what the menus show (undo, redo, open proposals), e.g. after opening or tagging."""
        return self._run("read the history", lambda lib: None)

    def _show_state(self, state: LibraryState) -> None:
        self.undoChanged.emit(state.last.description if state.last is not None else "")
        live = {c.id: c for c in state.redoable}
        self._redo_ids = [i for i in self._redo_ids if i in live]
        if self._redo_ids:  # undone in this window: the latest is what redo re-applies
            self.redoChanged.emit(True, live[self._redo_ids[-1]].description)
        elif len(live) == 1:
            self.redoChanged.emit(True, next(iter(live.values())).description)
        else:  # several undone before this window opened: their order is the database's
            self.redoChanged.emit(bool(live), "")
        self.open_proposals = state.open_proposals
        self.proposalsChanged.emit(state.open_proposals)
        self._show_names(state.names)
        if self.history_dialog is not None and self.history_dialog.isVisible():
            self.history_dialog.set_changes(state.history)

    def _show_names(self, names: Sequence[tuple[str, str]]) -> None:
        if list(names) != self.names:
            self.names = list(names)
            self.namesChanged.emit(self.names)

    # ------------------------------------------------------------------------------------ corrections
    def relabel(self, ids: list[int], current: str | None = None) -> None:
        """Open the relabel dialog (non-blocking) for the photos ``ids``: it opens on their current label with
        the model's top guesses as one-click choices. ``current``: the label's name when the caller knows it."""
        if not ids or self.library is None:
            return
        label: CurrentLabel | None
        try:
            self.names = self.library.landmark_names()
            label, top = self.relabel_context(ids)
        except LibraryError as exc:  # the dialog still offers the names read before
            log.warning("cannot read the photos' labels: %s", exc)
            label, top = (CurrentLabel(name=current) if current else None), []
        dlg = RelabelDialog(self.names, len(ids), label, self.dialog_parent, top=top)
        self.relabel_dialog = dlg
        dlg.accepted.connect(lambda: dlg.choice is not None and self.apply(ids, dlg.choice))
        dlg.open()

    def relabel_context(self, ids: Sequence[int]) -> tuple[CurrentLabel, list[tuple[str, str, float]]]:
        """The selected photos' common label and the model's best guesses for them (averaged top-k of at most
        ``TOP_SAMPLE`` photos, rejected landmarks left out: the best ``TOP_CHOICES`` landmarks, then the
        ``NO_LANDMARK`` guess if any), for the relabel dialog. Small reads (GUI thread).

        Raises:
            LibraryError: the database cannot be read.
        """
        assert self.library is not None
        details = []
        for pid in list(ids)[:TOP_SAMPLE]:
            try:
                details.append(self.library.photo(pid))
            except NotFoundError:
                continue
        labels = {(d.label, d.label_source) for d in details}
        if len(details) == 1:
            d = details[0]
            conf = d.confidence if d.label_source == "model" else None
            name = d.label_name or ("" if d.label else _no_label_name(d.status))
            label = CurrentLabel(d.label, name, conf, mine=d.label_source == "manual")
        elif len({lab for lab, _ in labels}) == 1 and details:
            d = details[0]
            mine = all(src == "manual" for _, src in labels)
            label = CurrentLabel(d.label, d.label_name or "", None, mine=mine)
        else:
            label = CurrentLabel(mixed=True)
        sums: dict[str, list] = {}
        for d in details:
            for key, name, conf in d.top_k:
                if key in d.rejected:
                    continue
                entry = sums.setdefault(key, [name or key, 0.0])
                entry[1] += conf
        n = max(1, len(details))
        top = sorted(((k, v[0], v[1] / n) for k, v in sums.items()), key=lambda t: -t[2])
        landmarks = [t for t in top if t[0] != NO_LANDMARK][:TOP_CHOICES]
        return label, landmarks + [t for t in top if t[0] == NO_LANDMARK]

    def mark_not_landmark(self, ids: list[int]) -> bool:
        """Label the photos ``ids`` "not a landmark" (N)."""
        return bool(ids) and self.apply(ids, RelabelChoice(not_landmark=True))

    def apply(self, ids: list[int], choice: RelabelChoice) -> bool:
        """Apply ``choice`` to exactly the photos ``ids`` (in the worker); proposals it made are offered, not
        applied. ``False`` when it could not start (``finished`` follows otherwise)."""
        if not ids:
            return False
        kwargs = choice.kwargs()
        return self._run("change the label", lambda lib: lib.relabel(ids, **kwargs), self._on_change)

    def confirm(self, ids: list[int]) -> bool:
        """Confirm ✓ (Y): the photos' current labels become the person's, locked."""
        return bool(ids) and self._run("confirm the labels", lambda lib: lib.confirm(ids), self._on_change)

    def reject(self, ids: list[int]) -> bool:
        """Reject ✗ (X): the photos do not show their label; each takes the model's next guess."""
        return bool(ids) and self._run("reject the labels", lambda lib: lib.reject(ids), self._on_change)

    def _on_change(self, change: Change) -> None:
        self._redo_ids.clear()  # a new change ends redo
        n = change.proposals
        parts = [change.description]
        if n:
            parts.append(f"{plural(n, 'proposal')} to review")
        self.status.emit("; ".join(parts) + ". Press Ctrl+Z to undo.")
        self.changed.emit()
        if n and change.kind != ChangeKind.REJECT:
            self.offer.emit(change.id, n, self.target_name(change) if change.landmark else "")

    def target_name(self, change: Change) -> str:
        """Display name of the label ``change`` set ("Not a landmark" for not_landmark)."""
        if change.kind == ChangeKind.NOT_LANDMARK or change.landmark is None:
            return "Not a landmark"
        return dict(self.names).get(change.landmark, change.landmark)

    # ------------------------------------------------------------------------------------ proposals
    def review_proposals(self, change_id: int | None = None) -> bool:
        """Read the open proposals (of change ``change_id``, else all) and show them in ``ProposalsDialog``."""

        def show(props: list[Proposal]) -> None:
            if not props:
                self.status.emit("No proposals to review.")
                return
            targets = {p.new_label_name for p in props}
            what = f"may also be “{next(iter(targets))}”" if len(targets) == 1 else "may show other landmarks"
            subject = plural(len(props), "photo") if change_id is not None else plural(len(props), "open proposal")
            title = f"{subject} {what}." if change_id is not None else f"{subject}: these photos {what}."
            self.show_proposals(props, title)

        return self._run("read the proposals", lambda lib: lib.proposals(change_id), show)

    def more_like(self, ids: list[int]) -> bool:
        """Find more like this (M): propose the selected photos' landmarks for look-alike photos, even ones the
        model is sure about, and show the proposals."""

        def show(props: list[Proposal]) -> None:
            if not props:
                self.status.emit("No other photos look enough like this.")
                return
            names = {p.new_label_name for p in props}
            what = f"may also be “{next(iter(names))}”" if len(names) == 1 else "may show the same landmarks"
            self.status.emit(f"{plural(len(props), 'proposal')} to review.")
            self.show_proposals(props, f"{plural(len(props), 'photo')} {what}.")

        return bool(ids) and self._run("find more like this", lambda lib: lib.more_like(ids), show)

    def show_proposals(self, proposals: list[Proposal], title: str) -> ProposalsDialog:
        """Show ``proposals`` in a ``ProposalsDialog`` (non-blocking); its buttons accept or dismiss them."""
        if self.proposals_dialog is not None:
            self.proposals_dialog.close()
        dlg = ProposalsDialog(proposals, title, self.loader, self.dialog_parent)
        self.proposals_dialog = dlg
        dlg.acceptRequested.connect(self.accept_proposals)
        dlg.dismissRequested.connect(self.dismiss_proposals)
        dlg.open()
        return dlg

    def accept_proposals(self, proposal_ids: list[int]) -> bool:
        """Apply exactly these proposals (one undoable change); skipped ones are reported."""
        return bool(proposal_ids) and self._run(
            "accept the proposals", lambda lib: lib.accept_proposals(proposal_ids), self._on_accepted
        )

    def _on_accepted(self, report: AcceptReport) -> None:
        if report.change is not None:
            self._redo_ids.clear()
            self.changed.emit()
        self.status.emit(report.message + (". Press Ctrl+Z to undo." if report.change is not None else ""))
        if report.skipped_deleted or report.skipped_other:
            self.problem.emit(f"Proposals: {report.message}.", "warning")

    def dismiss_proposals(self, proposal_ids: list[int]) -> bool:
        """Dismiss these proposals (never proposed again); no label changes."""

        def done(n: int) -> None:
            self.status.emit(f"Dismissed {plural(n, 'proposal')}; no label changed.")

        return bool(proposal_ids) and self._run(
            "dismiss the proposals", lambda lib: lib.dismiss_proposals(proposal_ids), done
        )

    # ------------------------------------------------------------------------------------ undo, redo, history
    def undo(self) -> bool:
        """Undo the latest change not undone yet (Ctrl+Z; kept in the database)."""

        def done(change: Change | None) -> None:
            if change is None:
                self.status.emit("Nothing to undo.")
                return
            self._redo_ids.append(change.id)
            self.offerWithdrawn.emit(change.id)
            self.status.emit(f"Undone: {change.description}. Press Ctrl+Shift+Z to redo.")
            self.changed.emit()

        return self._run("undo", lambda lib: lib.undo(), done)

    def redo(self) -> bool:
        """Re-apply the change undone last (Ctrl+Shift+Z)."""

        def done(change: Change | None) -> None:
            if change is None:
                self.status.emit("Nothing to redo.")
                return
            if change.id in self._redo_ids:
                self._redo_ids.remove(change.id)
            more = f"; {plural(change.proposals, 'proposal')} to review" if change.proposals else ""
            self.status.emit(f"Redone: {change.description}{more}.")
            self.changed.emit()

        return self._run("redo", lambda lib: lib.redo(), done)

    def revert(self, change_id: int) -> bool:
        """Revert any change of the history (its photos get back their labels; later changes stay)."""

        def done(change: Change) -> None:
            self._redo_ids.append(change.id)
            self.offerWithdrawn.emit(change.id)
            self.status.emit(f"Reverted: {change.description}.")
            self.changed.emit()

        return self._run("revert the change", lambda lib: lib.revert(change_id), done)

    def show_history(self) -> bool:
        """Read the history and show it in ``HistoryDialog`` (non-blocking)."""

        def show(_none: None) -> None:
            if self.history_dialog is not None and self.history_dialog.isVisible():
                self.history_dialog.raise_()
                return
            dlg = HistoryDialog([], self.dialog_parent)
            self.history_dialog = dlg
            dlg.revertRequested.connect(self.revert)
            dlg.open()  # _show_state fills it right after this

        return self._run("read the history", lambda lib: None, show)


def _no_label_name(status: str) -> str:
    return {
        PhotoStatus.NO_LANDMARK: "no landmark",
        PhotoStatus.PENDING: "not tagged yet",
        PhotoStatus.FAILED: "unreadable",
        PhotoStatus.GPS: "has GPS, not tagged",
    }.get(status, "no landmark")
