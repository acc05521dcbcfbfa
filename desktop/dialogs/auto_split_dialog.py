"""Auto-split: train / validation / test fractions, a seed, and optional stratification.

Only collects the settings; the Dataset pane runs `engine.datasets.assign_splits` (off the GUI
thread for big tables) and pushes the result as one undoable command.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

NO_STRATIFY = "(none)"


@dataclass(frozen=True)
class AutoSplitSettings:
    fractions: tuple[float, float, float]
    seed: int
    stratify: str | None
    only_unassigned: bool

    def describe(self) -> str:
        train, val, test = (round(f * 100) for f in self.fractions)
        by = f", stratified by {self.stratify}" if self.stratify else ""
        rows = "unassigned rows" if self.only_unassigned else "all rows"
        return f"Auto-split {rows} {train}/{val}/{test} (seed {self.seed}{by})"


class AutoSplitDialog(QDialog):
    """Asks for the fractions (in percent), seed, stratify field and scope."""

    def __init__(self, stratify_choices: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Auto-split")
        layout = QVBoxLayout(self)
        intro = QLabel("Assign every example to train, validation or test. The assignment depends only "
                       "on the seed and the example ids, so the same seed gives the same split.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        row = QHBoxLayout()
        self.spins = []
        for name, value in (("train", 60), ("validation", 20), ("test", 20)):
            spin = QSpinBox(suffix=" %", minimum=0, maximum=100, value=value)
            spin.valueChanged.connect(self._validate)
            spin.setAccessibleName(name)
            self.spins.append(spin)
            row.addWidget(QLabel(name))
            row.addWidget(spin)
        row.addStretch(1)
        form.addRow("Fractions", row)
        self.seed = QSpinBox(minimum=0, maximum=2_000_000_000, value=0)
        form.addRow("Seed", self.seed)
        self.stratify = QComboBox()
        self.stratify.addItems([NO_STRATIFY, *stratify_choices])
        self.stratify.setToolTip("Keep each value's share the same in every split (e.g. the label, or slices)")
        form.addRow("Stratify by", self.stratify)
        self.only_unassigned = QCheckBox("Only rows without a split (keep existing assignments)")
        form.addRow("", self.only_unassigned)
        layout.addLayout(form)
        self.problem = QLabel()
        layout.addWidget(self.problem)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Split")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._validate()

    def _validate(self) -> None:
        total = sum(spin.value() for spin in self.spins)
        self.problem.setText("" if total == 100 else f"The fractions add up to {total} %; make them 100 %.")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(total == 100)

    def settings(self) -> AutoSplitSettings:
        stratify = self.stratify.currentText()
        return AutoSplitSettings(
            fractions=tuple(spin.value() / 100 for spin in self.spins),
            seed=self.seed.value(),
            stratify=None if stratify == NO_STRATIFY else stratify,
            only_unassigned=self.only_unassigned.isChecked(),
        )
