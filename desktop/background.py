"""Short background work for the GUI: run a function on a pool thread, get its result as a signal.

For work measured in seconds that needs no progress or cancel (reading a file, saving the table,
filtering or leakage-checking a big frame). Long engine jobs with events and cancel (compile,
evaluate) have their own worker. The function must not touch widgets; it gets plain data (e.g. a
shallow snapshot of the frame) and returns plain data. Results arrive on the GUI thread through
queued signals.

Small inputs are not worth a thread hop: callers compare the row count with ASYNC_ROWS and call
the function directly below it, which also keeps tests free of stray threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)

ASYNC_ROWS = 100_000  # frames with more rows are filtered, checked and saved off the GUI thread

_running: set[Task] = set()  # tasks stay alive until their result has been delivered


class Task(QObject):
    """One call of `fn()` on the pool.

    Signals:
        succeeded(object)   fn's return value
        failed(object)      the exception fn raised (a WorkbenchError is for the user; others are bugs)
        finished()          after either of the above (then `done` is True)
    """

    succeeded = Signal(object)
    failed = Signal(object)
    finished = Signal()

    def __init__(self, fn: Callable[[], object]):
        super().__init__()  # no parent: a parent deleted mid-run would delete the task under the thread
        self._fn = fn
        self.done = False

    def start(self) -> Task:
        _running.add(self)
        self.finished.connect(self._forget)  # queued: runs on the GUI thread after the result
        QThreadPool.globalInstance().start(_Runner(self))
        return self

    def _forget(self) -> None:
        self.done = True
        _running.discard(self)

    def _run(self) -> None:  # on the pool thread
        try:
            result = self._fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI thread, never lost
            from engine.errors import WorkbenchError

            if not isinstance(exc, WorkbenchError):
                log.error("background task failed", exc_info=exc)
            self._deliver(self.failed, exc)
        else:
            self._deliver(self.succeeded, result)

    def _deliver(self, signal, value) -> None:
        try:
            signal.emit(value)
            self.finished.emit()
        except RuntimeError:  # the app is shutting down and Qt already deleted the task: nobody listens
            pass


class _Runner(QRunnable):
    def __init__(self, task: Task):
        super().__init__()
        self._task = task

    def run(self) -> None:
        self._task._run()


def run(fn: Callable[[], object], on_success: Callable[[object], None],
        on_failure: Callable[[BaseException], None] | None = None,
        on_finished: Callable[[], None] | None = None) -> Task:
    """Start `fn` on the pool; `on_success(result)` / `on_failure(exc)`, then `on_finished()`, run
    later on the GUI thread. (Connect before the start: a fast task may finish at once.)"""
    task = Task(fn)
    task.succeeded.connect(on_success)
    if on_failure is not None:
        task.failed.connect(on_failure)
    if on_finished is not None:
        task.finished.connect(on_finished)
    return task.start()


def release_memory() -> None:
    """Give memory freed by a big table operation back to the OS (Arrow keeps it pooled otherwise).

    Call at the end of work that made large temporaries (reading, normalising, writing a big
    table), on the thread that did it. Cheap when there is nothing to give back.
    """
    import sys

    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()


def wait_all(timeout_ms: int = 30_000) -> bool:
    """Block until every pool thread is idle (used when closing); True when they all finished."""
    return QThreadPool.globalInstance().waitForDone(timeout_ms)
