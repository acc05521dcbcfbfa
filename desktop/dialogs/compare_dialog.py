"""Two runs side by side: the settings (differing rows highlighted), the scores per split and
slice, and a diff of the instructions and demos each run chose.

Shows the dict from `engine.comparison.compare_runs`, which the Runs pane computes on a
background thread; this dialog only lays it out.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QTextCharFormat
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QDialog, QDialogButtonBox, QHBoxLayout, QHeaderView, QLabel,
                               QPlainTextEdit, QTableWidget, QTableWidgetItem, QTabWidget,
                               QVBoxLayout, QWidget)

from desktop.panes.common import bad_color, good_color, heading, monospace_font, muted, tint, warn_color
from desktop.panes.review import DiffHighlighter


class _CompareHighlighter(DiffHighlighter):
    """The unified diffs' colours, plus bold section headers ("=== predictor", "## demos")."""

    def highlightBlock(self, text: str) -> None:  # noqa: N802 - Qt's name
        if text.startswith(("===", "## ")):
            fmt = QTextCharFormat()
            fmt.setFontWeight(700)
            if text.startswith("==="):
                fmt.setFontUnderline(True)
            self.setFormat(0, len(text), fmt)
        else:
            super().highlightBlock(text)


def _num(value) -> str:
    return "—" if value is None else f"{value:.3f}"


class CompareDialog(QDialog):
    """Run A (left, the older) and run B (right) of a comparison."""

    def __init__(self, comparison: dict, parent: QWidget | None = None):
        super().__init__(parent)
        self.comparison = comparison
        a, b = comparison["run_a"], comparison["run_b"]
        self.setWindowTitle(f"Compare runs {a} and {b}")
        self.resize(1000, 680)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Compare runs"))
        self.header = QLabel(f"<b>A</b>&nbsp; {a} &nbsp;({comparison['status']['a'].replace('_', ' ')})"
                             f"<br><b>B</b>&nbsp; {b} &nbsp;({comparison['status']['b'].replace('_', ' ')})")
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.header)
        self.warnings = QLabel()
        self.warnings.setWordWrap(True)
        warnings = comparison["warnings"]
        if warnings:
            color = warn_color(self).name()
            self.warnings.setText("".join(f"<div style='color:{color}'>⚠ {w[0].upper() + w[1:]}.</div>"
                                          for w in warnings))
        self.warnings.setVisible(bool(warnings))
        layout.addWidget(self.warnings)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._settings_tab(), "Settings")
        self.tabs.addTab(self._scores_tab(), "Scores")
        self.tabs.addTab(self._diff_tab(), "Instructions and demos")
        layout.addWidget(self.tabs, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)

    # -- tabs -------------------------------------------------------------------------------------------

    def _table(self, columns: list[str]) -> QTableWidget:
        table = QTableWidget(0, len(columns))
        table.setHorizontalHeaderLabels(columns)
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setWordWrap(False)
        return table

    def _settings_tab(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        differing = sum(1 for r in self.comparison["settings"] if r["differs"])
        self.settings_note = muted(f"{differing} setting{'s' if differing != 1 else ''} differ "
                                   "(highlighted). Hover a cell to see the full value.")
        row = QHBoxLayout()
        row.addWidget(self.settings_note, 1)
        self.only_differences = QCheckBox("Show only differences")
        self.only_differences.toggled.connect(self._filter_settings)
        row.addWidget(self.only_differences)
        v.addLayout(row)
        self.settings_table = table = self._table(["Setting", "A", "B"])
        highlight = tint(warn_color(self), 70)
        bold = QFont(table.font())
        bold.setBold(True)
        for row in self.comparison["settings"]:
            r = table.rowCount()
            table.insertRow(r)
            label = row["label"].strip()
            if row["key"].startswith("params."):
                label = "param: " + label
            for c, text in enumerate((label, row["a"], row["b"])):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if row["differs"]:
                    item.setBackground(highlight)
                    item.setFont(bold)
                table.setItem(r, c, item)
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 10)
        v.addWidget(table, 1)
        return page

    def _filter_settings(self, only: bool) -> None:
        for r, row in enumerate(self.comparison["settings"]):
            self.settings_table.setRowHidden(r, only and not row["differs"])

    def _scores_tab(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        v.addWidget(muted("Baseline is the uncompiled program, candidate the compiled one. "
                          "Δ is B's candidate minus A's candidate."))
        self.scores_table = table = self._table(["Split / slice", "n", "A baseline", "A candidate",
                                                 "B baseline", "B candidate", "Δ candidate (B − A)"])
        bold = QFont(table.font())
        bold.setBold(True)
        for row in self.comparison["scores"]:
            r = table.rowCount()
            table.insertRow(r)
            a, b = row["a"], row["b"]
            n_a, n_b = a.get("n"), b.get("n")
            n = "—" if n_a is None and n_b is None else (str(n_a if n_a is not None else n_b) if n_a == n_b or None in (n_a, n_b)
                                                         else f"{n_a} / {n_b}")
            delta = None
            if a.get("candidate") is not None and b.get("candidate") is not None:
                delta = b["candidate"] - a["candidate"]
            label = row["split"] if row["slice"] is None else f"    {row['slice']}"
            cells = (label, n, _num(a.get("baseline")), _num(a.get("candidate")),
                     _num(b.get("baseline")), _num(b.get("candidate")),
                     "—" if delta is None else f"{delta:+.3f}")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c > 0:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if row["slice"] is None:
                    item.setFont(bold)
                if c == 6 and delta is not None and abs(delta) > 1e-9:
                    item.setForeground(good_color(self) if delta > 0 else bad_color(self))
                table.setItem(r, c, item)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 10)
        v.addWidget(table, 1)
        from engine.lms.pricing import cost_text

        usage = self.comparison.get("usage") or {}
        if usage:
            parts = []
            for side in ("a", "b"):
                u = usage.get(side) or {}
                parts.append(f"{side.upper()}: {u.get('lm_calls', 0):,} LM calls ({u.get('cached_calls', 0):,} cached), "
                             f"{u.get('tokens', 0):,} tokens, cost {cost_text(u.get('cost_usd'))}, "
                             f"{u.get('elapsed_s', 0.0):.1f} s")
            v.addWidget(muted("   ·   ".join(parts)))
        return page

    def _diff_tab(self) -> QWidget:
        from engine.comparison import diff_text

        page = QWidget()
        v = QVBoxLayout(page)
        v.addWidget(muted("What each run chose, per predictor: lines starting with − are only in A, "
                          "+ only in B."))
        self.diff_view = QPlainTextEdit()
        self.diff_view.setReadOnly(True)
        self.diff_view.setFont(monospace_font())
        self.diff_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.diff_view.setPlainText(diff_text(self.comparison))
        self._highlighter = _CompareHighlighter(self.diff_view.document(), self)
        v.addWidget(self.diff_view, 1)
        return page
