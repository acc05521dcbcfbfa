"""The Dataset pane: the example table, its splits and slices, and the leakage banner.

What the practitioner does here: import a file (toolbar or drag-and-drop), look through the
examples, assign them to train / validation / test by hand or with Auto-split, tag slices, and fix
leaks (the same example in two splits) until the red banner disappears; compiling stays blocked
while it shows. Every edit is undoable (Edit > Undo) and autosaved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QItemSelectionModel, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from desktop import background, messages
from desktop.dataset_commands import AddRows, AddSlice, AutoSplit, DeleteRows, RemoveSlice, SetSplit, push
from desktop.dataset_model import DatasetTableModel, RowFilter
from desktop.leak_watch import watch
from desktop.panes.base import Pane
from desktop.panes.dataset_widgets import (
    Banner,
    DatasetDelegate,
    SplitCountsPanel,
    TableHeader,
    findings_html,
    leak_html,
)
from desktop.session import ProjectSession

DATA_SUFFIXES = {".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet", ".pq", ".xlsx"}
ALL_SPLITS, ALL_SLICES, NO_SLICE = "All splits", "All slices", "(no slice)"
SPLIT_CHOICES = [(ALL_SPLITS, None), ("Train", "train"), ("Validation", "validation"), ("Test", "test"),
                 ("Unassigned", "")]
COLUMN_WIDTH_MAX = 420


class DatasetPane(Pane):
    """Table, toolbar, filters, leakage banner and split counts for `session.project.frame`.

    Signals: none of its own; it edits through `session.undo_stack` and follows the session.
    """

    title = "Dataset"
    icon_name = "dataset"

    def __init__(self, session: ProjectSession, parent: QWidget | None = None):
        super().__init__(session, parent)
        self.model = DatasetTableModel(session, self)
        self.leak_watcher = watch(session)
        self.dialog = None  # the open Import / Auto-split dialog, if any
        self._counts_request = 0
        self._busy_tasks = 0
        self.setAcceptDrops(True)
        self._build()
        self.model.rows_shown_changed.connect(self._rows_shown)
        self.model.modelReset.connect(self._sync_filter_widgets)
        self.model.filtering_changed.connect(self._filtering)
        session.leaks_changed.connect(self._show_leaks)
        session.opened.connect(self._project_changed)
        session.closed.connect(self._project_changed)
        session.dataset_changed.connect(self._schedule_counts)
        session.splits_changed.connect(self._schedule_counts)
        session.program_changed.connect(self._project_changed)
        self.leak_watcher.checking_changed.connect(self._checking)
        self.leak_watcher.findings_changed.connect(self._show_findings)
        self._project_changed()

    # -- layout ------------------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 8)
        layout.setSpacing(8)
        layout.addWidget(self._toolbar())
        layout.addLayout(self._filter_bar())
        self.leak_banner = Banner("error", "Show rows")
        self.leak_banner.action_clicked.connect(self.show_leak_rows)
        layout.addWidget(self.leak_banner)
        self.findings_banner = Banner("warning", "Show rows")
        self.findings_banner.action_clicked.connect(self.show_finding_rows)
        layout.addWidget(self.findings_banner)

        self.table = QTableView()
        self.table.setHorizontalHeader(TableHeader(self.table))
        self.table.setModel(self.model)
        self.table.setItemDelegate(DatasetDelegate(self.model, self.table))
        # The Delete shortcut lives on the table (its context is the widget with its children): a
        # shortcut only the toolbar held fired only while the toolbar had focus, that is never.
        self.table.addAction(self.delete_action)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed
                                   | QAbstractItemView.EditTrigger.AnyKeyPressed)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setAlternatingRowColors(True)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vertical = self.table.verticalHeader()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # uniform row heights: O(1) layout
        vertical.setDefaultSectionSize(self.fontMetrics().height() + 10)
        vertical.hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # frame order until a header is clicked
        header.setSortIndicatorClearable(True)
        self.table.setSortingEnabled(True)

        self.empty = QWidget()
        empty_layout = QVBoxLayout(self.empty)
        empty_layout.addStretch(1)
        self.empty_text = QLabel(alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        empty_layout.addWidget(self.empty_text)
        import_button = QPushButton("Import a data file…")
        import_button.clicked.connect(lambda: self.import_file())
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(import_button)
        row.addStretch(1)
        empty_layout.addLayout(row)
        empty_layout.addStretch(2)

        self.table_stack = QStackedWidget()
        self.table_stack.addWidget(self.table)
        self.table_stack.addWidget(self.empty)

        self.counts = SplitCountsPanel()
        self.counts.cell_chosen.connect(self._counts_cell_chosen)
        self.counts.setMinimumWidth(230)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table_stack)
        splitter.addWidget(self.counts)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setSizes([900, 260])
        splitter.setChildrenCollapsible(False)
        layout.addWidget(splitter, 1)

        self.status = QLabel()
        self.status.setStyleSheet("color: palette(placeholder-text);")
        layout.addWidget(self.status)

        self._counts_timer = QTimer(self, singleShot=True, interval=0)
        self._counts_timer.timeout.connect(self.refresh_counts)

    def _toolbar(self) -> QToolBar:
        bar = QToolBar()
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.import_action = bar.addAction("Import…", lambda: self.import_file())
        self.import_action.setToolTip("Import a CSV, JSONL or Parquet file (or drop one on this pane)")
        self.add_action = bar.addAction("Add row", self.add_row)
        self.delete_action = bar.addAction("Delete rows", self.delete_selected)
        self.delete_action.setShortcut("Del")
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        bar.addSeparator()
        bar.addWidget(QLabel(" Assign selection to: "))
        self.assign_actions = {}
        for label, split in (("Train", "train"), ("Validation", "validation"), ("Test", "test"),
                             ("Unassigned", "")):
            action = bar.addAction(label, lambda s=split: self.assign_selected(s))
            action.setToolTip(f"Put the selected rows in {label.lower()}" if split else
                              "Take the selected rows out of every split")
            self.assign_actions[split] = action
        bar.addSeparator()
        self.add_slice_action = bar.addAction("Add slice…", lambda: self.add_slice_to_selected())
        self.remove_slice_action = bar.addAction("Remove slice…", lambda: self.remove_slice_from_selected())
        bar.addSeparator()
        self.auto_split_action = bar.addAction("Auto-split…", lambda: self.auto_split())
        self.auto_split_action.setToolTip("Assign every example to train / validation / test by seeded fractions")
        return bar

    def _filter_bar(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.filter_edit = QLineEdit(placeholderText="Filter: text in any column", clearButtonEnabled=True)
        self._filter_timer = QTimer(self, singleShot=True, interval=250)
        self._filter_timer.timeout.connect(self._apply_text_filter)
        self.filter_edit.textChanged.connect(lambda _: self._filter_timer.start())
        self.split_combo = QComboBox()
        for label, value in SPLIT_CHOICES:
            self.split_combo.addItem(label, value)
        self.split_combo.currentIndexChanged.connect(
            lambda _: self.model.update_filter(split=self.split_combo.currentData()))
        self.slice_combo = QComboBox(minimumContentsLength=12)
        self.slice_combo.currentIndexChanged.connect(self._slice_chosen)
        self.clear_filter_button = QPushButton("Show all rows")
        self.clear_filter_button.clicked.connect(self.clear_filter)
        self.clear_filter_button.hide()
        self.shown_label = QLabel()
        row.addWidget(self.filter_edit, 1)
        row.addWidget(self.split_combo)
        row.addWidget(self.slice_combo)
        row.addWidget(self.clear_filter_button)
        row.addWidget(self.shown_label)
        return row

    # -- following the session ---------------------------------------------------------------------

    def _project_changed(self) -> None:
        has_project = self.session.is_open
        for action in [self.import_action, self.add_action, self.delete_action, self.add_slice_action,
                       self.remove_slice_action, self.auto_split_action, *self.assign_actions.values()]:
            action.setEnabled(has_project)
        self._sync_filter_widgets()
        self._size_columns()
        self.refresh_counts()
        self._show_leaks(self.session.leaks)
        self._show_findings(self.leak_watcher.findings)

    def _size_columns(self) -> None:
        """Widths from the header and the first rows (never from all rows: that would read the whole table)."""
        frame = self.model.frame
        if frame is None:
            return
        metrics = self.table.fontMetrics()
        sample = frame.head(200)
        for column, name in enumerate(self.model.columns):
            header = max(metrics.horizontalAdvance(part) for part in
                         str(self.model.headerData(column, Qt.Orientation.Horizontal)).split("\n"))
            widest = max((metrics.horizontalAdvance(str(v)[:80]) for v in sample[name].tolist()), default=0)
            self.table.setColumnWidth(column, min(max(header + 28, widest + 16, 70), COLUMN_WIDTH_MAX))

    def _schedule_counts(self) -> None:
        self._counts_timer.start()

    def refresh_counts(self) -> None:
        """Split counts per slice and the slice list (background for big tables)."""
        frame = self.model.frame if self.session.is_open else None
        self._counts_request += 1
        if frame is None:
            self.counts.clear()
            self._set_slices([])
            self._show_state()
            return
        if len(frame) <= background.ASYNC_ROWS:
            self._counts_ready(self._counts_request, _counts(frame))
            return
        request, snapshot = self._counts_request, frame[["split", "slices"]]
        background.run(lambda: _counts(snapshot), lambda result: self._counts_ready(request, result))

    def _counts_ready(self, request: int, result) -> None:
        if request != self._counts_request:
            return
        counts, tags = result
        self.counts.show_counts(counts)
        self._set_slices(tags)
        self._show_state()

    def _set_slices(self, tags: list[str]) -> None:
        current = self.slice_combo.currentData()
        self.slice_combo.blockSignals(True)
        self.slice_combo.clear()
        self.slice_combo.addItem(ALL_SLICES, None)
        for tag in tags:
            self.slice_combo.addItem(tag, tag)
        self.slice_combo.addItem(NO_SLICE, "")
        found = self.slice_combo.findData(current) if current is not None else 0
        self.slice_combo.setCurrentIndex(max(found, 0))
        self.slice_combo.blockSignals(False)
        if current is not None and found < 0:
            self.model.update_filter(slice_tag=None)

    def _slice_chosen(self, _index: int) -> None:
        self.model.update_filter(slice_tag=self.slice_combo.currentData())

    def _show_state(self) -> None:
        frame = self.model.frame
        if frame is None:
            self.empty_text.setText("Open or create a project to see its examples.")
            self.table_stack.setCurrentWidget(self.empty)
        elif len(frame) == 0:
            self.empty_text.setText("<h3>No examples yet</h3>Import a CSV, JSONL or Parquet file (or drop it "
                                    "here), or add rows one by one with <b>Add row</b>.")
            self.table_stack.setCurrentWidget(self.empty)
        else:
            self.table_stack.setCurrentWidget(self.table)

    def _rows_shown(self, shown: int, total: int) -> None:
        self.shown_label.setText(f"{shown:,} rows" if shown == total else f"{shown:,} of {total:,} rows")
        self._show_state()

    def _sync_filter_widgets(self) -> None:
        row_filter = self.model.row_filter
        for widget in (self.filter_edit, self.split_combo):
            widget.blockSignals(True)
        if self.filter_edit.text() != row_filter.text:
            self.filter_edit.setText(row_filter.text)
        self.split_combo.setCurrentIndex(max(self.split_combo.findData(row_filter.split), 0)
                                         if row_filter.split is not None else 0)
        for widget in (self.filter_edit, self.split_combo):
            widget.blockSignals(False)
        if row_filter.slice_tag is None and self.slice_combo.currentIndex() > 0:
            self.slice_combo.blockSignals(True)
            self.slice_combo.setCurrentIndex(0)
            self.slice_combo.blockSignals(False)
        self.clear_filter_button.setVisible(row_filter.active)
        self.model.set_highlighted(row_filter.rows or ())

    def _apply_text_filter(self) -> None:
        self.model.update_filter(text=self.filter_edit.text())

    def _filtering(self, busy: bool) -> None:
        self.status.setText("Filtering…" if busy else "")

    def _checking(self, busy: bool) -> None:
        self.status.setText("Checking the splits for leaks…" if busy else "")

    def _background_edit_done(self) -> None:
        """A background edit (auto-split) ended: the pane is no longer busy with it."""
        self._busy_tasks -= 1
        self.status.setText("")

    def clear_filter(self) -> None:
        self.model.set_filter(RowFilter())
        self._sync_filter_widgets()

    def _counts_cell_chosen(self, tag: str, split: str) -> None:
        self.model.set_filter(RowFilter(split=split, slice_tag=tag or None))
        self.slice_combo.setCurrentIndex(max(self.slice_combo.findData(tag), 0) if tag else 0)
        self._sync_filter_widgets()

    # -- leakage -------------------------------------------------------------------------------------

    def _show_leaks(self, leaks: list) -> None:
        if not leaks or not self.session.is_open:
            self.leak_banner.hide()
            if self.model.row_filter.rows is not None:
                self.model.set_highlighted(())
            return
        from engine.dataset_queries import describe_leak

        self.leak_banner.restyle()
        self.leak_banner.show_message(leak_html(leaks, describe_leak))

    def show_leak_rows(self) -> None:
        """Filter the table to the rows of every leak (highlighted), so one of each pair can be moved."""
        rows = sorted({row for leak in self.session.leaks for row in leak.rows})
        self.model.set_filter(RowFilter(rows=tuple(rows)))
        self._sync_filter_widgets()

    # -- data checks ---------------------------------------------------------------------------------

    def _show_findings(self, findings: list) -> None:
        if not findings or not self.session.is_open:
            self.findings_banner.hide()
            return
        self.findings_banner.restyle()
        self.findings_banner.show_message(findings_html(findings))

    def show_finding_rows(self) -> None:
        """Filter the table to the rows every data-check finding names (highlighted)."""
        rows = sorted({row for finding in self.leak_watcher.findings for row in finding.rows})
        self.model.set_filter(RowFilter(rows=tuple(rows)))
        self._sync_filter_widgets()

    # -- selection and edits -------------------------------------------------------------------------

    def selected_rows(self) -> np.ndarray:
        """Frame positions of the selected rows (from selection ranges: cheap for 100,000 rows)."""
        ranges = self.table.selectionModel().selection()
        if not ranges:
            return np.empty(0, dtype=np.intp)
        view_rows = np.unique(np.concatenate([np.arange(r.top(), r.bottom() + 1) for r in ranges]))
        return np.sort(self.model.frame_rows(view_rows))

    def select_view_rows(self, first: int, last: int) -> None:
        """Select view rows first..last (whole rows); for tests, benchmarks and keyboard helpers."""
        from PySide6.QtCore import QItemSelection

        selection = QItemSelection(self.model.index(first, 0), self.model.index(last, self.model.columnCount() - 1))
        self.table.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def _need_selection(self) -> np.ndarray | None:
        rows = self.selected_rows()
        if not len(rows):
            messages.info(self, "Select rows first", "Select one or more rows in the table (click, Shift+click "
                          "or Ctrl+click), then try again.")
            return None
        return rows

    def assign_selected(self, split: str) -> bool:
        rows = self._need_selection()
        return rows is not None and push(self.session, SetSplit(self.session, rows, split))

    def add_row(self) -> bool:
        if not push(self.session, AddRows(self.session, 1)):
            return False
        if self.model.row_filter.active:
            self.clear_filter()
        last = self.model.rowCount() - 1
        self.table.scrollToBottom()
        self.table.setCurrentIndex(self.model.index(last, min(3, self.model.columnCount() - 1)))
        return True

    def delete_selected(self) -> bool:
        rows = self._need_selection()
        return rows is not None and push(self.session, DeleteRows(self.session, rows))

    def add_slice_to_selected(self, tag: str | None = None) -> bool:
        rows = self._need_selection()
        if rows is None:
            return False
        if tag is None:
            tags = [self.slice_combo.itemData(i) for i in range(1, self.slice_combo.count() - 1)]
            tag = messages.ask_text(self, "Add slice", f"Slice tag for {len(rows):,} selected rows "
                                    "(e.g. adversarial, billing):", choices=tags or None)
        return bool(tag) and push(self.session, AddSlice(self.session, rows, tag.strip()))

    def remove_slice_from_selected(self, tag: str | None = None) -> bool:
        rows = self._need_selection()
        if rows is None:
            return False
        if tag is None:
            tags = [self.slice_combo.itemData(i) for i in range(1, self.slice_combo.count() - 1)]
            if not tags:
                messages.info(self, "No slices", "No row has a slice tag yet.")
                return False
            tag = messages.ask_text(self, "Remove slice", f"Remove which slice from {len(rows):,} selected rows?",
                                    choices=tags)
        return bool(tag) and push(self.session, RemoveSlice(self.session, rows, tag.strip()))

    def auto_split(self, settings=None) -> None:
        """Ask for fractions / seed / stratify (or use `settings`), then split in one undoable step."""
        if settings is None:
            from desktop.dialogs.auto_split_dialog import AutoSplitDialog

            program = self.session.project.program
            choices = ["slices", *program.output_names, *program.input_names]
            self.dialog = dialog = AutoSplitDialog(choices, self)
            dialog.accepted.connect(lambda: self.auto_split(dialog.settings()))
            dialog.finished.connect(lambda _result: self._dialog_closed(dialog))
            dialog.open()
            return
        frame, revision = self.model.frame, self.session.revision

        def compute(snapshot):
            from engine import datasets

            return datasets.assign_splits(snapshot, settings.fractions, seed=settings.seed,
                                          stratify=settings.stratify, only_unassigned=settings.only_unassigned)

        def done(new_frame) -> None:
            if self.session.revision != revision or self.model.frame is not frame:
                self.session.error.emit("The table changed while it was being split; run Auto-split again.")
                return
            push(self.session, AutoSplit(self.session, new_frame, settings.describe()))

        if len(frame) <= background.ASYNC_ROWS:
            from engine.errors import WorkbenchError

            try:
                done(compute(frame))
            except WorkbenchError as exc:
                self.session.error.emit(str(exc))
            return
        snapshot = frame.copy(deep=False)
        self.status.setText("Splitting…")
        self._busy_tasks += 1
        background.run(lambda: compute(snapshot), done, lambda exc: self.session.error.emit(str(exc)),
                       on_finished=self._background_edit_done)

    # -- importing -----------------------------------------------------------------------------------

    def import_file(self, path: str | None = None):
        """Open the mapping dialog for a data file (asks for one when `path` is None). Returns the dialog."""
        if not self.session.is_open:
            return None
        if path is None:
            project = self.session.project
            path = messages.open_file(self, "Import examples", start=str(project.root) if project else "")
            if not path:
                return None
        from desktop.dialogs.import_dialog import ImportDialog

        self.dialog = dialog = ImportDialog(self.session, path, self)
        dialog.finished.connect(lambda _result: self._dialog_closed(dialog))
        dialog.open()
        return dialog

    def _dialog_closed(self, dialog) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self.session.is_open and _dropped_file(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt's name
        path = _dropped_file(event)
        if path is not None:
            event.acceptProposedAction()
            self.import_file(path)

    def is_busy(self) -> bool:
        dialog_busy = self.dialog is not None and getattr(self.dialog, "_busy", False)
        return self._busy_tasks > 0 or dialog_busy

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        if self.dialog is not None:
            self.dialog.reject()
        background.wait_all(timeout_ms)


def _dropped_file(event) -> str | None:
    urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
    if len(urls) != 1 or not urls[0].isLocalFile():
        return None
    path = urls[0].toLocalFile()
    return path if Path(path).suffix.lower() in DATA_SUFFIXES else None


def _counts(frame):
    """(split counts per slice, slice tags). Runs on any thread."""
    from engine import datasets

    counts = datasets.split_counts(frame)
    return counts, [str(tag) for tag in counts.index[1:]]


if __name__ == "__main__":
    from desktop.preview import preview

    preview(DatasetPane)
