"""Import a data file (CSV, TSV, JSONL, JSON, Parquet, Excel) as the project's examples.

The dialog reads the file on a pool thread (`engine.datasets.read_table`), previews its first rows,
and proposes which column feeds each program field (`engine.datasets.infer_mapping`); the user
can change every choice, pick the id / split / slice columns, and replace or append. Converting
(`to_canonical`, `append`) also runs on a pool thread; the result enters the project as ONE undoable
command (`ImportRows`). Any `DatasetError` is shown with the file and row it names, and the project
is left exactly as it was.

Before Import is pressed, the mapped table is checked against the program on a pool thread
(`engine.data_checks.check_table` and the leak check): the findings are listed under the preview with
the rows they name, and those rows are tinted in the preview. They never disable Import.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QRadioButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop import background, messages
from desktop.session import ProjectSession
from desktop.theme import banner_colors

PREVIEW_ROWS = 50
CHOOSE = "— choose a column —"
NO_ID = "(none: make ids from the content)"
NO_SPLIT = "(none: leave rows unassigned)"
SLICE_ROWS_SHOWN = 4  # the slice column list scrolls beyond this many columns
FINDINGS_SHOWN = 6  # data-check findings listed under the preview
CHECK_DELAY_MS = 150  # mapping changes in quick succession are checked once


class PreviewModel(QAbstractTableModel):
    """The first rows of the file being imported (a small copy: the file is not the project)."""

    def __init__(self, frame, parent=None):
        super().__init__(parent)
        self._columns = [str(c) for c in frame.columns]
        self._rows = frame.head(PREVIEW_ROWS).astype(str).values.tolist()
        self._uses: dict[str, str] = {}  # column -> what it feeds ("→ ticket_text", "→ id")
        self._flagged: dict[int, str] = {}  # preview row -> the data-check messages naming it

    def set_uses(self, uses: dict[str, str]) -> None:
        """Show under each column name which field it feeds (unused columns say so)."""
        if uses != self._uses:
            self._uses = uses
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, max(len(self._columns) - 1, 0))

    def set_flagged(self, flagged: dict[int, str]) -> None:
        """Tint these rows (0-based file rows) and give them the findings that name them as tooltip."""
        if flagged != self._flagged:
            self._flagged = flagged
            if self._rows:
                self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(self._columns) - 1))

    def flagged_rows(self) -> list[int]:
        return sorted(row for row in self._flagged if row < len(self._rows))

    def rowCount(self, parent=QModelIndex()):  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()):  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        text = self._rows[index.row()][index.column()]
        flag = self._flagged.get(index.row())
        if role == Qt.ItemDataRole.DisplayRole:
            return text.replace("\n", " ⏎ ")[:200]
        if role == Qt.ItemDataRole.BackgroundRole and flag:
            return QColor(banner_colors("warning")[0])
        if role == Qt.ItemDataRole.ToolTipRole and (flag or len(text) > 40):
            return "\n".join(part for part in (flag, text[:2000] if len(text) > 40 else "") if part)
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Vertical:
            return str(section + 1)
        name = self._columns[section]
        return f"{name}\n{self._uses.get(name, '(not imported)')}"


def _read(path: str):
    from engine import datasets

    started = time.perf_counter()
    raw = datasets.read_table(path)
    background.release_memory()  # the file's bytes and the parser's buffers
    return raw, time.perf_counter() - started


def _check(raw, mapping, source: str, current, append: bool, program):
    """(findings, leaks, first file row) for the table Import would make. Runs on a pool thread."""
    from engine import data_checks, datasets

    frame, appended, _ = _convert(raw, mapping, source, current, append)
    first = len(frame) - appended if appended is not None else 0  # file row 0 is this frame row
    leaks = datasets.find_leaks(frame, [f for f in program.input_names if f in frame.columns])
    return data_checks.check_table(frame, program), leaks, first


def _convert(raw, mapping, source: str, current, append: bool):
    """The project's new frame (and how many rows it appends). Runs on a pool thread."""
    from engine import datasets

    started = time.perf_counter()
    frame = datasets.to_canonical(raw, mapping, source=source)
    appended = None
    if append:
        frame, appended = datasets.append(current, frame), len(frame)
    background.release_memory()
    return frame, appended, time.perf_counter() - started


class ImportDialog(QDialog):
    """Column-to-field mapping for one file; Import pushes one undoable command.

    Signals:
        loaded()          the file was read and the mapping proposed
        failed(str)       reading or converting failed (the message names the file / row)
        imported()        the rows are in the project (the dialog then closes)
    """

    loaded = Signal()
    failed = Signal(str)
    imported = Signal()
    checked = Signal()

    def __init__(self, session: ProjectSession, path: str | Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.path = str(path)
        self.raw = None
        self.timings: dict[str, float] = {}  # seconds: "read", "convert" (shown in the status, used by bench/)
        self._busy = False
        self.field_boxes: dict[str, QComboBox] = {}
        self.findings: list = []  # engine.data_checks.Finding for the table Import would make
        self._check_request = 0  # results of an older mapping are dropped
        self._check_timer = QTimer(self, singleShot=True, interval=CHECK_DELAY_MS)
        self._check_timer.timeout.connect(self._start_check)
        self.setWindowTitle(f"Import examples from {Path(self.path).name}")
        self.setMinimumSize(760, 560)
        self._build()
        self.start_reading()

    # -- layout --------------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        self.status = QLabel(f"Reading {Path(self.path).name}…")
        self.progress = QProgressBar(maximumHeight=6, textVisible=False)
        self.progress.setRange(0, 0)
        layout.addWidget(self.status)
        layout.addWidget(self.progress)

        self.preview = QTableView()
        self.preview.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preview.setWordWrap(False)
        self.preview.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.preview.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.preview.horizontalHeader().setDefaultSectionSize(180)
        self.preview.setMinimumHeight(140)
        layout.addWidget(self.preview, 1)

        mapping = QGroupBox("Which column of the file feeds each field?")
        columns = QHBoxLayout(mapping)
        fields_form, special_form = QFormLayout(), QFormLayout()
        for form in (fields_form, special_form):
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        program = self.session.project.program
        for field in program.input_fields + program.output_fields:
            role = "input" if field in program.input_fields else "output"
            box = QComboBox(minimumContentsLength=14)
            box.currentIndexChanged.connect(self._validate)
            box.setToolTip(field.description or field.name)
            self.field_boxes[field.name] = box
            fields_form.addRow(f"{field.name} ({role})", box)
        self.id_box, self.split_box = (QComboBox(minimumContentsLength=14) for _ in range(2))
        for box in (self.id_box, self.split_box):
            box.currentIndexChanged.connect(self._validate)
        self.id_box.setToolTip("Unique example ids; without a column, ids are made from the content")
        self.split_box.setToolTip("train / validation / test (also: dev, val, holdout ...); empty = unassigned")
        # A checkable list: like `import --slice-column`, several columns may carry slice tags (merged per row).
        self.slice_list = QListWidget()
        self.slice_list.setToolTip("Columns with slice tags separated by ; or , (e.g. billing;vip); "
                                   "the tags of every checked column are merged")
        self.slice_list.setMaximumHeight((self.fontMetrics().height() + 8) * SLICE_ROWS_SHOWN)
        self.slice_list.itemChanged.connect(lambda _item: self._validate())
        special_form.addRow("Example id", self.id_box)
        special_form.addRow("Split", self.split_box)
        special_form.addRow("Slices", self.slice_list)
        columns.addLayout(fields_form, 1)
        columns.addSpacing(16)
        columns.addLayout(special_form, 1)
        layout.addWidget(mapping)

        count = len(self.session.project.frame)
        mode = QHBoxLayout()
        self.replace_button = QRadioButton(f"Replace the {count:,} examples in the project")
        self.append_button = QRadioButton(f"Append to the {count:,} examples")
        self.replace_button.setChecked(True)
        self.append_button.setEnabled(count > 0)
        self.append_button.toggled.connect(lambda _on: self._validate())  # appending can add leaks
        group = QButtonGroup(self)
        group.addButton(self.replace_button)
        group.addButton(self.append_button)
        mode.addWidget(self.replace_button)
        mode.addWidget(self.append_button)
        mode.addStretch(1)
        layout.addLayout(mode)

        self.checks = QLabel(wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.checks.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        background_color, border, text_color = banner_colors("warning")
        self.checks.setStyleSheet(f"QLabel {{ background: {background_color}; border: 1px solid {border}; "
                                  f"border-radius: 6px; color: {text_color}; padding: 6px 10px; }}")
        self.checks.hide()
        layout.addWidget(self.checks)

        self.problem = QLabel(wordWrap=True)
        self.problem.setStyleSheet(f"color: {banner_colors('error')[2]};")
        self.problem.hide()
        layout.addWidget(self.problem)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.import_button.setEnabled(False)
        self.buttons.accepted.connect(self.start_import)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

    # -- reading ---------------------------------------------------------------------------------

    def start_reading(self) -> None:
        self._set_busy(True)
        background.run(lambda: _read(self.path), self._read_done, self._read_failed)

    def _read_done(self, result) -> None:
        raw, self.timings["read"] = result
        self._set_busy(False)
        self.raw = raw
        self.preview.setModel(PreviewModel(raw, self.preview))
        columns = [str(c) for c in raw.columns]
        self.status.setText(f"{Path(self.path).name}: {len(raw):,} rows, {len(columns)} columns. "
                            "Check the mapping below, then Import.")
        for box in self.field_boxes.values():
            box.blockSignals(True)
            box.addItems([CHOOSE, *columns])
            box.blockSignals(False)
        for box, none in ((self.id_box, NO_ID), (self.split_box, NO_SPLIT)):
            box.blockSignals(True)
            box.addItems([none, *columns])
            box.blockSignals(False)
        self.slice_list.blockSignals(True)
        for column in columns:
            item = QListWidgetItem(column, self.slice_list)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
        self.slice_list.blockSignals(False)
        self._propose(columns)
        self._validate()
        self.loaded.emit()

    def _read_failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        self._fail(_message(exc, self.path), close=True)

    def _propose(self, columns: list[str]) -> None:
        """Preselect what infer_mapping finds; fields it cannot place stay on "choose"."""
        from engine import datasets
        from engine.errors import DatasetError

        fields = list(self.field_boxes)
        try:
            mapping = datasets.infer_mapping(columns, fields)
        except DatasetError:
            mapping = None
            for field, box in self.field_boxes.items():
                same = [c for c in columns if c.casefold() == field.casefold()]
                if len(same) == 1:
                    box.setCurrentText(same[0])
            used = {box.currentText() for box in self.field_boxes.values()}

            def unused(*names: str) -> str | None:
                return next((c for n in names for c in columns if c.casefold() == n and c not in used), None)

            for box, names in ((self.id_box, ("id",)), (self.split_box, ("split",))):
                if match := unused(*names):
                    box.setCurrentText(match)
            if match := unused(*datasets.SLICE_COLUMN_NAMES):
                self.set_slice_columns([match])
            return
        for field, column in mapping.fields.items():
            self.field_boxes[field].setCurrentText(column)
        if mapping.id_column:
            self.id_box.setCurrentText(mapping.id_column)
        if mapping.split_column:
            self.split_box.setCurrentText(mapping.split_column)
        self.set_slice_columns(mapping.slice_columns)

    # -- the mapping -------------------------------------------------------------------------------

    def set_field_column(self, field: str, column: str) -> None:
        self.field_boxes[field].setCurrentText(column)

    def set_special_column(self, role: str, column: str | None) -> None:
        """role: "id", "split" or "slices" (then the only slice column); None for no such column."""
        if role == "slices":
            self.set_slice_columns([] if column is None else [column])
            return
        box = {"id": self.id_box, "split": self.split_box}[role]
        box.setCurrentIndex(0) if column is None else box.setCurrentText(column)

    def set_slice_columns(self, columns) -> None:
        """Check exactly these columns as slice columns."""
        wanted = set(columns)
        self.slice_list.blockSignals(True)
        for row in range(self.slice_list.count()):
            item = self.slice_list.item(row)
            item.setCheckState(Qt.CheckState.Checked if item.text() in wanted else Qt.CheckState.Unchecked)
        self.slice_list.blockSignals(False)
        self._validate()

    def slice_columns(self) -> tuple[str, ...]:
        """The checked slice columns, in the file's column order."""
        items = (self.slice_list.item(row) for row in range(self.slice_list.count()))
        return tuple(item.text() for item in items if item.checkState() == Qt.CheckState.Checked)

    def set_append(self, append: bool) -> None:
        (self.append_button if append else self.replace_button).setChecked(True)

    def mapping(self):
        """The ColumnMapping the combos describe (fields still on "choose" are left out)."""
        from engine.datasets import ColumnMapping

        def chosen(box: QComboBox) -> str | None:
            return box.currentText() if box.currentIndex() > 0 else None

        fields = {f: chosen(box) for f, box in self.field_boxes.items()}
        return ColumnMapping(fields={f: c for f, c in fields.items() if c}, id_column=chosen(self.id_box),
                             split_column=chosen(self.split_box), slice_columns=self.slice_columns())

    def _validate(self) -> None:
        if self.raw is None:
            return
        mapping = self.mapping()
        missing = [f for f in self.field_boxes if f not in mapping.fields]
        columns = list(mapping.fields.values())
        twice = sorted({c for c in columns if columns.count(c) > 1})
        if missing:
            text = "Choose a column for " + ", ".join(missing) + "."
        elif twice:
            text = f"Column {twice[0]!r} feeds two fields; each field needs its own column."
        else:
            text = ""
        self.problem.setText(text)
        self.problem.setVisible(bool(text))
        uses = {column: f"→ {field}" for field, column in mapping.fields.items()}
        for column, role in ((mapping.id_column, "id"), (mapping.split_column, "split"),
                             *((column, "slices") for column in mapping.slice_columns)):
            if column:
                uses[column] = f"{uses[column]}, {role}" if column in uses else f"→ {role}"
        self.preview.model().set_uses(uses)
        self.import_button.setEnabled(not text and not self._busy)
        self._check_request += 1
        if text:
            self._check_timer.stop()
            self._show_checks([], [], 0, None)
        else:
            self._check_timer.start()

    # -- the data checked against the program, before Import ---------------------------------------------

    def _start_check(self) -> None:
        project = self.session.project
        if self.raw is None or self._busy or project is None:
            return  # the project went away before the timer fired: nothing to check against
        append = self.append_button.isChecked()
        raw, mapping, source = self.raw, self.mapping(), Path(self.path).name
        current, program, request = (project.frame if append else None), project.program, self._check_request
        self.checks.setText("Checking the data against the program…")
        self.checks.show()
        background.run(lambda: _check(raw, mapping, source, current, append, program),
                       lambda result: self._checked(result, request),
                       lambda exc: self._checked(([], [], 0), request, error=_message(exc, self.path)))

    def _checked(self, result, request: int, error: str | None = None) -> None:
        if request != self._check_request or self.raw is None:
            return  # the mapping changed meanwhile: a newer check is on its way
        self._show_checks(*result, error)
        self.checked.emit()

    def _show_checks(self, findings: list, leaks: list, first: int, error: str | None) -> None:
        from html import escape

        from engine.datasets import describe_leak

        self.findings = list(findings)
        flagged: dict[int, list[str]] = {}
        named = [(finding.rows, finding.message) for finding in self.findings]
        named += [(leak.rows, f"leak: {describe_leak(leak)}") for leak in leaks]
        for rows, message in named:
            for row in rows:
                if 0 <= row - first < PREVIEW_ROWS:
                    flagged.setdefault(row - first, []).append(message)
        model = self.preview.model()
        if model is not None:
            model.set_flagged({row: "\n".join(messages) for row, messages in flagged.items()})
        lines = [escape(finding.message, quote=False) for finding in self.findings[:FINDINGS_SHOWN]]
        if len(self.findings) > FINDINGS_SHOWN:
            lines.append(f"and {len(self.findings) - FINDINGS_SHOWN} more")
        if leaks:
            shown = "; ".join(describe_leak(leak) for leak in leaks[:2]) + ("; …" if len(leaks) > 2 else "")
            lines.insert(0, escape(f"{len(leaks)} example{'s' if len(leaks) != 1 else ''} would leak between "
                                   f"splits ({shown}): compiling stays blocked until each sits in one split",
                                   quote=False))
        if error:
            lines = [escape(error, quote=False)]
        if not lines:
            self.checks.hide()
            return
        head = ("<b>Cannot check this mapping yet.</b>" if error else
                "<b>Data checks against the program</b> (rows tinted in the preview; Import still works, "
                "and you can fix them in the Dataset pane):")
        self.checks.setText(head + "<ul style='margin: 2px 0 0 -24px;'>"
                            + "".join(f"<li>{line}</li>" for line in lines) + "</ul>")
        self.checks.show()

    # -- importing ---------------------------------------------------------------------------------

    def start_import(self) -> None:
        if self.raw is None or self._busy or not self.import_button.isEnabled():
            return
        append = self.append_button.isChecked()
        project = self.session.project
        raw, mapping, source = self.raw, self.mapping(), Path(self.path).name
        current = project.frame if append else None
        revision = self.session.revision
        self._set_busy(True)
        self.status.setText(f"Importing {len(raw):,} rows…")
        background.run(lambda: _convert(raw, mapping, source, current, append),
                       lambda result: self._converted(result, project, revision, source),
                       lambda exc: self._convert_failed(exc))

    def _converted(self, result, project, revision: int, source: str) -> None:
        from desktop.dataset_commands import ImportRows, push

        self._set_busy(False)
        if self.session.project is not project or self.session.revision != revision:
            self._fail("The project changed while the file was being imported; import it again.")
            return
        frame, appended, self.timings["convert"] = result
        if push(self.session, ImportRows(self.session, frame, appended=appended, source=source)):
            self.raw = None  # the project holds what it needs; the preview goes with the dialog
            self.imported.emit()
            self.accept()

    def _convert_failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        self.status.setText("Nothing was imported.")
        self._fail(_message(exc, self.path))

    def done(self, result: int) -> None:
        self._check_request += 1  # a check still running reports to nobody
        self._check_timer.stop()
        super().done(result)

    def _fail(self, text: str, *, close: bool = False) -> None:
        self.failed.emit(text)
        messages.error(self, "Cannot import this file", text)
        if close:
            self.reject()

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.progress.setVisible(busy)
        self.import_button.setEnabled(not busy and self.raw is not None and not self.problem.text())
        for box in [*self.field_boxes.values(), self.id_box, self.split_box, self.slice_list]:
            box.setEnabled(not busy)


def _message(exc: BaseException, path: str) -> str:
    from engine.errors import WorkbenchError

    if isinstance(exc, WorkbenchError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"Cannot read {path}: {exc.strerror or exc}. Check that the file exists and that you may read it."
    return (f"Importing {path} failed unexpectedly ({type(exc).__name__}). The details are in the log; "
            "please report them.")
