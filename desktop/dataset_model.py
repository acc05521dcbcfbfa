"""The example table as a Qt model, straight over `session.project.frame` (never a copy).

Rows of the view map to rows of the frame through an optional index array (`order`, NumPy, frame
positions): None shows every row in frame order and costs nothing; a filter (split, slice, text,
a given set of rows) or a sort makes an array. Big frames compute it on a pool thread.

`data()` reads one cell per call from the frame's column arrays and keeps the last few thousand
formatted cells in an LRU cache, cleared on every change, so painting a screenful costs a few
hundred array lookups whatever the table's size. Edits never happen here: `setData` pushes an
undo command (desktop.dataset_commands), the command changes the frame through the engine and
says what it did (`session.frame_edited`), and the model turns that into precise Qt signals:
dataChanged for cells, beginInsertRows/beginRemoveRows for rows, a reset for a new table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from html import escape

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal

from desktop import background
from desktop.session import FrameEdit, ProjectSession

CANONICAL = ("id", "split", "slices")
DISPLAY_CHARS = 300  # the view elides long cells anyway; formatting more is wasted work
TOOLTIP_CHARS = 4000
CACHE_CELLS = 20_000
UNASSIGNED_LABEL = "—"
EDITABLE = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEditable
MAX_PRECISE_RUNS = 200  # more scattered insert/remove runs than this: one reset is faster and equivalent


@dataclass(frozen=True)
class RowFilter:
    """Which rows the view shows: all conditions must hold (None / "" = no condition)."""

    text: str = ""
    split: str | None = None  # "train", "validation", "test" or "" (unassigned)
    slice_tag: str | None = None  # a tag, or "" for rows without any tag
    rows: tuple[int, ...] | None = None  # only these frame positions (e.g. the rows of a leak)

    @property
    def active(self) -> bool:
        return bool(self.text.strip()) or self.split is not None or self.slice_tag is not None \
            or self.rows is not None


def _one_line(text: str) -> str:
    if len(text) > DISPLAY_CHARS:
        text = text[:DISPLAY_CHARS] + "…"
    if "\n" in text or "\r" in text or "\t" in text:
        text = text.replace("\r\n", " ⏎ ").replace("\n", " ⏎ ").replace("\r", " ").replace("\t", " ")
    return text


def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive runs in sorted ints: [(first, last), ...]."""
    if not len(values):
        return []
    breaks = np.flatnonzero(np.diff(values) != 1)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(values) - 1]))
    return [(int(values[s]), int(values[e])) for s, e in zip(starts, ends, strict=True)]


class DatasetTableModel(QAbstractTableModel):
    """Rows and columns of the project's example table; edits go to the session's undo stack.

    Signals:
        rows_shown_changed(int, int)   (rows shown, rows in the table) after a filter/sort/edit
        filtering_changed(bool)        a background filter or sort started / finished
    """

    rows_shown_changed = Signal(int, int)
    filtering_changed = Signal(bool)

    def __init__(self, session: ProjectSession, parent: QObject | None = None):
        super().__init__(parent)
        self.session = session
        self._frame = None  # the frame shown: session.project.frame itself, or the one before an edit
        self._columns: list[str] = []
        self._arrays: list = []
        self._roles: dict[str, str] = {}
        self._descriptions: dict[str, str] = {}
        self._order: np.ndarray | None = None
        self._inverse: np.ndarray | None = None
        self.row_filter = RowFilter()
        self.sort_key: tuple[str, bool] | None = None  # (column, descending)
        self.highlighted: frozenset[int] = frozenset()  # frame rows painted as problems (leaks)
        self._handled_revision = -1
        self._order_request = 0
        self._filter_task = None
        self._cell = lru_cache(maxsize=CACHE_CELLS)(self._format)
        session.opened.connect(self.reload)
        session.closed.connect(self.reload)
        session.program_changed.connect(self.reload)
        session.frame_edited.connect(self._frame_edited)
        session.dataset_changed.connect(self._changed_elsewhere)
        session.splits_changed.connect(self._changed_elsewhere)
        self.reload()

    # -- what the view asks -----------------------------------------------------------------------

    @property
    def frame(self):
        return self._frame

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    @property
    def order(self) -> np.ndarray | None:
        """Frame positions of the shown rows (None: all rows in frame order). Do not modify."""
        return self._order

    @property
    def total_rows(self) -> int:
        return 0 if self._frame is None else len(self._frame)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() or self._frame is None:
            return 0
        return len(self._frame) if self._order is None else len(self._order)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def frame_row(self, view_row: int) -> int:
        return view_row if self._order is None else int(self._order[view_row])

    def frame_rows(self, view_rows) -> np.ndarray:
        rows = np.asarray(view_rows, dtype=np.intp)
        return rows if self._order is None else self._order[rows]

    def view_row(self, frame_row: int) -> int | None:
        """Where a frame row is shown, or None when the filter hides it."""
        if self._order is None:
            return frame_row if 0 <= frame_row < self.total_rows else None
        if self._inverse is None:
            self._inverse = np.full(self.total_rows, -1, dtype=np.intp)
            self._inverse[self._order] = np.arange(len(self._order))
        found = int(self._inverse[frame_row]) if 0 <= frame_row < len(self._inverse) else -1
        return None if found < 0 else found

    def column_of(self, name: str) -> int:
        return self._columns.index(name)

    def role_of(self, column: str) -> str:
        """"input", "output", "" for id/split/slices, or "unused" for a column no field reads."""
        return self._roles.get(column, "")

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        # Called per cell by Qt's selection code (100,000s of times for a big selection): keep it trivial.
        return EDITABLE if index.isValid() else Qt.ItemFlag.NoItemFlags

    def _raw(self, frame_row: int, column: int) -> str:
        value = self._arrays[column][frame_row]
        return value if isinstance(value, str) else ""

    def _format(self, frame_row: int, column: int) -> str:
        text = self._raw(frame_row, column)
        if column == 1 and text == "":
            return UNASSIGNED_LABEL
        return _one_line(text)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self._frame is None:
            return None
        row, column = index.row(), index.column()
        if row >= self.rowCount() or column >= len(self._columns):
            return None
        frame_row = self.frame_row(row)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._cell(frame_row, column)
        if role == Qt.ItemDataRole.EditRole:
            return self._raw(frame_row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(self._raw(frame_row, column))
        if role == Qt.ItemDataRole.ForegroundRole and self._columns[column] == "split":
            from desktop.theme import split_color

            return split_color(self._raw(frame_row, column))
        if role == Qt.ItemDataRole.BackgroundRole and frame_row in self.highlighted:
            from PySide6.QtGui import QColor

            from desktop.theme import banner_colors

            return QColor(banner_colors("error")[0])
        return None

    @staticmethod
    def _tooltip(text: str) -> str | None:
        if len(text) <= 40 and "\n" not in text:
            return None
        if len(text) > TOOLTIP_CHARS:
            text = text[:TOOLTIP_CHARS] + "…"
        return f"<p style='white-space:pre-wrap'>{escape(text)}</p>"  # rich text: Qt wraps it

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Vertical:
            if role == Qt.ItemDataRole.DisplayRole and 0 <= section < self.rowCount():
                return str(self.frame_row(section) + 1)
            return None
        if not 0 <= section < len(self._columns):
            return None
        name = self._columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            role_name = self._roles.get(name, "")
            return f"{name}\n{role_name}" if role_name else f"{name}\n "
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._descriptions.get(name, name)
        return None

    def setData(self, index: QModelIndex | QPersistentModelIndex, value, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or not index.isValid() or self._frame is None:
            return False
        from desktop.dataset_commands import EditCell, push

        frame_row = self.frame_row(index.row())
        column = self._columns[index.column()]
        if str(value) == self._raw(frame_row, index.column()):
            return False
        return push(self.session, EditCell(self.session, frame_row, column, str(value)))

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        key = None if not 0 <= column < len(self._columns) else \
            (self._columns[column], order == Qt.SortOrder.DescendingOrder)
        if key != self.sort_key:
            self.sort_key = key
            self._refresh_order()

    # -- filter ----------------------------------------------------------------------------------

    def set_filter(self, row_filter: RowFilter) -> None:
        if row_filter != self.row_filter:
            self.row_filter = row_filter
            self._refresh_order()

    def update_filter(self, **changes) -> None:
        self.set_filter(replace(self.row_filter, **changes))

    def set_highlighted(self, rows) -> None:
        rows = frozenset(int(r) for r in rows)
        if rows != self.highlighted:
            self.highlighted = rows
            self._all_changed()

    @property
    def filtering(self) -> bool:
        return self._filter_task is not None

    def _refresh_order(self) -> None:
        """Recompute `order` for the current filter and sort (on a pool thread for big frames)."""
        self._order_request += 1
        frame = self._frame
        if frame is None:
            return
        spec = (self.row_filter, self.sort_key)
        if not self.row_filter.active and self.sort_key is None:
            self._set_order(None)
            return
        if len(frame) <= background.ASYNC_ROWS:
            self._set_order(_compute_order(frame, *spec))
            return
        request, snapshot = self._order_request, frame.copy(deep=False)
        self._filter_task = background.run(lambda: _compute_order(snapshot, *spec),
                                           lambda order: self._order_ready(request, frame, order),
                                           lambda exc: self._order_failed(request, exc))
        self.filtering_changed.emit(True)

    def _order_ready(self, request: int, frame, order) -> None:
        if request != self._order_request:
            return  # a newer filter, sort or edit superseded it
        self._filter_task = None
        self.filtering_changed.emit(False)
        if frame is self._frame:
            self._set_order(order)

    def _order_failed(self, request: int, exc: BaseException) -> None:
        if request == self._order_request:
            self._filter_task = None
            self.filtering_changed.emit(False)
            self.session.error.emit(f"Could not filter the table: {exc}")

    def _set_order(self, order: np.ndarray | None) -> None:
        self.beginResetModel()
        self._order = order
        self._inverse = None
        self._cell.cache_clear()
        self.endResetModel()
        self._announce_rows()

    def _announce_rows(self) -> None:
        self.rows_shown_changed.emit(self.rowCount(), self.total_rows)

    # -- following the project ------------------------------------------------------------------

    def reload(self) -> None:
        """Show the session's current frame from scratch (a reset)."""
        self._order_request += 1
        if self._filter_task is not None:
            self._filter_task = None
            self.filtering_changed.emit(False)
        self.beginResetModel()
        project = self.session.project
        self._bind(project.frame if project is not None else None)
        self._order = None
        self._inverse = None
        if project is None:
            self.row_filter, self.sort_key, self.highlighted = RowFilter(), None, frozenset()
        self.endResetModel()
        self._handled_revision = self.session.revision
        if self.row_filter.active or self.sort_key is not None:
            self._refresh_order()
        else:
            self._announce_rows()

    def _bind(self, frame) -> None:
        self._frame = frame
        self._cell.cache_clear()
        if frame is None:
            self._columns, self._arrays, self._roles, self._descriptions = [], [], {}, {}
            return
        self._columns = list(frame.columns)
        self._refresh_arrays()
        program = self.session.project.program if self.session.project is not None else None
        inputs = {f.name: f for f in program.input_fields} if program else {}
        outputs = {f.name: f for f in program.output_fields} if program else {}
        self._roles = {}
        self._descriptions = {"id": "id: the example's unique id",
                              "split": "split: train, validation, test, or — (unassigned)",
                              "slices": "slices: tags that group examples for per-slice scores (a;b)"}
        for name in self._columns:
            field = inputs.get(name) or outputs.get(name)
            if field is not None:
                role = "input" if name in inputs else "output"
                self._roles[name] = role
                about = f" — {field.description}" if field.description else ""
                self._descriptions[name] = f"{name}: {role} field, {field.type_label()}{about}"
            elif name not in CANONICAL:
                self._roles[name] = "unused"
                self._descriptions[name] = f"{name}: no field of the program reads this column"

    def _refresh_arrays(self) -> None:
        self._arrays = [self._frame[name].array for name in self._columns]

    def _all_changed(self) -> None:
        self._cell.cache_clear()
        if self.rowCount() and self.columnCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, self.columnCount() - 1))

    def _changed_elsewhere(self) -> None:
        """dataset_changed / splits_changed without (or after) a FrameEdit."""
        if self.session.revision == self._handled_revision:
            return
        self._handled_revision = self.session.revision
        project = self.session.project
        if project is None or project.frame is not self._frame or list(project.frame.columns) != self._columns:
            self.reload()
            return
        self._refresh_arrays()
        self._all_changed()

    def _frame_edited(self, edit: FrameEdit) -> None:
        self._handled_revision = self.session.revision + 1  # the notify_changed that follows
        project = self.session.project
        if project is None:
            return
        if edit.kind == "cells" and len(project.frame) == self.total_rows \
                and list(project.frame.columns) == self._columns:
            self._cells_changed(project.frame, edit)
        elif edit.kind == "inserted" and edit.rows is not None and self.sort_key is None:
            self._rows_inserted(project.frame, np.asarray(edit.rows, dtype=np.intp))
        elif edit.kind == "removed" and edit.rows is not None:
            self._rows_removed(project.frame, np.asarray(edit.rows, dtype=np.intp))
        else:
            self.reload()

    def _cells_changed(self, frame, edit: FrameEdit) -> None:
        self._frame = frame  # may be a new frame object with the same rows (auto-split)
        self._refresh_arrays()
        self._cell.cache_clear()
        columns = [self._columns.index(c) for c in (edit.columns or self._columns) if c in self._columns]
        first, last = (min(columns), max(columns)) if columns else (0, len(self._columns) - 1)
        if edit.rows is not None and len(edit.rows) <= 1000:
            for frame_row in edit.rows:
                row = self.view_row(frame_row)
                if row is not None:
                    self.dataChanged.emit(self.index(row, first), self.index(row, last))
        elif self.rowCount():
            self.dataChanged.emit(self.index(0, first), self.index(self.rowCount() - 1, last))
        touched = set(edit.columns or self._columns)
        refilter = (self.row_filter.split is not None and "split" in touched) or \
                   (self.row_filter.slice_tag is not None and "slices" in touched) or \
                   (self.sort_key is not None and self.sort_key[0] in touched)
        if refilter:
            self._refresh_order()

    def _rows_inserted(self, frame, positions: np.ndarray) -> None:
        """Rows inserted at `positions` of the new `frame`: shown where they belong, even if filtered out."""
        inserted = np.zeros(len(frame), dtype=bool)
        inserted[positions] = True
        old_to_new = np.flatnonzero(~inserted)
        if len(old_to_new) != self.total_rows:
            self.reload()
            return
        existing = old_to_new if self._order is None else old_to_new[self._order]
        unfiltered = self._order is None
        # Swap to the new frame without a visible change: same rows in the same view positions.
        self._frame, self._order, self._inverse = frame, existing, None
        self._refresh_arrays()
        self._cell.cache_clear()
        targets = np.searchsorted(existing, positions)  # view row each new row goes before
        if len(np.unique(targets)) > MAX_PRECISE_RUNS:
            keep_all = unfiltered and not self.row_filter.active
            self._set_order(None if keep_all else np.insert(existing, targets, positions))
            return
        order = existing
        offset = 0
        for target in np.unique(targets):
            new_rows = positions[targets == target]
            at = int(target) + offset
            self.beginInsertRows(QModelIndex(), at, at + len(new_rows) - 1)
            order = np.insert(order, at, new_rows)
            self._order, self._inverse = order, None
            self.endInsertRows()
            offset += len(new_rows)
        if unfiltered and not self.row_filter.active:
            self._order = None
        self._announce_rows()

    def _rows_removed(self, frame, positions: np.ndarray) -> None:
        """Rows at `positions` of the frame shown so far are gone; `frame` is the table without them."""
        if len(frame) != self.total_rows - len(positions):
            self.reload()
            return
        unfiltered = self._order is None
        order = np.arange(self.total_rows) if unfiltered else self._order
        gone = np.zeros(self.total_rows, dtype=bool)
        gone[positions] = True
        view_rows = np.flatnonzero(gone[order])
        runs = _runs(view_rows)
        if len(runs) > MAX_PRECISE_RUNS:
            self.beginResetModel()
            order = order[~gone[order]]
            self._bind(frame)
            self._order = None if unfiltered else order - np.searchsorted(positions, order)
            self._inverse, self.highlighted = None, frozenset()
            self.endResetModel()
            self._announce_rows()
            return
        for first, last in reversed(runs):
            self.beginRemoveRows(QModelIndex(), first, last)
            order = np.delete(order, np.s_[first:last + 1])
            self._order, self._inverse = order, None
            self.endRemoveRows()
        shift = np.searchsorted(positions, order)  # removed rows before each remaining one
        self._frame, self._inverse = frame, None
        self._order = None if unfiltered else order - shift
        self._refresh_arrays()
        self._cell.cache_clear()
        self.highlighted = frozenset()
        self._announce_rows()


def _compute_order(frame, row_filter: RowFilter, sort_key) -> np.ndarray | None:
    """Frame positions for a filter and sort. Runs on any thread (reads a snapshot)."""
    from engine import dataset_queries

    rows = dataset_queries.filter_rows(frame, text=row_filter.text, split=row_filter.split,
                                       slice_tag=row_filter.slice_tag, rows=row_filter.rows)
    if sort_key is not None:
        column, descending = sort_key
        rows = dataset_queries.sort_rows(frame, column, descending=descending, rows=rows)
    return rows
