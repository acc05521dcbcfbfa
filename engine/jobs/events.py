"""What a running job reports. Small frozen dataclasses, delivered through a plain callback.

The desktop turns them into Qt signals in exactly one adapter; the CLI prints them to stderr.
A callback runs on the job's thread (or one of DSPy's pool threads): it must be quick.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StageStarted:
    """A named phase began, e.g. "compile" or "evaluate candidate on test"."""

    stage: str
    total: int | None = None


@dataclass(frozen=True)
class Progress:
    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class LMCallFinished:
    """One real (not cached) LM call finished. Totals are for the whole run so far.

    Costs are in US dollars; None means unknown (a model with no known price), never free.
    """

    prompt_tokens: int
    completion_tokens: int
    total_calls: int
    total_cached: int
    total_prompt_tokens: int
    total_completion_tokens: int
    cost_usd: float | None = None
    total_cost_usd: float | None = None


@dataclass(frozen=True)
class TrialFinished:
    """An optimizer tried a candidate and scored it on validation (or a minibatch of it).

    `score` is None for a trial that failed (its LM calls all failed, or its evaluation raised):
    `detail["failed"]` says why. `best_so_far` is None until a trial has succeeded.
    """

    index: int
    score: float | None
    best_so_far: float | None
    kind: str = "validation"  # the set it was scored on: "validation", "train" or "minibatch"
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class LogLine:
    message: str
    level: str = "info"


@dataclass(frozen=True)
class RunFinished:
    run_id: str
    status: str
    message: str = ""


Event = StageStarted | Progress | LMCallFinished | TrialFinished | LogLine | RunFinished
EventSink = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """The default sink."""
