"""A running compile's record, kept current in the run history as things happen.

Without it the history was written at the end only, so a compile killed with `kill -9` (or by a
crash, or a machine that stopped) left "interrupted, 0 calls" and no trials, although trials had
finished and calls had been paid for. The journal writes, one short transaction each:

- each trial the moment the optimizer scored it, with the counts so far;
- the best candidate so far (`program_state`) whenever a trial improves on it, until the
  optimizer's own result replaces it;
- the LM-call, token and cost counts at most once per `interval_s`: calls end many times a
  second on DSPy's pool threads, whose hot path must stay a counter increment;
- each finished stage and the scores so far.

A killed run's record still says `running`; the next open of the project marks it `interrupted`
(the owner pid in `events_summary` tells a dead run from a live one), and `runs list`, `runs show`
and the Review pane then show what it spent and what it found. A write that fails (a full disk,
a read-only folder) is reported once as a warning and the run goes on: the record at the end is
tried again in full.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable

from engine.errors import WorkbenchError
from engine.jobs.events import Event, EventSink, LMCallFinished, LogLine, TrialFinished, ignore

log = logging.getLogger(__name__)

COUNTS_INTERVAL_S = 0.5


class RunJournal:
    """An event sink that records a running compile in `store` and passes every event on to `sink`.

    `summary()` gives the run's `events_summary` as it stands (with the owner, so the run is not
    mistaken for a dead one while it lives).
    """

    def __init__(self, store, run_id: str, meter, summary: Callable[[], dict], *, sink: EventSink = ignore,
                 interval_s: float | None = None):
        self.store = store
        self.run_id = run_id
        self.meter = meter
        self.summary = summary
        self.sink = sink
        self.interval_s = COUNTS_INTERVAL_S if interval_s is None else interval_s
        self._lock = threading.Lock()  # one writer at a time; a counts write skips when busy
        self._last_counts = 0.0
        self._written_trials: set[int] = set()
        self._best_written: dict | None = None
        self._program_final = False  # the optimizer's result is stored: best-so-far states stop
        self._warned = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, TrialFinished):
            self._record_trial(event)
        elif isinstance(event, LMCallFinished):
            self._record_counts()
        self.sink(event)

    # -- writes -----------------------------------------------------------------------------------

    def save(self, *, final_program: bool = False, **fields) -> None:
        """Write the counts, the summary and `fields` now (a stage finished, the candidate is ready)."""
        with self._lock:
            if final_program:
                self._program_final = True
            self._write(**fields)

    def record_missing_trials(self) -> None:
        """At the end: trials a failed write left out are tried again."""
        with self._lock:
            for trial in list(self.meter.trials):
                if trial.index not in self._written_trials:
                    self._add_trial(trial)

    def _record_trial(self, event: TrialFinished) -> None:
        with self._lock:
            best = self.meter.best_state
            improved = best is not None and best is not self._best_written and not self._program_final
            # One transaction: the trial, the calls that paid for it and the best candidate it made.
            self._last_counts = time.monotonic()
            if self._add_trial(event, **self._run_fields(**({"program_state": best} if improved else {}))):
                if improved:
                    self._best_written = best

    def _record_counts(self) -> None:
        if time.monotonic() - self._last_counts < self.interval_s:
            return
        if not self._lock.acquire(blocking=False):
            return  # another thread is writing right now, with counts as fresh as these
        try:
            self._write()
        finally:
            self._lock.release()

    def _add_trial(self, trial: TrialFinished, **run_fields) -> bool:
        from engine.store import TrialRecord, utc_now

        detail = {"kind": trial.kind, "best_so_far": trial.best_so_far, **trial.detail}
        record = TrialRecord(run_id=self.run_id, index=trial.index, score=trial.score, detail=detail, at=utc_now())
        try:
            written = self._attempt(self.store.add_trial, record, **run_fields)
        except ValueError:
            if run_fields:
                raise  # a bug in the fields, not a trial recorded twice
            written = True  # already recorded (a retry at the end): nothing lost
        if written:
            self._written_trials.add(trial.index)
        return written

    def _run_fields(self, **fields) -> dict:
        return {**self.meter.figures(), "events_summary": self.summary(), **fields}

    def _write(self, **fields) -> None:
        self._last_counts = time.monotonic()
        self._attempt(self.store.update_run, self.run_id, **self._run_fields(**fields))

    def _attempt(self, write, *args, **kwargs) -> bool:
        try:
            write(*args, **kwargs)
            return True
        except (sqlite3.Error, OSError, WorkbenchError) as exc:
            if not self._warned:
                self._warned = True
                message = (f"could not write run {self.run_id} to the history as it ran ({exc}); "
                           "check that the disk is not full and the folder is writable")
                log.warning(message)
                self.sink(LogLine(message, "warning"))
            return False
