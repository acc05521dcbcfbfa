"""Stopping a run: a cancel token and budgets, enforced at the next LM call.

DSPy has no public cancel (DSPY-NOTES.md). What works: raising an exception that derives from
`BaseException` from `on_lm_start`. Nothing on DSPy's path catches it, so it leaves `compile`
within one LM latency; an `Exception` would be swallowed by DSPy's callback wrapper or counted
as a failed example. Each run gets its own token, never cleared: abandoned pool threads that are
still draining a queue keep seeing it set and make no further calls.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


class RunStopped(BaseException):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside DSPy to unwind a run. Never caught by DSPy, caught by the job.

    `partial` is set by what it unwinds through to the work that finished first (an evaluation's
    scored rows, engine.evaluation.evaluate), so the job can report it.
    """

    status = "cancelled"
    partial = None


class RunCancelled(RunStopped):
    status = "cancelled"


class BudgetExceeded(RunStopped):
    status = "stopped_by_budget"


class CancelToken:
    """Set once by the GUI's Cancel or the CLI's Ctrl-C; checked before every LM call."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)


@dataclass(frozen=True)
class Budget:
    """Caps for one run; None means no cap. Checked before each LM call starts."""

    max_calls: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    max_seconds: float | None = None

    def exceeded(self, *, calls: int, tokens: int, cost: float, started: float) -> str | None:
        if self.max_calls is not None and calls >= self.max_calls:
            return f"the LM-call budget ({self.max_calls}) is used up"
        if self.max_tokens is not None and tokens >= self.max_tokens:
            return f"the token budget ({self.max_tokens}) is used up"
        if self.max_cost_usd is not None and cost >= self.max_cost_usd:
            return f"the cost budget (${self.max_cost_usd:g}) is used up"
        if self.max_seconds is not None and time.monotonic() - started >= self.max_seconds:
            return f"the time budget ({self.max_seconds:g} s) is used up"
        return None
