"""Progress on stderr, and running a job in a worker thread so Ctrl-C cancels it cleanly."""

from __future__ import annotations

import os
import sys
import threading
import time

from engine.jobs.control import CancelToken
from engine.jobs.events import (Event, LMCallFinished, LogLine, Progress, RunFinished, StageStarted,
                                TrialFinished)
from engine.lms.pricing import cost_text


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

    def __call__(self, event: Event) -> None:
        if self.quiet:
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
                if event.score is None:
                    self._line(f"trial {event.index} failed ({event.kind}): {event.detail.get('failed', '')}")
                else:
                    self._line(f"trial {event.index}: score {event.score:.3f} ({event.kind}), best {event.best_so_far:.3f}")
            elif isinstance(event, LogLine) and event.level in ("warning", "error"):
                self._line(f"{event.level}: {event.message}")
            elif isinstance(event, RunFinished):
                self._line(f"run {event.run_id} {event.status}" + (f": {event.message}" if event.message else ""))

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


def run_cancellable(work, cancel: CancelToken, stream=None):
    """Run `work()` in a worker thread; the first Ctrl-C cancels it, a second one exits at once."""
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
                stream.write("\nstopping now; work after the last finished step is lost\n")
                stream.flush()
                os._exit(130)
            cancel.cancel()
            stream.write("\ncancelling at the next LM call (Ctrl-C again to quit at once)...\n")
            stream.flush()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
