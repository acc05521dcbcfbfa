"""The compilation matrix: one row per program version (name + fingerprint), one column per exact
model revision, each cell the artifacts for that pair (review status, test score with its 95%
interval). A compiled artifact belongs to one program version and one model revision: an empty
cell means that pair needs its own compile and evaluation.

Reads a project's artifacts/ folder and the folders the user adds, on a pool thread
(`engine.artifacts.compilation_matrix` hashes every file of every bundle). Double-click a cell to
open its artifact; select two artifacts (two cells, or one cell holding two) to diff them.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QPushButton, QTableWidget,
                               QVBoxLayout, QWidget)

from desktop import background
from desktop.artifacts.plain import item, one_line, plain_heading, plain_label, score_text
from desktop.panes.common import bad_color, good_color, short_revision, tint, warn_color

PATHS_ROLE = Qt.ItemDataRole.UserRole  # a cell's bundle paths, newest first


def read_matrix(paths):
    from engine.artifacts import compilation_matrix

    return compilation_matrix(paths)


def cell_text(entry: dict) -> str:
    text = f"{entry['review']} · test {score_text(entry['test'])}"
    if entry["test"] and entry["test"].get("n") is not None:
        text += f" n={entry['test']['n']}"
    return text + ("" if entry["intact"] else " · ⚠ does NOT match its manifest")


class MatrixWindow(QWidget):
    """Signals:
        refreshed()       the table shows the matrix of the current folders (or why it cannot)
        diff_shown(object) the diff dialog that was opened for two selected artifacts
    """

    refreshed = Signal()
    diff_shown = Signal(object)

    def __init__(self, paths=(), open_artifact=None, parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Window)
        self.paths: list[Path] = []
        self.matrix = None
        self._open_artifact = open_artifact
        self._loading = False
        self._again = False
        self.setWindowTitle("Artifacts — compilation matrix")
        self.resize(1100, 560)
        layout = QVBoxLayout(self)
        layout.addWidget(plain_heading("Compilation matrix"))
        layout.addWidget(plain_label(
            "One row per program version, one column per exact model revision. An artifact belongs to "
            "one pair: a revision without a cell needs its own compile and evaluation. Double-click a cell "
            "to open it; select two artifacts to diff them."))
        self.folders_label = plain_label()
        layout.addWidget(self.folders_label)
        buttons = QHBoxLayout()
        self.add_btn = QPushButton("Add folder…")
        self.add_btn.clicked.connect(self._choose_folder)
        self.refresh_btn = QPushButton("Refresh")
        self.refresh_btn.clicked.connect(self.refresh)
        self.open_btn = QPushButton("Open")
        self.open_btn.clicked.connect(self.open_selected)
        self.diff_btn = QPushButton("Diff two…")
        self.diff_btn.clicked.connect(self.diff_selected)
        for b in (self.add_btn, self.refresh_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)
        for b in (self.open_btn, self.diff_btn):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setWordWrap(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setMinimumSectionSize(200)
        self.table.cellDoubleClicked.connect(lambda r, c: self.open_cell(r, c))
        self.table.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.table, 1)
        self.status = plain_label()
        layout.addWidget(self.status)
        self._update_buttons()
        for path in paths:
            self.add_path(path, refresh=False)
        self.refresh()

    # -- folders -------------------------------------------------------------------------------------------

    def add_path(self, path, *, refresh: bool = True) -> None:
        path = Path(path).expanduser()
        if path not in self.paths:
            self.paths.append(path)
        if refresh:
            self.refresh()

    def _choose_folder(self) -> None:
        from desktop import messages

        folder = messages.choose_folder(self, "Add a folder of artifact bundles (or one bundle)")
        if folder:
            self.add_path(folder)

    def refresh(self) -> None:
        if self._loading:
            self._again = True
            return
        existing = [p for p in self.paths if p.exists()]
        missing = [p for p in self.paths if not p.exists()]
        self.folders_label.setText("Folders: " + (", ".join(one_line(p) for p in existing) or "none yet: add one")
                                   + ("".join(f"\n{one_line(p)} does not exist (yet)" for p in missing)))
        if not existing:
            self._show(None)
            return
        self._loading = True
        self.status.setText("Reading the bundles…")
        background.run(lambda: read_matrix(existing), self._show, self._failed, self._finished)

    def _finished(self) -> None:
        self._loading = False
        if self._again:
            self._again = False
            self.refresh()

    def _failed(self, exc: BaseException) -> None:
        self.status.setText(one_line(exc))
        self.status.setStyleSheet(f"color: {bad_color(self).name()}")
        self.refreshed.emit()

    # -- the table --------------------------------------------------------------------------------------------

    def _show(self, matrix) -> None:
        self.matrix = matrix
        table = self.table
        table.clear()
        programs, revisions = (matrix.programs, matrix.revisions) if matrix else ([], [])
        table.setRowCount(len(programs))
        table.setColumnCount(len(revisions))
        for c, revision in enumerate(revisions):
            names = sorted({e["model"]["name"] for e in matrix.entries if e["model"]["revision"] == revision})
            header = item(f"{', '.join(map(one_line, names))}\n{one_line(short_revision(revision, 24))}", lines=True)
            header.setToolTip(one_line(revision))
            table.setHorizontalHeaderItem(c, header)
        for r, (name, fingerprint) in enumerate(programs):
            header = item(f"{one_line(name)}\n{one_line(short_revision(fingerprint, 16))}", lines=True)
            header.setToolTip(one_line(f"{name} {fingerprint}"))
            table.setVerticalHeaderItem(r, header)
            for c, revision in enumerate(revisions):
                entries = sorted(matrix.cell((name, fingerprint), revision), key=lambda e: e["created_at"], reverse=True)
                table.setItem(r, c, self._cell(entries))
        table.resizeRowsToContents()
        self.status.setStyleSheet("")
        if matrix is None:
            self.status.setText("No folder to read.")
        else:
            count = len(matrix.entries)
            lines = [f"{count} artifact{'s' if count != 1 else ''}, {len(programs)} program version"
                     f"{'s' if len(programs) != 1 else ''}, {len(revisions)} model revision{'s' if len(revisions) != 1 else ''}."]
            lines += [f"Skipped {one_line(s['path'])}: {one_line(s['why'])}" for s in matrix.skipped]
            self.status.setText("\n".join(lines))
        self._update_buttons()
        self.refreshed.emit()

    def _cell(self, entries: list[dict]):
        if not entries:
            cell = item("— not compiled for this revision", tooltip=False)
            cell.setForeground(self.palette().placeholderText())
            cell.setData(PATHS_ROLE, [])
            return cell
        cell = item("\n".join(one_line(cell_text(e)) for e in entries), tooltip=False, lines=True)
        cell.setToolTip("\n".join(one_line(f"{e['path']} (run {e['run_id']}, exported {e['created_at']})")
                                  for e in entries))
        newest = entries[0]
        color = (bad_color(self) if not newest["intact"] or newest["review"] == "rejected" else
                 good_color(self) if newest["review"] == "approved" else warn_color(self))
        cell.setBackground(tint(color, 45))
        cell.setData(PATHS_ROLE, [e["path"] for e in entries])
        return cell

    def cell_paths(self, row: int, column: int) -> list[str]:
        cell = self.table.item(row, column)
        return list(cell.data(PATHS_ROLE) or []) if cell else []

    def selected_paths(self) -> list[str]:
        paths = []
        for index in sorted(self.table.selectedIndexes(), key=lambda i: (i.row(), i.column())):
            paths += self.cell_paths(index.row(), index.column())
        return paths

    def _update_buttons(self) -> None:
        selected = self.selected_paths()
        self.open_btn.setEnabled(bool(selected))
        self.diff_btn.setEnabled(len(selected) >= 2)
        self.diff_btn.setToolTip("Select two artifacts (two cells, or a cell holding two) to diff them")

    # -- actions -------------------------------------------------------------------------------------------------

    def open_cell(self, row: int, column: int) -> None:
        paths = self.cell_paths(row, column)
        if paths and self._open_artifact is not None:
            self._open_artifact(paths[0])

    def open_selected(self) -> None:
        for path in self.selected_paths()[:1]:
            if self._open_artifact is not None:
                self._open_artifact(path)

    def diff_selected(self) -> None:
        paths = self.selected_paths()
        if len(paths) < 2:
            return
        from desktop.artifacts.diff_dialog import start_diff

        self.diff_btn.setEnabled(False)
        start_diff(self, paths[0], paths[1], self._diff_ready)

    def _diff_ready(self, dialog) -> None:
        self._update_buttons()
        if dialog is None:
            return
        dialog.show()
        self.diff_shown.emit(dialog)
