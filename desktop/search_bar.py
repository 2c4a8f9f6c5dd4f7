"""The search bar above the grid: the search field and the confidence, label-source and date filters.

It turns what the user typed and picked into a ``core.domain.SearchQuery`` (``query()``) and says when
that changed (``changed``; typing is debounced so the grid is not re-read on every key press).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from PySide6.QtCore import QDate, QDateTime, QTime, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDateEdit, QHBoxLayout, QLabel, QLineEdit, QWidget

from core.domain import LabelSource, SearchQuery
from desktop.relabel import make_completer
from desktop.settings import DEFAULT_REVIEW_THRESHOLD

#: Debounce of the search field (milliseconds after the last key press).
SEARCH_DEBOUNCE_MS = 250


class ConfidenceFilter(NamedTuple):
    """One entry of the confidence filter: an inclusive range of confidence in [0, 1] (``None`` = open)."""

    label: str
    min: float | None = None
    max: float | None = None
    below_review: bool = False  #: the range ends just below the review threshold


CONFIDENCE_FILTERS = [
    ConfidenceFilter("Any confidence"),
    ConfidenceFilter("Confident (≥ 80%)", min=0.8),
    ConfidenceFilter("Fairly sure (≥ 50%)", min=0.5),
    ConfidenceFilter("Unsure (below review threshold)", below_review=True),
]
#: Label-source filters: (label, ``SearchQuery.label_source``).
SOURCE_FILTERS: list[tuple[str, str | None]] = [
    ("Any source", None),
    ("Labelled by the model", LabelSource.MODEL),
    ("Labelled by you", LabelSource.MANUAL),
]


class SearchBar(QWidget):
    """Search field + filters in one row.

    Attributes:
        field: the search ``QLineEdit`` (a completer over the landmark names, see ``set_names``).
        confidence_filter, source_filter: ``QComboBox`` es over ``CONFIDENCE_FILTERS`` / ``SOURCE_FILTERS``.
        date_check, date_from, date_to: the "Taken between" check box and its two dates.
        review_threshold: confidence in [0, 1] the "Unsure" filter stays below.

    Signals:
        changed(): the query changed (after ``SEARCH_DEBOUNCE_MS`` of no typing, at once for Enter and filters).
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.review_threshold = DEFAULT_REVIEW_THRESHOLD
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.changed)

        self.field = QLineEdit()
        self.field.setPlaceholderText("Search landmarks…  (e.g. Colosseum, taj, petra)")
        self.field.setClearButtonEnabled(True)
        self.field.setMinimumWidth(240)
        self.field.textChanged.connect(lambda _t: self._debounce.start())
        self.field.returnPressed.connect(self._changed_now)
        row.addWidget(self.field, 1)

        self.confidence_filter = QComboBox()
        for entry in CONFIDENCE_FILTERS:
            self.confidence_filter.addItem(entry.label)
        self.confidence_filter.setToolTip("Filter by the model's confidence")
        self.confidence_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.source_filter = QComboBox()
        for label, _ in SOURCE_FILTERS:
            self.source_filter.addItem(label)
        self.source_filter.setToolTip("Labels from the model, or the ones you set")
        self.source_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.confidence_filter.currentIndexChanged.connect(lambda _i: self._changed_now())
        self.source_filter.currentIndexChanged.connect(lambda _i: self._changed_now())

        self.date_check = QCheckBox("Taken between")
        self.date_from = QDateEdit(QDate.currentDate().addYears(-10))
        self.date_to = QDateEdit(QDate.currentDate())
        for d in (self.date_from, self.date_to):
            d.setCalendarPopup(True)
            d.setDisplayFormat("yyyy-MM-dd")
            d.setEnabled(False)
            d.dateChanged.connect(self._on_date_changed)
        self.date_check.toggled.connect(self._on_date_toggled)
        row.addWidget(self.confidence_filter)
        row.addWidget(self.source_filter)
        row.addWidget(self.date_check)
        row.addWidget(self.date_from)
        row.addWidget(QLabel("–"))
        row.addWidget(self.date_to)

    # ------------------------------------------------------------------------------------------
    def text(self) -> str:
        """The search text, stripped ('' when empty)."""
        return self.field.text().strip()

    def query(self) -> SearchQuery | None:
        """The ``SearchQuery`` of the field and the filters; ``None`` when nothing narrows the photos."""
        text = self.text() or None
        confidence = CONFIDENCE_FILTERS[self.confidence_filter.currentIndex()]
        lo, hi = confidence.min, confidence.max
        if confidence.below_review:
            hi = max(0.0, self.review_threshold - 1e-9)
        source = SOURCE_FILTERS[self.source_filter.currentIndex()][1]
        date_from: datetime | None = None
        date_to: datetime | None = None
        if self.date_check.isChecked():
            date_from = QDateTime(self.date_from.date(), QTime(0, 0)).toPython()  # type: ignore[assignment]
            date_to = QDateTime(self.date_to.date(), QTime(23, 59, 59)).toPython()  # type: ignore[assignment]
        if not any((text, lo, hi, source, date_from, date_to)):
            return None
        return SearchQuery(
            text=text, label_source=source, min_confidence=lo, max_confidence=hi, date_from=date_from, date_to=date_to
        )

    def filtered(self) -> bool:
        """Whether a filter (not the search text) narrows the photos."""
        return self.query() is not None and not self.text()

    def clear_text(self) -> None:
        """Empty the search field without announcing a change (the caller refreshes)."""
        self._debounce.stop()
        self.field.blockSignals(True)
        self.field.clear()
        self.field.blockSignals(False)

    def set_names(self, names: list[str]) -> None:
        """Offer ``names`` (landmark display names) as completions while typing."""
        self.field.setCompleter(make_completer(names, self))

    def focus_field(self) -> None:
        """Put the cursor in the search field with its text selected (Ctrl+F)."""
        self.field.setFocus()
        self.field.selectAll()

    # ------------------------------------------------------------------------------------------
    def _changed_now(self) -> None:
        self._debounce.stop()
        self.changed.emit()

    def _on_date_toggled(self, on: bool) -> None:
        self.date_from.setEnabled(on)
        self.date_to.setEnabled(on)
        self._changed_now()

    def _on_date_changed(self, _date: QDate) -> None:
        if self.date_check.isChecked():
            self._changed_now()
