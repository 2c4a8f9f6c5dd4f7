"""Proposals in the window: the non-modal offer after a correction and the dialog that reviews them.

Teaching from the person's labels only *proposes* labels for other photos (``core.domain.Proposal``); nothing
changes until the person ticks photos and clicks "Accept ticked". ``ProposalOffer`` is the strip that says a
correction made proposals ("3 photos may also be Eiffel Tower — Review…"); ``ProposalsDialog`` lists them with
thumbnail, old → new label and similarity, every row unticked, "Not now" as the default button (Enter accepts
nothing). The dialogs never call the library: they say what the person asked for through signals, and
``corrections_controller`` carries it out off the GUI thread.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.domain import Proposal
from desktop.thumbnails import ThumbnailLoader, placeholder_pixmap

#: Thumbnail edge in the proposals list, pixels.
THUMB_EDGE = 72
#: Columns of the proposals list.
COLUMNS = ("Photo", "Now", "Proposed", "Similarity")


def plural(n: int, word: str) -> str:
    """``"1 photo"``, ``"3 photos"``."""
    return f"{n} {word}{'s' if n != 1 else ''}"


def _now_text(p: Proposal) -> str:
    conf = f" ({p.photo.confidence * 100:.0f}%)" if p.photo.confidence is not None else ""
    return f"{p.photo.label_name or 'No landmark'}{conf}"


class ProposalsDialog(QDialog):
    """Review proposals: tick the right ones, then accept or dismiss them.

    Every row starts unticked; "Not now" (the default button: Enter, Escape) closes and leaves them open.
    "Accept ticked" and "Dismiss ticked" are enabled only while something is ticked; they emit their
    signal with the ticked proposal ids and close the dialog.

    Args:
        proposals: the ``Proposal`` s to show, best first.
        title: the header's first line (e.g. "3 photos may also be “Eiffel Tower”.").
        loader: thumbnails.

    Attributes:
        proposals: as given. photos: their photos (``PhotoSummary``), row order.
        table: the list (column 0 holds the tick box and the thumbnail).
        accept_button, dismiss_button, not_now_button, tick_all_button, tick_none_button: the buttons.

    Signals:
        acceptRequested(list): ids of the ticked proposals, "Accept ticked" was clicked.
        dismissRequested(list): ids of the ticked proposals, "Dismiss ticked" was clicked.
    """

    acceptRequested = Signal(list)
    dismissRequested = Signal(list)

    def __init__(self, proposals: Sequence[Proposal], title: str, loader: ThumbnailLoader, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Review proposals")
        self.resize(800, 600)
        self.proposals = list(proposals)
        self.photos = [p.photo for p in self.proposals]
        self.loader = loader
        lay = QVBoxLayout(self)
        self.header = QLabel(
            f"<b>{title}</b><br>Nothing has changed. Tick the photos that are right, then “Accept ticked”. "
            "Proposals you leave stay in Edit → Review Proposals."
        )
        self.header.setWordWrap(True)
        lay.addWidget(self.header)

        self.table = QTableWidget(len(self.proposals), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(THUMB_EDGE + 8)
        self.table.setIconSize(QSize(THUMB_EDGE, THUMB_EDGE))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2):
            head.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self._rows_of_key: dict[str, QTableWidgetItem] = {}
        ph = QIcon(placeholder_pixmap(THUMB_EDGE))
        for row, prop in enumerate(self.proposals):
            p = prop.photo
            first = QTableWidgetItem(ph, p.path.name)
            first.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsUserCheckable)
            first.setCheckState(Qt.CheckState.Unchecked)
            first.setData(Qt.ItemDataRole.UserRole, p.id)
            first.setData(Qt.ItemDataRole.UserRole + 1, prop.id)
            first.setToolTip(str(p.path))
            self.table.setItem(row, 0, first)
            now = QTableWidgetItem(_now_text(prop))
            now.setToolTip("The photo's label now (the model's guess and its confidence)")
            self.table.setItem(row, 1, now)
            self.table.setItem(row, 2, QTableWidgetItem(f"→ {prop.new_label_name}"))
            sim = QTableWidgetItem(f"{prop.similarity:.2f}")
            sim.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            sim.setToolTip("Cosine similarity to your photos of the proposed landmark (1 = identical)")
            self.table.setItem(row, 3, sim)
            key = f"proposal-{p.id}-{THUMB_EDGE}"
            pm = loader.pixmap(key)
            if pm is not None:
                first.setIcon(QIcon(pm))
            else:
                self._rows_of_key[key] = first
                loader.request(key, p.path, THUMB_EDGE)
        loader.thumbnailReady.connect(self._on_thumb)
        self.table.itemChanged.connect(lambda _it: self._update_buttons())
        lay.addWidget(self.table, 1)

        buttons = QHBoxLayout()
        self.tick_all_button = QPushButton("Tick all")
        self.tick_none_button = QPushButton("Tick none")
        self.dismiss_button = QPushButton("Dismiss ticked")
        self.dismiss_button.setToolTip("These proposals are wrong: never propose them again")
        self.accept_button = QPushButton("Accept ticked")
        self.accept_button.setToolTip("Give the ticked photos the proposed label (one change; Ctrl+Z undoes it)")
        self.not_now_button = QPushButton("Not now")
        self.not_now_button.setToolTip("Close; nothing changes and the proposals stay open")
        for b in (self.tick_all_button, self.tick_none_button, self.dismiss_button, self.accept_button):
            b.setAutoDefault(False)
        self.not_now_button.setDefault(True)
        buttons.addWidget(self.tick_all_button)
        buttons.addWidget(self.tick_none_button)
        buttons.addStretch(1)
        buttons.addWidget(self.dismiss_button)
        buttons.addWidget(self.accept_button)
        buttons.addWidget(self.not_now_button)
        lay.addLayout(buttons)
        self.tick_all_button.clicked.connect(lambda: self.set_all_ticked(True))
        self.tick_none_button.clicked.connect(lambda: self.set_all_ticked(False))
        self.accept_button.clicked.connect(self._accept_ticked)
        self.dismiss_button.clicked.connect(self._dismiss_ticked)
        self.not_now_button.clicked.connect(self.reject)
        self._update_buttons()

    # ------------------------------------------------------------------------------------------
    def _ticked_items(self) -> list[QTableWidgetItem]:
        items = [self.table.item(r, 0) for r in range(self.table.rowCount())]
        return [it for it in items if it is not None and it.checkState() == Qt.CheckState.Checked]

    def accepted_ids(self) -> list[int]:
        """Photo ids of the ticked rows."""
        return [int(it.data(Qt.ItemDataRole.UserRole)) for it in self._ticked_items()]

    def accepted_proposal_ids(self) -> list[int]:
        """Proposal ids of the ticked rows."""
        return [int(it.data(Qt.ItemDataRole.UserRole + 1)) for it in self._ticked_items()]

    def set_ticked(self, row: int, ticked: bool = True) -> None:
        """Tick (or untick) the row ``row``."""
        it = self.table.item(row, 0)
        if it is not None:
            it.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)

    def set_all_ticked(self, ticked: bool) -> None:
        """Tick (or untick) every row."""
        for r in range(self.table.rowCount()):
            self.set_ticked(r, ticked)

    def _update_buttons(self) -> None:
        n = len(self._ticked_items())
        self.accept_button.setEnabled(n > 0)
        self.dismiss_button.setEnabled(n > 0)
        self.accept_button.setText(f"Accept ticked ({n})" if n else "Accept ticked")
        self.dismiss_button.setText(f"Dismiss ticked ({n})" if n else "Dismiss ticked")

    def _accept_ticked(self) -> None:
        ids = self.accepted_proposal_ids()
        if ids:
            self.acceptRequested.emit(ids)
            self.accept()

    def _dismiss_ticked(self) -> None:
        ids = self.accepted_proposal_ids()
        if ids:
            self.dismissRequested.emit(ids)
            self.accept()

    def _on_thumb(self, key: str) -> None:
        it = self._rows_of_key.pop(key, None)
        if it is not None:
            pm = self.loader.pixmap(key)
            if pm is not None:
                it.setIcon(QIcon(pm))


class ProposalOffer(QFrame):
    """The strip under the banner after a correction made proposals: "3 photos may also be Eiffel Tower.
    Nothing changed. [Review…] [Not now]". Non-modal: the person can go on working and review later.

    Attributes:
        change_id: the change whose proposals are offered (``None`` while hidden).

    Signals:
        reviewClicked(object): "Review…" was clicked; carries ``change_id``.
    """

    reviewClicked = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("proposalOffer")
        self.setStyleSheet(
            "QFrame#proposalOffer {background:#ecfdf5; color:#064e3b; border:1px solid #6ee7b7; border-radius:4px;}"
        )
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 4, 6, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.review_button = QPushButton("Review…")
        self.not_now_button = QPushButton("Not now")
        self.not_now_button.setFlat(True)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.review_button)
        lay.addWidget(self.not_now_button)
        self.change_id: int | None = None
        self.review_button.clicked.connect(self._on_review)
        self.not_now_button.clicked.connect(self.dismiss)
        self.hide()

    def show_offer(self, change_id: int, count: int, target: str | None) -> None:
        """Offer the ``count`` proposals of change ``change_id`` (``target``: the proposed landmark's name)."""
        self.change_id = change_id
        what = f"may also be “{target}”" if target else "may show the landmarks you labelled"
        self.label.setText(f"{plural(count, 'other photo')} {what}. Nothing has changed — review them?")
        self.show()

    def dismiss(self) -> None:
        """Hide the offer (the proposals stay open: Edit → Review Proposals)."""
        self.change_id = None
        self.hide()

    def withdraw(self, change_id: int) -> None:
        """Hide the offer if it is the one of change ``change_id`` (undone or reverted: no proposals left)."""
        if self.change_id == change_id:
            self.dismiss()

    def _on_review(self) -> None:
        cid = self.change_id
        self.dismiss()
        self.reviewClicked.emit(cid)
