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
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack


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

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.project = None  # engine.project.Project | None
        self.undo_stack = QUndoStack(self)

    @property
    def is_open(self) -> bool:
        return self.project is not None

    def notify_changed(self, *, program: bool = False, metric: bool = False, dataset: bool = False,
                       splits: bool = False) -> None:
        """Called after an edit: emits the matching signals and marks the project dirty."""
        if program:
            self.program_changed.emit()
        if metric:
            self.metric_changed.emit()
        if dataset:
            self.dataset_changed.emit()
        if splits:
            self.splits_changed.emit()
        self.dirty_changed.emit(True)
