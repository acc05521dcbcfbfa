"""The Calibrate view's table: one row per program output to label, the human's label beside it.

`JudgeLabelsModel` is a QAbstractTableModel over a list of `LabelRow`s (example id, the judged
output fields' values, the human's label or None). It holds that list by reference; the engine's
`calibration.HumanLabel` is built from it only for labelled rows (`labels()`), and rows are made
from the engine's generated outputs or its label file (`set_rows`).

Labels are values in [0, 1]: pass = 1, fail = 0, and a 1-5 score maps to (score - 1) / 4, as the
judge's own 1-5 verdict does (engine.judge).

Signals:
    labelled(int)   row `int` got a new label (or lost it)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal

PASS_FAIL = "pass_fail"
SCALE_1_5 = "scale_1_5"


@dataclass
class LabelRow:
    example_id: str
    outputs: dict = field(default_factory=dict)
    human: float | None = None


def score_to_value(score: int) -> float:
    """A 1-5 score as a value in [0, 1] (1 -> 0.0, 3 -> 0.5, 5 -> 1.0)."""
    return (int(score) - 1) / 4


def value_to_score(value: float) -> int:
    return int(round(float(value) * 4)) + 1


def label_text(value: float | None, verdict: str) -> str:
    if value is None:
        return ""
    if verdict == SCALE_1_5:
        return f"{value_to_score(value)} / 5"
    return "pass" if value >= 0.5 else "fail"


class JudgeLabelsModel(QAbstractTableModel):
    labelled = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[LabelRow] = []
        self._fields: list[str] = []
        self.verdict = PASS_FAIL

    # -- contents --------------------------------------------------------------------------------

    def set_rows(self, rows: list[LabelRow], fields: list[str], verdict: str = PASS_FAIL) -> None:
        self.beginResetModel()
        self._rows = rows
        self._fields = list(fields)
        self.verdict = verdict
        self.endResetModel()

    def set_verdict(self, verdict: str) -> None:
        if verdict != self.verdict:
            self.verdict = verdict
            if self._rows:
                column = self.columnCount() - 1
                self.dataChanged.emit(self.index(0, column), self.index(len(self._rows) - 1, column))

    def rows(self) -> list[LabelRow]:
        return self._rows

    @property
    def fields(self) -> list[str]:
        return list(self._fields)

    def labelled_count(self) -> int:
        return sum(1 for r in self._rows if r.human is not None)

    def labels(self):
        """The labelled rows as the engine's `HumanLabel`s."""
        from engine.calibration import HumanLabel

        return [HumanLabel(example_id=r.example_id, outputs=dict(r.outputs), human=float(r.human))
                for r in self._rows if r.human is not None]

    def set_label(self, row: int, value: float | None) -> None:
        if not 0 <= row < len(self._rows):
            return
        if value is not None and not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"a label is a value in [0, 1], got {value!r}")
        self._rows[row].human = None if value is None else float(value)
        column = self.columnCount() - 1
        self.dataChanged.emit(self.index(row, 0), self.index(row, column))
        self.labelled.emit(row)

    def next_unlabelled(self, after: int) -> int:
        """The first unlabelled row after `after` (wrapping); `after` itself when all are labelled."""
        n = len(self._rows)
        for step in range(1, n + 1):
            r = (after + step) % n
            if self._rows[r].human is None:
                return r
        return after

    # -- QAbstractTableModel ----------------------------------------------------------------------

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._fields) + 2

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Vertical:
            return str(section + 1)
        if section == 0:
            return "Example"
        if section <= len(self._fields):
            return self._fields[section - 1]
        if section == len(self._fields) + 1:
            return "Your label"
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        column = index.column()
        last = len(self._fields) + 1
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            if column == 0:
                return row.example_id
            if column == last:
                text = label_text(row.human, self.verdict)
                if role == Qt.ItemDataRole.ToolTipRole and not text:
                    return "Not labelled yet: press P (pass) or F (fail)" + \
                        (", or 1-5 for a score" if self.verdict == SCALE_1_5 else "")
                return text
            if 0 < column < last:
                value = row.outputs.get(self._fields[column - 1], "")
                text = "" if value is None else str(value)
                if role == Qt.ItemDataRole.DisplayRole:
                    return " ".join(text.split())  # one line in the table; the full text below it
                return text
        if role == Qt.ItemDataRole.UserRole and column == last:
            return row.human
        if role == Qt.ItemDataRole.ForegroundRole and column == last and row.human is not None:
            from desktop.panes.common import bad_color, good_color

            return good_color() if row.human >= 0.5 else bad_color()
        return None

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
