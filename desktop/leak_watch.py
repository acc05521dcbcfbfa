"""Keeps `session.leaks` current: re-checks leakage after every edit that can change it.

Leakage (the same example in two splits) blocks compiling, so the check runs after every change of
rows, input cells, splits or the program. Normalising the inputs is the expensive part (about 1 s
per million rows) and does not depend on splits, so the watcher keeps the per-row input keys
(`engine.dataset_queries.input_keys`) until rows or cells change: re-splitting 100,000 rows of a
million-row table is re-checked in a fraction of a second.

Frames above `background.ASYNC_ROWS` rows are checked on a pool thread, on a shallow snapshot of
the columns involved (pandas copy-on-write: the GUI may keep editing; the snapshot does not move).
A result that arrives after a newer edit is dropped and the check runs again.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from desktop import background
from desktop.session import ProjectSession


def watch(session: ProjectSession) -> LeakWatcher:
    """The session's watcher, created on first use (one per session)."""
    return session.findChild(LeakWatcher) or LeakWatcher(session)


class LeakWatcher(QObject):
    """Re-checks leakage for the session's project and publishes it with `session.set_leaks`.

    Signals:
        checking_changed(bool)   a background check started / ended (the Dataset pane says so)
        checked()                a check finished and `session.leaks` is current (even if unchanged)
    """

    checking_changed = Signal(bool)
    checked = Signal()

    def __init__(self, session: ProjectSession):
        super().__init__(session)
        self.session = session
        self._keys = None  # per-row input keys for the current rows, or None (recompute)
        self._content = 0  # bumped when rows / input cells change: keys computed earlier are stale
        self._wanted = 0  # bumped on every request: results for an older request are dropped
        self._task = None
        self._timer = QTimer(self, singleShot=True, interval=0)  # coalesces the signals of one edit
        self._timer.timeout.connect(self.check_now)
        session.opened.connect(self._content_changed)
        session.dataset_changed.connect(self._content_changed)
        session.program_changed.connect(self._content_changed)
        session.splits_changed.connect(self._splits_changed)
        session.closed.connect(self._forget)

    @property
    def checking(self) -> bool:
        return self._task is not None

    def _content_changed(self) -> None:
        self._content += 1
        self._keys = None
        self._request()

    def _splits_changed(self) -> None:
        self._request()

    def _forget(self) -> None:
        self._content += 1
        self._wanted += 1
        self._keys = None
        self._timer.stop()

    def _request(self) -> None:
        self._wanted += 1
        self._timer.start()

    def check_now(self) -> None:
        """Check immediately (small frames) or start the background check (big ones)."""
        self._timer.stop()
        project = self.session.project
        if project is None or self._task is not None:
            return  # a running check re-checks when it finishes if a newer request came in
        frame = project.frame
        fields = [f for f in project.program.input_names if f in frame.columns]
        if len(frame) <= background.ASYNC_ROWS:
            keys, leaks = _check(frame, fields, self._keys)
            self._keys = keys
            self.session.set_leaks(leaks)
            self.checked.emit()
            return
        snapshot = frame[["id", "split", *fields]]  # copy-on-write: shares the data, never changes
        wanted, content, keys = self._wanted, self._content, self._keys
        self._task = background.run(lambda: _check(snapshot, fields, keys),
                                    lambda result: self._finished(result, wanted, content),
                                    lambda exc: self._failed(exc))
        self.checking_changed.emit(True)

    def _finished(self, result, wanted: int, content: int) -> None:
        self._task = None
        keys, leaks = result
        if content == self._content:
            self._keys = keys
        if wanted == self._wanted:
            self.session.set_leaks(leaks)
            self.checking_changed.emit(False)
            self.checked.emit()
        else:
            self.check_now()

    def _failed(self, exc: BaseException) -> None:
        self._task = None
        self.checking_changed.emit(False)
        self.session.error.emit(f"Could not check the examples for leakage: {exc}")


def _check(frame, fields, keys):
    """(input keys, leaks) for the frame; re-uses `keys` when given."""
    from engine import dataset_queries

    fresh = keys is None or len(keys) != len(frame)
    if fresh:
        keys = dataset_queries.input_keys(frame, fields)
    result = keys, dataset_queries.find_leaks_with_keys(frame, keys)
    if fresh and len(frame) > background.ASYNC_ROWS:
        background.release_memory()  # normalising made copies of every input column
    return result
