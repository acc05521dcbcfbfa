"""Progress on stderr, and running a job in a worker thread so Ctrl-C cancels it cleanly."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager

from engine.jobs.control import CancelToken, RunCancelled
from engine.jobs.events import (Event, LMCallFinished, LogLine, Progress, RunFinished, StageStarted,
                                TrialFinished)
from engine.lms.pricing import cost_text

MAX_LOG_LINES = 5  # warnings and errors printed in full on stderr; the rest only in the log file


class StderrProgress:
    """An event sink that writes readable progress to stderr (one updating line on a terminal)."""

    def __init__(self, stream=None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.monotonic()
        self.calls = 0
        self.tokens = 0
        self.cost_usd: float | None = 0.0
        self._last_line = 0.0
        self._last_fraction = -1.0
        self._lock = threading.Lock()
        self._open_line = False
        self._log_lines = 0

    def __call__(self, event: Event) -> None:
        try:
            self._show(event)
        except (OSError, ValueError):  # stderr closed (`2>&1 | head`): the run goes on, silently
            self.quiet = True

    def _show(self, event: Event) -> None:
        if self.quiet:
            return
        if isinstance(event, LogLine) and event.level in ("warning", "error"):
            event = self._brief(event)
            if event is None:
                return
        with self._lock:
            if isinstance(event, LMCallFinished):
                self.calls = event.total_calls
                self.tokens = event.total_prompt_tokens + event.total_completion_tokens
                self.cost_usd = event.total_cost_usd
            elif isinstance(event, StageStarted):
                self._line(f"{event.stage}" + (f" ({event.total} examples)" if event.total else ""))
                self._last_fraction = -1.0
            elif isinstance(event, Progress):
                self._progress(event)
            elif isinstance(event, TrialFinished):
                self._line(f"trial {event.index}: score {event.score:.3f} ({event.kind}), best {event.best_so_far:.3f}")
            elif isinstance(event, LogLine) and event.level in ("warning", "error"):
                self._line(f"{event.level}: {event.message}")
            elif isinstance(event, RunFinished):
                self._line(f"run {event.run_id} {event.status}" + (f": {event.message}" if event.message else ""))

    def _brief(self, event: LogLine) -> LogLine | None:
        """DSPy logs one long, multi-line message per failing example: the terminal gets the first
        line of the first few, the log file has them all."""
        with self._lock:
            self._log_lines += 1
            count = self._log_lines
        if count > MAX_LOG_LINES + 1:
            return None
        if count == MAX_LOG_LINES + 1:
            from engine.cli.main import log_file

            return LogLine(f"more warnings and errors are only in the log file, {log_file()}", "warning")
        lines = event.message.strip().splitlines()
        first = lines[0] if lines else ""
        return LogLine(first if len(first) <= 200 else first[:199] + "…", event.level)

    def _status(self) -> str:
        return (f"{self.calls} LM calls, {self.tokens:,} tokens, cost {cost_text(self.cost_usd)}, "
                f"{time.monotonic() - self.started:.0f}s")

    def _progress(self, event: Progress) -> None:
        fraction = event.done / event.total if event.total else 1.0
        text = f"  {event.stage}: {event.done}/{event.total} · {self._status()}"
        if self.tty:
            now = time.monotonic()
            if now - self._last_line > 0.1 or event.done == event.total:
                self.stream.write("\r\033[K" + text)
                self.stream.flush()
                self._open_line = True
                self._last_line = now
        elif fraction - self._last_fraction >= 0.1 or event.done == event.total:
            self._last_fraction = fraction
            self.stream.write(text + "\n")
            self.stream.flush()

    def _line(self, text: str) -> None:
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False
        self.stream.write(text + "\n")
        self.stream.flush()


def run_cancellable(work, cancel: CancelToken, stream=None,
                    cancelling: str = "cancelling at the next LM call"):
    """Run `work()` in a worker thread; the first Ctrl-C (or SIGTERM) cancels it, a second one
    exits at once. `cancelling` says where the work stops."""
    from engine.cli.main import interrupted_exit_code

    stream = stream or sys.stderr
    outcome: dict = {}
    done = threading.Event()

    def target():
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed back to the main thread below
            outcome["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=target, name="dspy-workbench-job", daemon=True)
    worker.start()
    # Wait on our own Event: a Ctrl-C inside Thread.join() can leave the thread looking finished
    # while it still runs (CPython 3.11), which would return before the job has ended.
    while not done.is_set():
        try:
            done.wait(0.2)
        except KeyboardInterrupt:
            if cancel.cancelled:
                _say(stream, "\nstopping now; work after the last finished step is lost\n")
                os._exit(interrupted_exit_code())
            cancel.cancel()
            _say(stream, f"\n{cancelling} (Ctrl-C again to quit at once)...\n")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _say(stream, text: str) -> None:
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):  # a closed stderr must not stop the cancel
        pass


class CommitGate:
    """The point of no return of a cancellable command that writes once (an import).

    The worker calls `enter()` right before its write becomes visible (atomic_write_with's
    `before_replace`) and `leave()` once the write has returned; a cancel that came earlier makes
    `enter()` raise `RunCancelled`, so the project stays exactly as it was. After `enter()`, the
    command finishes and says so, however many interrupts arrive.
    """

    def __init__(self, cancel: CancelToken):
        self.cancel = cancel
        self._lock = threading.Lock()
        self._held = False
        self.committed = False

    def enter(self) -> None:
        self._lock.acquire()
        if self.cancel.cancelled:
            self._lock.release()
            raise RunCancelled()
        self._held = True

    def leave(self, *, committed: bool) -> None:
        if self._held:
            self.committed = committed
            self._held = False
            self._lock.release()

    def passed(self) -> bool:
        """Whether the write is done or under way (waits for one under way to end)."""
        with self._lock:
            return self.committed


@contextmanager
def interrupts_cancel(cancel: CancelToken, *, cancelling: str, gate: CommitGate | None = None, stream=None):
    """While inside, Ctrl-C and SIGTERM set `cancel` instead of raising KeyboardInterrupt, so no
    interrupt can land between a command's write and its report of it. A second interrupt exits
    at once, unless `gate` says the write has already happened: then the command finishes."""
    from engine.cli.main import ignore_late_interrupts, interrupted_exit_code, mark_terminated, owns_process

    stream = stream or sys.stderr

    def on_interrupt(signum, frame):
        if signum == signal.SIGTERM:
            mark_terminated()
        if not cancel.cancelled:
            cancel.cancel()
            _say(stream, f"\n{cancelling} (Ctrl-C again to quit at once)...\n")
        elif gate is not None and gate.passed():
            _say(stream, "\nalready saved; finishing\n")
        else:
            _say(stream, "\nstopping now; nothing was changed\n")
            os._exit(interrupted_exit_code())

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, on_interrupt) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        if owns_process() and (gate is None or gate.committed):
            ignore_late_interrupts()  # done: nothing may raise between here and the exit
        else:
            for number, handler in previous.items():
                signal.signal(number, handler)
