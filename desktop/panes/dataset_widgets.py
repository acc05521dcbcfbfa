"""The Dataset pane's parts: the leakage banner, the split-counts panel and the cell editor delegate."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStyledItemDelegate,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop import icons
from desktop.theme import banner_colors, split_color

LEAKS_LISTED = 3
FINDINGS_LISTED = 4
SMALL_SPLIT = 30  # fewer validation/test examples than this: scores move by several points per example


class Banner(QFrame):
    """A coloured strip above the table: "error" (red) blocks compiling, "warning" (amber) advises.

    Signals:
        action_clicked()   the banner's button was pressed
    """

    action_clicked = Signal()

    def __init__(self, kind: str, button_text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.kind = kind
        self.setObjectName(f"{kind}Banner")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 10, 8)
        layout.setSpacing(10)
        self.icon = QLabel()
        self.icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.text = QLabel(wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.icon)
        layout.addWidget(self.text, 1)
        self.button = QPushButton(button_text)
        self.button.clicked.connect(self.action_clicked)
        self.button.setVisible(bool(button_text))
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignTop)
        self.restyle()
        self.hide()

    def restyle(self) -> None:
        background, border, text = banner_colors(self.kind)
        self.setStyleSheet(f"#{self.objectName()} {{ background: {background}; border: 1px solid {border}; "
                           f"border-radius: 6px; }} #{self.objectName()} QLabel {{ color: {text}; }}")
        from PySide6.QtGui import QColor

        self.icon.setPixmap(icons.icon("warning", QColor(text)).pixmap(20, 20))

    def show_message(self, html: str) -> None:
        self.text.setText(html)
        self.show()


def leak_html(leaks: list, describe) -> str:
    """The banner text: what is wrong, the first leaks, and what to do."""
    from html import escape

    count = len(leaks)
    head = (f"<b>{count} example{'s' if count != 1 else ''} leak{'s' if count == 1 else ''} between splits.</b> "
            "Compiling is blocked until each example sits in one split: move or delete one row of each pair.")
    items = "".join(f"<li>{escape(describe(leak))}</li>" for leak in leaks[:LEAKS_LISTED])
    more = f"<li>and {count - LEAKS_LISTED} more</li>" if count > LEAKS_LISTED else ""
    return f"{head}<ul style='margin: 4px 0 0 -24px;'>{items}{more}</ul>"


def findings_html(findings: list) -> str:
    """The data-checks banner text: how many, the first findings (each names its rows), and that they advise."""
    from html import escape

    count = len(findings)
    head = (f"<b>Data checks: {count} finding{'s' if count != 1 else ''} against the program.</b> "
            "They do not block compiling; fix the rows or accept them.")
    items = "".join(f"<li>{escape(finding.message, quote=False)}</li>" for finding in findings[:FINDINGS_LISTED])
    more = f"<li>and {count - FINDINGS_LISTED} more</li>" if count > FINDINGS_LISTED else ""
    return f"{head}<ul style='margin: 4px 0 0 -24px;'>{items}{more}</ul>"


class SplitCountsPanel(QWidget):
    """Examples per split, for all rows and for each slice, with a hint when a split is too small.

    Signals:
        cell_chosen(str, str)   (slice tag or "" for all rows, split or "" for unassigned) double-clicked
    """

    cell_chosen = Signal(str, str)
    COLUMNS = ("train", "validation", "test", "unassigned")
    HEADERS = ("train", "val", "test", "none")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>Examples per split</b>")
        layout.addWidget(title)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(list(self.HEADERS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("Double-click a number to show those rows")
        self.table.cellDoubleClicked.connect(self._double_clicked)
        for column, split in enumerate(self.COLUMNS):
            item = QTableWidgetItem(self.HEADERS[column])
            item.setToolTip(split)
            self.table.setHorizontalHeaderItem(column, item)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        layout.addWidget(self.table)
        self.hint = QLabel(wordWrap=True)
        self.hint.setStyleSheet("color: palette(placeholder-text);")
        layout.addWidget(self.hint)
        layout.addStretch(1)
        self._slices: list[str] = []

    def show_counts(self, counts) -> None:
        """`counts`: engine.datasets.split_counts(frame) (index: "(all)" then tags)."""
        self._slices = ["" if name == "(all)" else str(name) for name in counts.index]
        self.table.setRowCount(len(counts))
        self.table.setVerticalHeaderLabels(["all rows" if s == "" else s for s in self._slices])
        for row, (_, values) in enumerate(counts.iterrows()):
            for column, split in enumerate(self.COLUMNS):
                item = QTableWidgetItem(f"{int(values[split]):,}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if split != "unassigned":
                    item.setForeground(split_color(split))
                if row == 0:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, column, item)
        self.hint.setText(_hint(counts))
        self._fit_height()

    def clear(self) -> None:
        self.table.setRowCount(0)
        self.hint.clear()
        self._fit_height()

    def _fit_height(self) -> None:
        """As tall as its rows (up to 16 of them), so the hint sits right under the numbers."""
        rows = min(self.table.rowCount(), 16)
        header = self.table.horizontalHeader().sizeHint().height()
        height = header + rows * self.table.verticalHeader().defaultSectionSize()
        self.table.setFixedHeight(height + 2 * self.table.frameWidth() + 2)

    def _double_clicked(self, row: int, column: int) -> None:
        split = self.COLUMNS[column]
        self.cell_chosen.emit(self._slices[row], "" if split == "unassigned" else split)


def _hint(counts) -> str:
    total = counts.iloc[0]
    notes = []
    empty = [s for s in ("train", "validation", "test") if int(total[s]) == 0]
    if empty:
        notes.append(f"Compiling needs examples in {', '.join(empty)}: select rows and assign them, "
                     "or use Auto-split.")
    for split in ("validation", "test"):
        if 0 < int(total[split]) < SMALL_SPLIT:
            notes.append(f"Only {int(total[split])} {split} examples: one example moves the score by "
                         f"{100 / int(total[split]):.0f} points, so differences will be noisy.")
    if int(total["unassigned"]):
        notes.append(f"{int(total['unassigned']):,} rows have no split and are not used.")
    notes.append("Double-click a number to show those rows.")
    return "\n\n".join(notes)


class DatasetDelegate(QStyledItemDelegate):
    """Choice editors: the split column offers the three splits; Literal fields offer their choices."""

    SPLITS = ("train", "validation", "test", "")

    def __init__(self, model, parent=None):
        super().__init__(parent)
        self.model = model

    def _choices(self, index: QModelIndex) -> list[str] | None:
        column = self.model.columns[index.column()]
        if column == "split":
            return list(self.SPLITS)
        project = self.model.session.project
        if project is None:
            return None
        for field in project.program.input_fields + project.program.output_fields:
            if field.name == column and field.type == "literal":
                return list(field.choices)
        return None

    def createEditor(self, parent, option, index):
        choices = self._choices(index)
        if choices is None:
            return super().createEditor(parent, option, index)
        box = QComboBox(parent)
        for value in choices:
            box.addItem(value or "(unassigned)", value)
        return box

    def setEditorData(self, editor, index):
        if isinstance(editor, QComboBox):
            value = index.data(Qt.ItemDataRole.EditRole) or ""
            found = editor.findData(value)
            if found < 0:
                editor.addItem(value, value)
                found = editor.count() - 1
            editor.setCurrentIndex(found)
            return
        super().setEditorData(editor, index)

    def setModelData(self, editor, model, index):
        if isinstance(editor, QComboBox):
            model.setData(index, editor.currentData(), Qt.ItemDataRole.EditRole)
            return
        super().setModelData(editor, model, index)


class TableHeader(QHeaderView):
    """A horizontal header that paints its sections without asking the selection model.

    Qt's own QHeaderView asks `QItemSelectionModel.isColumnSelected()` for every section it paints,
    which calls the model's `flags()` once per selected row: with 100,000 rows selected, a header
    repaint costs half a million Python calls (seconds). This header draws the same style option
    itself; it only gives up the "whole column selected" look, which row selection never shows.
    """

    def __init__(self, parent=None):
        super().__init__(Qt.Orientation.Horizontal, parent)

    def paintSection(self, painter, rect, logical_index):  # noqa: N802 - Qt's name
        if not rect.isValid() or self.model() is None:
            return
        from PySide6.QtWidgets import QStyle, QStyleOptionHeader

        option = QStyleOptionHeader()
        self.initStyleOption(option)
        option.rect = rect
        option.section = logical_index
        option.text = str(self.model().headerData(logical_index, Qt.Orientation.Horizontal) or "")
        option.textAlignment = self.defaultAlignment()
        option.iconAlignment = Qt.AlignmentFlag.AlignVCenter
        if self.isSortIndicatorShown() and self.sortIndicatorSection() == logical_index:
            ascending = self.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
            option.sortIndicator = (QStyleOptionHeader.SortIndicator.SortDown if ascending
                                    else QStyleOptionHeader.SortIndicator.SortUp)
        visual, last = self.visualIndex(logical_index), self.count() - 1
        option.position = (QStyleOptionHeader.SectionPosition.OnlyOneSection if last == 0 else
                           QStyleOptionHeader.SectionPosition.Beginning if visual == 0 else
                           QStyleOptionHeader.SectionPosition.End if visual == last else
                           QStyleOptionHeader.SectionPosition.Middle)
        if self.isEnabled():
            option.state |= QStyle.StateFlag.State_Enabled
        painter.save()
        self.style().drawControl(QStyle.ControlElement.CE_Header, option, painter, self)
        painter.restore()


class DataChecksLine(QWidget):
    """One short line for other panes (Runs, before a compile): how many data-check findings the table
    has, and a button that opens the Dataset pane where they are listed with their rows. Hidden when none."""

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        from desktop.leak_watch import watch

        self.watcher = watch(session)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 4)
        self.icon = QLabel()
        self.text = QLabel(wordWrap=True)
        self.button = QPushButton("Show in Dataset")
        self.button.setToolTip("The Dataset pane lists every finding with its rows")
        self.button.clicked.connect(self.open_dataset)
        layout.addWidget(self.icon)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignTop)
        self.watcher.findings_changed.connect(self.show_findings)
        self.show_findings(self.watcher.findings)

    def show_findings(self, findings: list) -> None:
        from PySide6.QtGui import QColor

        if not findings:
            self.hide()
            return
        _background, _border, color = banner_colors("warning")
        self.icon.setPixmap(icons.icon("warning", QColor(color)).pixmap(16, 16))
        kinds = ", ".join(dict.fromkeys(_KIND_WORDS.get(f.kind, f.kind) for f in findings))
        count = len(findings)
        self.text.setText(f"Data checks: {count} finding{'s' if count != 1 else ''} ({kinds}). "
                          "They do not block compiling.")
        self.setToolTip("\n".join(f.message for f in findings[:FINDINGS_LISTED]))
        self.show()

    def open_dataset(self) -> None:
        window = self.window()
        show_pane = getattr(window, "show_pane", None)
        if callable(show_pane):
            show_pane("Dataset")


_KIND_WORDS = {"choices": "labels outside the choices", "case": "labels in another case",
               "empty": "empty inputs", "conflict": "conflicting labels", "near_duplicate": "near-duplicates"}
