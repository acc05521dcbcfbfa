"""The open project, shared by every pane.

Panes never hold their own copy of the project: they read `session.project` (an
`engine.project.Project`) and listen to the signals below. Every edit goes through
`session.undo_stack` (a QUndoStack) as a QUndoCommand whose redo/undo call engine functions and
then `session.notify_changed(...)`.

Signals:
    opened()                  a project was opened or created (session.project is set)
    closed()                  the project was closed
    program_changed()         the ProgramSpec changed (project.program)
    metric_changed()          the metric spec changed
    dataset_changed()         rows or cells of project.frame changed (views refresh)
    splits_changed()          split or slice assignments changed (leakage re-check)
    runs_changed()            the run history changed (a run started, finished or was reviewed)
    dirty_changed(bool)       unsaved changes appeared / were saved
    error(str)                a message the user can act on (shown by the main window)
    leaks_changed(list)       `session.leaks` was recomputed (a list of engine.datasets.Leak);
                              compiling is blocked while it is non-empty (see `can_compile`)
    frame_edited(FrameEdit)   emitted just before dataset_changed/splits_changed by edits that know
                              exactly which rows or cells they touched, so table models can update
                              precisely (insert/remove rows) instead of resetting
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack




@dataclass(frozen=True)
class FrameEdit:
    """What an edit did to `project.frame`.

    kind:
        "cells"     cells changed in place (or in a new frame with the same rows, e.g. auto-split);
                    `rows` (None = any row) x `columns` (None = any column)
        "inserted"  rows were inserted; `rows` are their sorted positions in the NEW frame
        "removed"   rows were removed; `rows` are their sorted positions in the OLD frame
        "replaced"  the whole table was replaced (a reset)
    """

    kind: str
    rows: tuple[int, ...] | None = None
    columns: tuple[str, ...] | None = None


class ProjectSession(QObject):
    opened = Signal()
    closed = Signal()
    program_changed = Signal()
    metric_changed = Signal()
    dataset_changed = Signal()
    splits_changed = Signal()
    runs_changed = Signal()
    dirty_changed = Signal(bool)
    error = Signal(str)
    leaks_changed = Signal(list)
    frame_edited = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.project = None  # engine.project.Project | None
        self.undo_stack = QUndoStack(self)
        self.leaks: list = []  # engine.datasets.Leak, kept current by desktop.leak_watch.LeakWatcher
        self.revision = 0  # +1 per change: autosave knows whether it saved the latest edit
        self.dirty = False

    @property
    def is_open(self) -> bool:
        return self.project is not None

    @property
    def can_compile(self) -> bool:
        """False while examples leak between splits (leakage is an error, not a warning)."""
        return self.is_open and not self.leaks

    def open(self, project) -> None:
        """Show `project` (already loaded, frame included) in every pane; forgets the undo history."""
        if self.project is not None:
            self.close()
        self.project = project
        self.undo_stack.clear()
        self.revision += 1
        self.set_dirty(False)
        self.opened.emit()

    def close(self) -> None:
        """Forget the project (save it first: see desktop.autosave)."""
        if self.project is None:
            return
        self.undo_stack.clear()
        self.project = None
        self.revision += 1
        self.set_dirty(False)
        self.set_leaks([])
        self.closed.emit()

    def set_leaks(self, leaks: list) -> None:
        """Publish a leakage check's result; emits leaks_changed when it differs from the last one."""
        leaks = list(leaks)
        if leaks == self.leaks:
            return
        self.leaks = leaks
        self.leaks_changed.emit(self.leaks)

    def set_dirty(self, dirty: bool) -> None:
        if dirty != self.dirty:
            self.dirty = dirty
            self.dirty_changed.emit(dirty)

    def notify_frame_edit(self, edit: FrameEdit) -> None:
        """Say precisely what an edit did to the frame; call `notify_changed` right after."""
        self.frame_edited.emit(edit)

    def notify_changed(self, *, program: bool = False, metric: bool = False, dataset: bool = False,
                       splits: bool = False) -> None:
        """Called after an edit: emits the matching signals and marks the project dirty."""
        self.revision += 1
        if program:
            self.program_changed.emit()
        if metric:
            self.metric_changed.emit()
        if dataset:
            self.dataset_changed.emit()
        if splits:
            self.splits_changed.emit()
        self.dirty = True
        self.dirty_changed.emit(True)
