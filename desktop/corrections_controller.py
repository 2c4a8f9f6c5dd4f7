"""Corrections in the window: the relabel dialog, the "label these too?" proposals, and undo.

``CorrectionsController`` calls ``Library.relabel`` / ``proposals`` / ``accept_proposals`` / ``undo`` and keeps
the stack of
changes made in this window (Ctrl+Z). It owns no widgets of the window: it says what changed through
signals, and the window refreshes the albums, the grid, the undo action and the status bar.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from core.domain import Change, LibraryError
from desktop.errors import friendly_message
from desktop.relabel import RelabelChoice, RelabelDialog, SuggestionsDialog
from desktop.thumbnails import ThumbnailLoader

if TYPE_CHECKING:
    from core.library import Library

log = logging.getLogger("landmark_tagger.desktop")


class CorrectionsController(QObject):
    """Relabel, suggestions and undo for the photos the user selected.

    Args:
        loader: thumbnails for the suggestions dialog.
        dialog_parent: the window the dialogs belong to.

    Attributes:
        library: the open ``Library`` (``None`` while none is open; set by the window).
        names: ``Library.landmark_names()`` — ``[(key, display name)]`` offered by the relabel dialog.
        undo_stack: the ``Change`` s made in this window, oldest first.
        relabel_dialog, suggestions_dialog: the dialog shown last (tests drive them), or ``None``.

    Signals:
        changed(): labels changed (a correction, accepted suggestions, an undo): refresh what is shown.
        namesChanged(list): the landmark names after a correction created a landmark.
        undoChanged(str): description of the change Ctrl+Z would undo ('' when there is none).
        status(str): a short note for the status bar.
        problem(str, str): (message, level) for the window's banner; the correction did not happen.
    """

    changed = Signal()
    namesChanged = Signal(list)
    undoChanged = Signal(str)
    status = Signal(str)
    problem = Signal(str, str)

    def __init__(self, loader: ThumbnailLoader, dialog_parent: QWidget):
        super().__init__(dialog_parent)
        self.loader = loader
        self.dialog_parent = dialog_parent
        self.library: Library | None = None
        self.names: list[tuple[str, str]] = []
        self.undo_stack: list[Change] = []
        self.relabel_dialog: RelabelDialog | None = None
        self.suggestions_dialog: SuggestionsDialog | None = None

    # ------------------------------------------------------------------------------------------
    def relabel(self, ids: list[int], current: str | None = None) -> None:
        """Open the relabel dialog (non-blocking) for the photos ``ids``; ``current``: their label's name."""
        if not ids or self.library is None:
            return
        try:
            self.names = self.library.landmark_names()
        except LibraryError as exc:  # the dialog still offers the names read before
            log.warning("cannot read the landmark names: %s", exc)
        dlg = RelabelDialog(self.names, len(ids), current, self.dialog_parent)
        self.relabel_dialog = dlg
        dlg.accepted.connect(lambda: dlg.choice is not None and self.apply(ids, dlg.choice))
        dlg.open()

    def mark_not_landmark(self, ids: list[int]) -> None:
        """Label the photos ``ids`` "not a landmark" at once (N)."""
        if ids:
            self.apply(ids, RelabelChoice(not_landmark=True))

    def apply(self, ids: list[int], choice: RelabelChoice) -> Change | None:
        """Apply ``choice`` to the photos ``ids`` and offer look-alike photos.

        Returns:
            the ``Change`` (for undo), or ``None`` when the library refused it (``problem`` says why).
        """
        if self.library is None:
            return None
        try:
            change = self.library.relabel(ids, **choice.kwargs())
        except LibraryError as exc:
            self.problem.emit(f"Could not change the label: {friendly_message(exc)}", "error")
            return None
        self._push(change)
        if choice.new_name:
            try:
                self.names = self.library.landmark_names()
            except LibraryError as exc:
                log.warning("cannot read the landmark names: %s", exc)
            else:
                self.namesChanged.emit(self.names)
        self.changed.emit()
        self.offer_suggestions(change)
        return change

    def offer_suggestions(self, change: Change) -> None:
        """Show the proposals ``change`` made (photos that may show its landmark), unticked: nothing is
        applied unless the person ticks photos and accepts."""
        if change.kind == "reject" or self.library is None or not change.proposals:
            return
        try:
            proposals = self.library.proposals(change)
        except LibraryError as exc:
            log.warning("suggestions failed: %s", exc)
            return
        corrected = set(change.photo_ids)
        proposals = [p for p in proposals if p.photo.id not in corrected]
        if not proposals:
            return
        dlg = SuggestionsDialog(proposals, self.target_name(change), self.loader, self.dialog_parent)
        self.suggestions_dialog = dlg
        dlg.accepted.connect(lambda: self._accept_suggestions(dlg.accepted_proposal_ids()))
        dlg.open()

    def undo(self) -> bool:
        """Undo the last correction made in this window (Ctrl+Z); ``False`` when there is none or it failed."""
        if not self.undo_stack or self.library is None:
            return False
        change = self.undo_stack.pop()
        try:
            self.library.undo(change)
        except LibraryError as exc:
            self.undo_stack.append(change)
            self.problem.emit(f"Could not undo: {friendly_message(exc)}", "error")
            return False
        self.undoChanged.emit(self.undo_stack[-1].description if self.undo_stack else "")
        self.status.emit(f"Undone: {change.description}")
        self.changed.emit()
        return True

    def target_name(self, change: Change) -> str:
        """Display name of the label ``change`` set ("Not a landmark" for not_landmark)."""
        if change.kind == "not_landmark" or change.landmark is None:
            return "Not a landmark"
        return dict(self.names).get(change.landmark, change.landmark)

    # ------------------------------------------------------------------------------------------
    def _accept_suggestions(self, proposal_ids: list[int]) -> None:
        if not proposal_ids or self.library is None:
            return
        try:
            report = self.library.accept_proposals(proposal_ids)
        except LibraryError as exc:
            self.problem.emit(f"Could not label the suggested photos: {friendly_message(exc)}", "error")
            return
        if report.change is not None:
            self._push(report.change)
        self.status.emit(report.message)
        self.changed.emit()

    def _push(self, change: Change) -> None:
        self.undo_stack.append(change)
        self.undoChanged.emit(change.description)
        self.status.emit(f"{change.description}. Press Ctrl+Z to undo.")
