"""Small widgets the Program, Metric, Models, Runs and Review panes share.

- `ExamplePicker`: choose one example of the project's table by row number or by id.
- `MessageBanner`: an inline message (error, warning, info) that hides when empty.
- `monospace_font()`, `heading()`, `muted()`, `short_revision()` and the palette-aware colours
  `good_color()` / `bad_color()`, readable in light and dark mode.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontDatabase, QPalette
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QLineEdit, QSpinBox, QWidget)


def monospace_font() -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setStyleHint(QFont.StyleHint.Monospace)
    return font


def is_dark(widget: QWidget | None = None) -> bool:
    palette = widget.palette() if widget is not None else QPalette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def bad_color(widget: QWidget | None = None) -> QColor:
    return QColor("#ff7b72") if is_dark(widget) else QColor("#b3261e")


def good_color(widget: QWidget | None = None) -> QColor:
    return QColor("#56d364") if is_dark(widget) else QColor("#1a7f37")


def warn_color(widget: QWidget | None = None) -> QColor:
    return QColor("#e3b341") if is_dark(widget) else QColor("#9a6700")


def tint(color: QColor, alpha: int = 60) -> QColor:
    """A translucent version of `color`, for row backgrounds that work on any base colour."""
    c = QColor(color)
    c.setAlpha(alpha)
    return c


def heading(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * 1.15)
    label.setFont(font)
    return label


def muted(text: str = "", *, wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(wrap)
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


def short_revision(revision: str, length: int = 12) -> str:
    """'sha256:b179c9523d0e…' -> 'b179c9523d0e' (the prefix names the kind, the digits the file)."""
    if not revision:
        return ""
    kind, _, digits = revision.partition(":")
    return (digits or kind)[:length]


def fit_table_height(table, min_rows: int = 1) -> None:
    """Make a short table exactly as tall as its rows (no empty band under the last row)."""
    rows = max(min_rows, table.rowCount())
    row_height = table.verticalHeader().defaultSectionSize()
    heights = sum(table.rowHeight(r) for r in range(table.rowCount())) + row_height * (rows - table.rowCount())
    extra = table.horizontalHeader().height() + 2 * table.frameWidth()
    if table.horizontalScrollBar().isVisible():
        extra += table.horizontalScrollBar().height()
    table.setFixedHeight(heights + extra + 2)


class MessageBanner(QLabel):
    """An inline message under a form; hidden while there is nothing to say."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setContentsMargins(8, 4, 8, 4)
        self.hide()

    def show_error(self, text: str) -> None:
        self._show(text, bad_color(self))

    def show_warning(self, text: str) -> None:
        self._show(text, warn_color(self))

    def show_info(self, text: str) -> None:
        self._show(text, None)

    def clear_message(self) -> None:
        self.setText("")
        self.hide()

    def _show(self, text: str, color: QColor | None) -> None:
        if not text:
            self.clear_message()
            return
        if color is None:
            self.setStyleSheet("")
        else:
            self.setStyleSheet(
                f"QLabel {{ color: {color.name()}; border-left: 3px solid {color.name()}; "
                f"background: rgba({color.red()}, {color.green()}, {color.blue()}, 28); }}"
            )
        self.setText(text)
        self.show()


class ExamplePicker(QWidget):
    """Pick an example of `session.project.frame` by row (1-based) or by id.

    Reads the frame only for the one row shown. An empty table shows "no examples".

    Signals:
        changed()   another example was chosen (or the table changed under it)
    """

    changed = Signal()

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Example"))
        self.row_spin = QSpinBox()
        self.row_spin.setPrefix("row ")
        self.row_spin.setMinimum(1)
        self.row_spin.setKeyboardTracking(False)
        self.row_spin.setToolTip("Row number in the example table")
        layout.addWidget(self.row_spin)
        self.id_edit = QLineEdit()
        self.id_edit.setPlaceholderText("or type an example id and press Enter")
        self.id_edit.setToolTip("The example's id (the table's id column)")
        self.id_edit.setMinimumWidth(120)
        layout.addWidget(self.id_edit, 1)
        self.info = muted(wrap=False)
        layout.addWidget(self.info)
        self.row_spin.valueChanged.connect(self._row_changed)
        self.id_edit.returnPressed.connect(self._id_entered)
        self.refresh()

    # -- what is chosen ----------------------------------------------------------------------

    def _frame(self):
        project = self.session.project
        return None if project is None else project.frame

    def row(self) -> int | None:
        frame = self._frame()
        if frame is None or len(frame) == 0:
            return None
        return min(self.row_spin.value(), len(frame)) - 1

    def values(self, names: list[str]) -> dict[str, str]:
        """The chosen example's cells for `names` ("" for a column the table lacks)."""
        frame, row = self._frame(), self.row()
        if row is None:
            return {}
        out = {}
        for name in names:
            out[name] = str(frame[name].iat[row]) if name in frame.columns else ""
        return out

    def example_id(self) -> str:
        frame, row = self._frame(), self.row()
        return "" if row is None else str(frame["id"].iat[row])

    # -- keeping up with the table -----------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the table's size (after a dataset change or a project switch)."""
        frame = self._frame()
        n = 0 if frame is None else len(frame)
        self.row_spin.blockSignals(True)
        self.row_spin.setMaximum(max(1, n))
        self.row_spin.setSuffix(f" of {n:,}" if n else "")
        self.row_spin.setEnabled(n > 0)
        self.row_spin.blockSignals(False)
        self.id_edit.setEnabled(n > 0)
        self._show_row()
        self.changed.emit()

    def set_row(self, row: int) -> None:
        self.row_spin.setValue(row + 1)

    def _row_changed(self, _value: int) -> None:
        self._show_row()
        self.changed.emit()

    def _show_row(self) -> None:
        frame, row = self._frame(), self.row()
        if row is None:
            self.info.setText("no examples yet")
            self.id_edit.clear()
            return
        self.id_edit.setText(str(frame["id"].iat[row]))
        split = str(frame["split"].iat[row]) if "split" in frame.columns else ""
        self.info.setText(split or "no split")

    def _id_entered(self) -> None:
        frame = self._frame()
        wanted = self.id_edit.text().strip()
        if frame is None or not wanted:
            return
        matches = (frame["id"] == wanted).to_numpy().nonzero()[0]
        if len(matches) == 0:
            self.info.setText(f"no example with id {wanted!r}")
            return
        self.set_row(int(matches[0]))
