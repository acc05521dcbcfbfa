"""Keeps `session.leaks` current: re-checks leakage after every edit that can change it.

Leakage (the same example in two splits) blocks compiling, so the check runs after every change of
rows, input cells, splits or the program. Normalising the inputs is the expensive part (about 1 s
per million rows) and does not depend on splits, so the watcher keeps the per-row input keys
(`engine.dataset_queries.input_keys`) until rows or cells change: re-splitting 100,000 rows of a
million-row table is re-checked in a fraction of a second.

Frames above `background.ASYNC_ROWS` rows are checked on a pool thread, on a shallow snapshot of
the columns involved (pandas copy-on-write: the GUI may keep editing; the snapshot does not move).
A result that arrives after a newer edit is dropped and the check runs again.

The same watcher keeps `findings` current: the data checked against the program
(`engine.data_checks.check_table`: labels outside a Literal's choices, empty inputs, conflicting
labels, near-duplicates across splits). They never block; the Dataset, Import and Runs views show
them. Tables above `DATA_CHECK_SYNC_ROWS` rows are checked on a pool thread (the near-duplicate
search costs more than the leak check), on a snapshot of the columns it reads.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from desktop import background
from desktop.session import ProjectSession

DATA_CHECK_SYNC_ROWS = 2_000  # bigger tables are checked against the program off the GUI thread


def watch(session: ProjectSession) -> LeakWatcher:
    """The session's watcher, created on first use (one per session)."""
    return session.findChild(LeakWatcher) or LeakWatcher(session)


class LeakWatcher(QObject):
    """Re-checks leakage for the session's project and publishes it with `session.set_leaks`.

    Signals:
        checking_changed(bool)   a background check started / ended (the Dataset pane says so)
        checked()                a check finished and `session.leaks` is current (even if unchanged)
        findings_changed(list)   `findings` (engine.data_checks.Finding) was recomputed
    """

    checking_changed = Signal(bool)
    checked = Signal()
    findings_changed = Signal(list)

    def __init__(self, session: ProjectSession):
        super().__init__(session)
        self.session = session
        self._keys = None  # per-row input keys for the current rows, or None (recompute)
        self._content = 0  # bumped when rows / input cells change: keys computed earlier are stale
        self._wanted = 0  # bumped on every request: results for an older request are dropped
        self._task = None
        self.findings: list = []  # engine.data_checks.Finding for the current table and program
        self._findings_wanted = 0
        self._findings_task = None
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
        self._findings_wanted += 1
        self._keys = None
        self._timer.stop()
        self._publish_findings([])

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
        self.check_findings()
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


    # -- the data checked against the program ---------------------------------------------------------

    def check_findings(self) -> None:
        """Re-check the table against the program: at once for small tables, else on a pool thread."""
        from engine.data_checks import check_table

        project = self.session.project
        if project is None:
            return
        self._findings_wanted += 1
        if self._findings_task is not None:
            return  # the running check starts again when it ends
        frame, program = project.frame, project.program
        if len(frame) <= DATA_CHECK_SYNC_ROWS:
            self._publish_findings(check_table(frame, program))
            return
        columns = list(dict.fromkeys(c for c in ["id", "split", *program.input_names, *program.output_names]
                                     if c in frame.columns))
        snapshot = frame[columns]  # copy-on-write: the GUI may keep editing
        wanted = self._findings_wanted
        self._findings_task = background.run(lambda: check_table(snapshot, program),
                                             lambda findings: self._findings_done(findings, wanted),
                                             self._findings_failed)

    def _findings_done(self, findings: list, wanted: int) -> None:
        self._findings_task = None
        if wanted == self._findings_wanted:
            self._publish_findings(findings)
        else:
            self.check_findings()

    def _findings_failed(self, exc: BaseException) -> None:
        self._findings_task = None
        self.session.error.emit(f"Could not check the examples against the program: {exc}")

    def _publish_findings(self, findings: list) -> None:
        self.findings = list(findings)
        self.findings_changed.emit(self.findings)


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
