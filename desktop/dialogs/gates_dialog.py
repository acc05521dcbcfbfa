"""Edit the release gates: a minimum test score for the whole split and for any slice.

The dialog only collects (slice, minimum) pairs; `engine.gates.set_gate` checks and applies them,
the same operation `dspy-workbench gates set` calls.
"""

from __future__ import annotations

from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget, QVBoxLayout,
                               QWidget)


class GatesDialog(QDialog):
    """Rows of (slice, minimum); `gates()` is what the user set, in order."""

    def __init__(self, slices: list[str], gates: list[tuple[str, float]], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Release gates")
        self._slices = slices
        layout = QVBoxLayout(self)
        note = QLabel("A candidate is promoted only when its test score reaches each minimum: an "
                      "improved average does not hide a slice that dropped below its floor.")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Slice", "Minimum test score", ""])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table)
        for slice_name, minimum in gates:
            self.add_gate(slice_name, minimum)
        row = QHBoxLayout()
        add = QPushButton("Add gate")
        add.clicked.connect(lambda: self.add_gate())
        row.addWidget(add)
        row.addStretch(1)
        layout.addLayout(row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(480, 360)

    def add_gate(self, slice_name: str | None = None, minimum: float = 0.5) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        combo = QComboBox()
        combo.addItems(self._slices)
        if slice_name is not None:
            if combo.findText(slice_name) < 0:
                combo.addItem(slice_name)  # a gate on a slice the data no longer has: shown, so it can go
            combo.setCurrentText(slice_name)
        spin = QDoubleSpinBox()
        spin.setRange(0.0, 1.0)
        spin.setSingleStep(0.05)
        spin.setDecimals(3)
        spin.setValue(minimum)
        remove = QPushButton("Remove")
        remove.clicked.connect(lambda _=False, c=combo: self._remove(c))
        self.table.setCellWidget(r, 0, combo)
        self.table.setCellWidget(r, 1, spin)
        self.table.setCellWidget(r, 2, remove)

    def _remove(self, combo: QComboBox) -> None:
        for r in range(self.table.rowCount()):
            if self.table.cellWidget(r, 0) is combo:
                self.table.removeRow(r)
                return

    def gates(self) -> list[tuple[str, float]]:
        return [(self.table.cellWidget(r, 0).currentText(), self.table.cellWidget(r, 1).value())
                for r in range(self.table.rowCount())]
