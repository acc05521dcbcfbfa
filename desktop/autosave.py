"""Autosave: the project on disk follows the window, about a second after the last edit.

There is no "unsaved changes?" question: every edit marks the session dirty, a single-shot timer
restarts (DEBOUNCE_MS), and when the user pauses the project is written through the engine:
`Project.save()` (project.toml) and `Project.save_frame()` (data/examples.csv), each an atomic
replace (write beside, fsync, rename), so a crash leaves the old file or the new one.

Writing a big table takes seconds, so the write runs on a pool thread, on a SNAPSHOT taken on the
GUI thread: a deep copy of the small config and a shallow copy of the frame. pandas copy-on-write
makes the shallow copy immutable from the GUI's point of view (an edit copies the touched column
first; the table's Arrow-backed string columns make that copy O(1)), so the user keeps editing
while the save runs and nothing is ever blocked. At most one save runs at a time; edits made
during a save schedule another one. `flush()` (closing the window or the project, Ctrl+S) waits
for the running save and writes whatever is left.

Signals:
    state_changed(str)   SAVED, SAVING, UNSAVED or FAILED (the status bar shows it)
"""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, QTimer, Signal

from desktop import background
from desktop.session import ProjectSession

log = logging.getLogger(__name__)

DEBOUNCE_MS = 1000
SAVED, SAVING, UNSAVED, FAILED = "saved", "saving", "unsaved", "failed"
LABELS = {SAVED: "All changes saved", SAVING: "Saving…", UNSAVED: "Unsaved changes",
          FAILED: "Not saved — see the message"}


def snapshot(project):
    """A detached Project holding copies of what `project` would write (cheap: see module docstring)."""
    from engine.project import Project

    copy = Project(project.root, project.config.model_copy(deep=True))
    if project._frame is not None:  # a frame never loaded has nothing new to write
        copy.replace_frame(project.frame.copy(deep=False), save=False)
    return copy


def write(copy) -> None:
    """Write a snapshot through the engine (atomic replaces). Runs on any thread."""
    copy.save()
    if copy._frame is not None:
        copy.save_frame()
        if len(copy._frame) > background.ASYNC_ROWS:
            background.release_memory()  # the CSV writer's buffers


class _Save:
    """One background save: what it writes and, once done, how it went (read from any thread)."""

    def __init__(self, project, revision: int):
        self.project = project
        self.revision = revision
        self.copy = snapshot(project)
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self) -> None:  # on the pool thread
        try:
            write(self.copy)
        except Exception as exc:  # noqa: BLE001 - reported on the GUI thread by AutoSaver._conclude
            self.error = exc
        finally:
            self.copy = None
            self.done.set()


class AutoSaver(QObject):
    __doc__ = __doc__

    state_changed = Signal(str)

    def __init__(self, session: ProjectSession, parent: QObject | None = None):
        super().__init__(parent or session)
        self.session = session
        self.state = SAVED
        self._save: _Save | None = None  # the running save
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self._debounced)
        session.dirty_changed.connect(self._dirty_changed)
        session.opened.connect(lambda: self._set_state(SAVED))

    @property
    def busy(self) -> bool:
        """True while a save runs on its thread."""
        return self._save is not None

    @property
    def pending(self) -> bool:
        """True while edits wait for the debounce timer."""
        return self._timer.isActive()

    # -- scheduling ---------------------------------------------------------------------------------

    def _dirty_changed(self, dirty: bool) -> None:
        if dirty and self.session.is_open:
            self._set_state(SAVING if self._save is not None else UNSAVED)
            self._timer.start()  # restart: save a second after the LAST edit

    def _debounced(self) -> None:
        if self._save is None and self.session.is_open and self.session.dirty:
            self.start_save()

    def start_save(self) -> None:
        """Save now in the background (a running save is followed by another when it ends)."""
        self._timer.stop()
        if not self.session.is_open:
            return
        if self._save is not None:
            self._timer.start()
            return
        save = self._save = _Save(self.session.project, self.session.revision)
        self._set_state(SAVING)
        background.run(save.run, lambda _: self._finished(save))

    def _finished(self, save: _Save) -> None:
        if save is not self._save:
            return  # flush() already handled it
        self._save = None
        self._conclude(save)

    def _conclude(self, save: _Save) -> None:
        if self.session.project is not save.project:
            return
        if save.error is not None:
            self._report(save.project, save.error)
        elif self.session.revision == save.revision:
            self.session.set_dirty(False)
            self._set_state(SAVED)
        else:  # edits arrived while saving
            self._set_state(UNSAVED)
            if not self._timer.isActive():
                self._timer.start()

    def _report(self, project, exc: BaseException) -> None:
        self._set_state(FAILED)
        log.error("saving %s failed", project.root, exc_info=exc)
        self.session.error.emit(f"Could not save the project in {project.root}: {exc}. Your changes are "
                                "still open: free some disk space or check the folder's permissions, "
                                "then press Ctrl+S.")

    # -- flushing -----------------------------------------------------------------------------------

    def flush(self) -> bool:
        """Write every pending change now, waiting for a running save. True when all is on disk.

        Called when the window or the project closes, so it may block: the user asked to leave.
        """
        self._timer.stop()
        save, self._save = self._save, None
        if save is not None:
            save.done.wait()
            self._conclude(save)
        if not (self.session.is_open and self.session.dirty):
            return self.state != FAILED
        project = self.session.project
        self._set_state(SAVING)
        try:
            write(snapshot(project))
        except Exception as exc:  # noqa: BLE001 - a failed save is reported, never raised at close
            self._report(project, exc)
            return False
        self.session.set_dirty(False)
        self._set_state(SAVED)
        return True

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)
