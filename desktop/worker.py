"""One worker shape for all long work, and the one place engine events become Qt signals.

`JobWorker` runs a callable (usually an engine job's `run`) on its own `QThread` and reports the
outcome through signals delivered on the GUI thread. The engine reports progress through a plain
callback (`engine.jobs.events`); `EventBridge` is that callback: it is called on the job's
thread (or one of DSPy's pool threads), queues the event, and re-emits it on the GUI thread.

Throttling happens before anything crosses threads: `Progress` and `LMCallFinished` are
coalesced (only the latest of each kind waiting in the queue is kept) and the GUI thread drains
the queue at most `max_rate_hz` times a second, so a run making hundreds of cached calls a
second still costs the GUI at most ~20 updates a second. Other events (stages, trials, log
lines, the end of the run) are never dropped and keep their order.

Usage::

    worker = JobWorker(name="compile", parent=self)
    job = CompileJob(project, settings, sink=worker.sink, cancel=worker.token)
    worker.finished.connect(...)
    worker.start(lambda: (job.prepare(), job.run())[1])
    ...
    worker.cancel()                 # the engine stops at its next LM call
    worker.shutdown(5_000)          # cancel and wait for the thread (closing the window)
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from engine.errors import WorkbenchError
from engine.jobs.control import CancelToken, RunStopped
from engine.jobs.events import LMCallFinished, Progress

log = logging.getLogger(__name__)

COALESCED = (Progress, LMCallFinished)

# Threads that did not stop within a shutdown timeout. Kept referenced so their QThread objects
# are not destroyed while running (Qt would abort the process); they end at the next LM call.
_ORPHANS: list[QThread] = []
_ALL_THREADS: "weakref.WeakSet[QThread]" = weakref.WeakSet()


def running_threads() -> list[QThread]:
    """Job threads still running (tests assert this is empty; the app checks it on exit)."""
    running = []
    for thread in list(_ALL_THREADS):
        try:
            if thread.isRunning():
                running.append(thread)
        except RuntimeError:  # its C++ object was deleted: it has finished
            pass
    return running


def freeze_heap() -> None:
    """Exempt every object alive now from future full garbage collections.

    A full (generation 2) collection traverses every tracked object and holds the GIL while it
    does: with DSPy, pandas and Qt loaded that is 50-100 ms during which the GUI thread cannot
    run a single slot (bench/gui_responsiveness.py measured it). Freezing the long-lived heap
    once a job has imported its libraries makes later collections look only at new objects.
    Cyclic garbage alive at this moment is kept (a small, bounded cost; `gc.unfreeze()` undoes it).
    """
    import gc

    gc.freeze()


class EventBridge(QObject):
    """The engine's event sink, re-emitting events on the GUI thread, throttled.

    Call it from any thread with an engine event. Lives in the thread that created it (the GUI
    thread), where `event` is emitted.

    Signals:
        event(object)   one engine event (engine.jobs.events), on the GUI thread, in order
    """

    event = Signal(object)
    _wake = Signal()

    def __init__(self, max_rate_hz: float = 20.0, parent: QObject | None = None):
        super().__init__(parent)
        self._interval = 1.0 / max_rate_hz
        self._lock = threading.Lock()
        self._queue: list[Any] = []
        self._wake_pending = False
        self._last_drain = 0.0
        self.delivered = 0  # drains that emitted something (for tests and the benchmark)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._drain)
        self._wake.connect(self._drain)  # queued when emitted from another thread

    def __call__(self, event: Any) -> None:
        """Queue an event (any thread). Must be quick: it runs inside the engine's loop."""
        with self._lock:
            if isinstance(event, COALESCED):
                # Replace a waiting event of the same kind, if nothing that must stay between
                # them (a stage start, a trial, a log line) was queued since.
                for i in range(len(self._queue) - 1, -1, -1):
                    queued = self._queue[i]
                    if not isinstance(queued, COALESCED):
                        break
                    if type(queued) is type(event):
                        del self._queue[i]
                        break
            self._queue.append(event)
            if self._wake_pending:
                return
            self._wake_pending = True
        self._wake.emit()

    @Slot()
    def _drain(self) -> None:
        wait = self._interval - (time.monotonic() - self._last_drain)
        if wait > 0:
            if not self._timer.isActive():
                self._timer.start(max(1, int(wait * 1000)))
            return
        self.flush()

    def flush(self) -> None:
        """Deliver everything queued now, whatever the rate (GUI thread; used at a job's end)."""
        self._timer.stop()
        with self._lock:
            events, self._queue = self._queue, []
            self._wake_pending = False
        self._last_drain = time.monotonic()
        if events:
            self.delivered += 1
        for event in events:
            self.event.emit(event)


class _JobThread(QThread):
    """Runs the callable; the outcome is read by JobWorker once the thread has finished."""

    def __init__(self, fn: Callable[[], Any], name: str, parent: QObject | None = None):
        super().__init__(parent)
        self.setObjectName(f"job:{name}")
        self._fn = fn
        self.outcome: tuple[str, Any] = ("failed", "the job did not run")
        _ALL_THREADS.add(self)

    def run(self) -> None:  # the worker thread
        try:
            self.outcome = ("finished", self._fn())
        except RunStopped:
            self.outcome = ("cancelled", None)
        except WorkbenchError as exc:
            self.outcome = ("failed", str(exc))
        except Exception as exc:
            log.error("background job %s failed:\n%s", self.objectName(), traceback.format_exc())
            self.outcome = ("failed", _short(exc))
        except BaseException as exc:  # never let anything escape a QThread
            log.error("background job %s stopped:\n%s", self.objectName(), traceback.format_exc())
            self.outcome = ("failed", _short(exc))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class JobWorker(QObject):
    """Runs one callable on a QThread at a time; reports on the GUI thread.

    Exactly one of `finished`, `failed` or `cancelled` follows each `started`, emitted after the
    thread has ended, then `done`. `cancelled` is emitted instead of `finished` when the cancel
    token was set before the job ended (an engine job then returns a record with status
    "cancelled"; that record is `result`), so the caller can say "Cancelled — finished work kept".

    Signals:
        started()            the thread is running the callable
        event(object)        an engine event from `sink` (throttled, see EventBridge)
        finished(object)     the callable returned this result
        failed(str)          it raised: a WorkbenchError's message, or a short text for a bug
                             (whose traceback is logged)
        cancelled()          it was cancelled (the token was set) and has stopped
        done()               the job is over, whatever the outcome (clean-up hooks)
    """

    started = Signal()
    event = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(self, name: str = "job", parent: QObject | None = None, *, max_rate_hz: float = 20.0):
        super().__init__(parent)
        self.name = name
        self.bridge = EventBridge(max_rate_hz, self)
        self.bridge.event.connect(self.event)
        self.token = CancelToken()
        self.result: Any = None
        self._thread: _JobThread | None = None

    @property
    def sink(self) -> EventBridge:
        """The callback to hand the engine as its event sink."""
        return self.bridge

    def is_running(self) -> bool:
        return self._thread is not None

    def start(self, fn: Callable[[], Any]) -> None:
        """Run `fn()` on a new thread. A fresh cancel token is made for every run (never reused:
        abandoned DSPy pool threads must keep seeing the old one set)."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} is already running")
        if self.token.cancelled:
            self.token = CancelToken()
        self.result = None
        thread = _JobThread(fn, self.name)
        thread.finished.connect(self._thread_finished)
        self._thread = thread
        thread.start()
        self.started.emit()

    def new_token(self) -> CancelToken:
        """A fresh token for the next run (call before building the job that takes it)."""
        if self._thread is None:
            self.token = CancelToken()
        return self.token

    def cancel(self) -> None:
        """Ask the job to stop: the engine raises at its next LM call and keeps finished work."""
        self.token.cancel()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel and wait up to timeout_ms for the thread; True when it has stopped."""
        thread = self._thread
        if thread is None:
            return True
        self.cancel()
        if not thread.wait(max(0, int(timeout_ms))):
            log.warning("%s did not stop within %d ms; it ends at its next LM call", self.name, timeout_ms)
            thread.finished.disconnect(self._thread_finished)
            thread.setParent(None)
            _ORPHANS.append(thread)
            thread.finished.connect(lambda t=thread: _ORPHANS.remove(t) if t in _ORPHANS else None)
            self._thread = None
            return False
        self._thread_finished()
        return True

    @Slot()
    def _thread_finished(self) -> None:
        thread = self._thread
        if thread is None:
            return
        thread.wait()  # QThread.finished is emitted just before run() returns to Qt
        self._thread = None
        self.bridge.flush()
        kind, payload = thread.outcome
        thread.deleteLater()
        if kind == "finished" and self.token.cancelled:
            kind = "cancelled"
            self.result = payload
        if kind == "finished":
            self.result = payload
            self.finished.emit(payload)
        elif kind == "cancelled":
            self.cancelled.emit()
        else:
            self.failed.emit(payload)
        self.done.emit()


class WorkerSet:
    """The short background jobs a pane has running (reads, renders, hashes, exports).

    `spawn` starts one; `busy()` says whether any still runs; `shutdown()` cancels and waits for
    all of them, so a closing window leaves no thread behind.
    """

    def __init__(self, owner: QObject):
        self._owner = owner
        self._workers: set[JobWorker] = set()

    def spawn(self, name: str, fn: Callable[[], Any], *,
              on_result: Callable[[Any], None] | None = None,
              on_error: Callable[[str], None] | None = None) -> JobWorker:
        worker = JobWorker(name, self._owner)
        if on_result is not None:
            worker.finished.connect(on_result)
        if on_error is not None:
            worker.failed.connect(on_error)
        self._workers.add(worker)
        worker.done.connect(lambda w=worker: self._forget(w))
        worker.start(fn)
        return worker

    def _forget(self, worker: JobWorker) -> None:
        self._workers.discard(worker)
        worker.deleteLater()

    def busy(self, name: str | None = None) -> bool:
        return any(w.is_running() and (name is None or w.name == name) for w in self._workers)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        deadline = time.monotonic() + max(0, timeout_ms) / 1000
        stopped = True
        for worker in list(self._workers):
            left = max(0, int((deadline - time.monotonic()) * 1000))
            stopped = worker.shutdown(left) and stopped
        return stopped
