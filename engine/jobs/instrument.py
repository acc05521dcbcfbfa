"""One run's meter: LM calls, tokens, cost, trials, cancel and budget, across DSPy's pool threads.

Plugged into DSPy with `dspy.context(callbacks=[meter.callback], usage_tracker=meter.tracker)`:
- the usage tracker sees every real (non-cached) call with its model string and tokens. DSPy
  deep-copies the tracker into each pool thread and never merges it back, so ours returns itself
  from `__deepcopy__` and counts under a lock. Each call is priced there by the model that made it
  (`price_models`: the run's own LM and every other profile's, e.g. GEPA's reflection model), so a
  cache hit costs nothing new (`lm.history` keeps a hit's original cost: never summed here);
- the callback sees every logical call (`on_lm_start`/`on_lm_end`, cache hits included), where
  cancel and budgets are enforced, and every `Evaluate` an optimizer runs (a trial);
- the embedded engine finds the meter in the context (`RUN_CONTEXT_KEY`): it stops on its cancel
  token mid-call, and reports the prompt evaluations its choice-scoring prior makes
  (`add_calibration`), counted as LM calls and prompt tokens like any other.

A trial during which LM calls failed and none succeeded is reported as failed (score None), not
as the 0.0 that `dspy.Evaluate` scores failed examples with and that MIPROv2 gives an Evaluate
that raised (DSPY-NOTES.md): a dead server is not a bad candidate.
"""

from __future__ import annotations

import threading
import time

import dspy
from dspy.utils.callback import BaseCallback
from dspy.utils.usage_tracker import UsageTracker

from engine.jobs.control import Budget, BudgetExceeded, CancelToken, RunCancelled, RunStopped
from engine.jobs.events import EventSink, LMCallFinished, Progress, TrialFinished, ignore
from engine.lms.embedded import RUN_CONTEXT_KEY
from engine.lms.pricing import UNKNOWN_PRICE, Price, price_of, tokens_of

ROOT_MARK = "_workbench_root"
MINIBATCH = "minibatch"


class RunMeter:
    def __init__(self, sink: EventSink = ignore, cancel: CancelToken | None = None,
                 budget: Budget | None = None):
        self.sink = sink
        self.cancel = cancel or CancelToken()
        self.budget = budget or Budget()
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self.logical_calls = 0
        self.failed_calls = 0  # logical calls that ended with an exception
        self.last_call_error: str | None = None
        self.real_calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.known_cost_usd = 0.0  # the priced calls' cost; what a cost budget is checked against
        self.unpriced_calls = 0  # real calls on a model whose price is unknown
        self.calibration_calls = 0  # of real_calls: the embedded scorer's prior (add_calibration)
        self.calibration_tokens = 0  # of prompt_tokens: the same
        self._prices: dict[str, Price] = {}  # model string -> price
        self.stop_reason: str | None = None
        self.trials: list[TrialFinished] = []
        self.best_score: float | None = None
        self.best_kind: str | None = None
        self._best_rank = -1
        self.best_state: dict | None = None  # the best candidate so far (see trial_finished), kept for a stop
        self.split_sizes: dict[int, str] = {}
        self.selects_on = "validation"
        self.root_calls = 0
        self.progress_stage: str | None = None
        self.progress_total = 0
        self._in_flight = 0  # calls past before_lm_call that have not ended yet
        self._idle = threading.Condition(self._lock)
        self.tracker = _SharedTracker(self)
        self.callback = _MeterCallback(self)

    # -- what the run reports ----------------------------------------------------------------

    @property
    def cached_calls(self) -> int:
        return max(0, self.logical_calls - (self.real_calls - self.calibration_calls))

    @property
    def tokens(self) -> dict[str, int]:
        return {"prompt": self.prompt_tokens, "completion": self.completion_tokens}

    @property
    def cost_usd(self) -> float | None:
        """The run's cost so far in US dollars; None once any real call had no known price."""
        return None if self.unpriced_calls else self.known_cost_usd

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def figures(self) -> dict:
        """What the run has spent so far, as RunRecord fields (one consistent snapshot)."""
        with self._lock:
            return {"lm_calls": self.real_calls, "cached_calls": self.cached_calls, "tokens": self.tokens,
                    "cost_usd": self.cost_usd, "elapsed_s": round(self.elapsed_s, 3)}

    def call_outcomes(self) -> tuple[int, int]:
        """(succeeded, failed) logical calls so far."""
        with self._lock:
            return self.logical_calls, self.failed_calls

    def context(self):
        """The `dspy.context` that routes this run's calls through the meter."""
        return dspy.context(callbacks=[self.callback], usage_tracker=self.tracker, **{RUN_CONTEXT_KEY: self})

    def price_models(self, *connected) -> None:
        """Price the calls of these ConnectedLMs (by their LM's model string, which copies keep)."""
        for conn in connected:
            self.price_model(conn.lm.model, price_of(conn))

    def price_model(self, model: str, price: Price) -> None:
        with self._lock:
            self._prices[model] = price

    def track_root_calls(self, stage: str, total: int) -> None:
        """Report Progress(stage, k, total) for each call of the program's root module."""
        with self._lock:
            self.progress_stage, self.progress_total, self.root_calls = stage, total, 0

    def stop_tracking_root_calls(self) -> None:
        with self._lock:
            self.progress_stage = None

    # -- hooks ----------------------------------------------------------------------------------

    def before_lm_call(self) -> None:
        if self.cancel.cancelled:
            raise RunCancelled()
        with self._lock:
            reason = self.budget.exceeded(
                calls=self.real_calls, tokens=self.prompt_tokens + self.completion_tokens,
                cost=self.known_cost_usd, started=self.started,
            )
            if reason:
                self.stop_reason = reason
            else:
                self._in_flight += 1
        if reason:
            raise BudgetExceeded(reason)

    def after_lm_call(self, *, succeeded: bool, error: BaseException | None = None) -> None:
        """Every call that passed before_lm_call ends here (DSPy runs end callbacks in a finally)."""
        with self._idle:
            if succeeded:
                self.logical_calls += 1
            else:
                self.failed_calls += 1
                if error is not None:
                    self.last_call_error = f"{type(error).__name__}: {error}"
            self._in_flight -= 1
            self._idle.notify_all()

    def wait_for_calls_in_flight(self, timeout_s: float) -> bool:
        """Let calls already started finish, so the record counts (and prices) what was spent.

        A stop unwinds the optimizer at once, but DSPy's pools shut down without waiting: calls
        other threads had started still finish and are paid for. False if some outlived timeout_s.
        """
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight <= 0, timeout=timeout_s)

    def add_usage(self, model: str, usage: dict) -> None:
        prompt, completion = tokens_of(usage)
        cost = self._prices.get(model, UNKNOWN_PRICE).cost(usage)
        with self._lock:
            self.real_calls += 1
            self.prompt_tokens += prompt
            self.completion_tokens += completion
            if cost is None:
                self.unpriced_calls += 1
            else:
                self.known_cost_usd += cost
            event = LMCallFinished(prompt, completion, self.real_calls, self.cached_calls,
                                   self.prompt_tokens, self.completion_tokens, cost, self.cost_usd)
        self.sink(event)

    def add_calibration(self, calls: int, prompt_tokens: int) -> None:
        """The embedded engine evaluated `calls` calibration prompts (a local model: no cost)."""
        with self._lock:
            self.real_calls += calls
            self.prompt_tokens += prompt_tokens
            self.calibration_calls += calls
            self.calibration_tokens += prompt_tokens
            event = LMCallFinished(prompt_tokens, 0, self.real_calls, self.cached_calls,
                                   self.prompt_tokens, self.completion_tokens, 0.0, self.cost_usd)
        self.sink(event)

    def root_call_started(self) -> None:
        with self._lock:
            if self.progress_stage is None:
                return
            self.root_calls += 1
            event = Progress(self.progress_stage, min(self.root_calls, self.progress_total),
                             self.progress_total)
        self.sink(event)

    def name_splits(self, sizes: dict[str, int], selects_on: str = "validation") -> None:
        """Tell trials apart by the set they were scored on: {"validation": 60, "train": 150};
        `selects_on` is the set the optimizer picks its result on (train when it has no valset)."""
        self.split_sizes = {n: split for split, n in sizes.items()}
        self.selects_on = selects_on

    def trial_kind(self, devset_size: int | None) -> str:
        return self.split_sizes.get(devset_size, MINIBATCH) if devset_size is not None else MINIBATCH

    def _rank(self, kind: str) -> int:
        # A score on the set the optimizer selects on beats one on another full set, which beats a
        # minibatch score (noisy, and minibatches differ); within a rank the higher score wins.
        return 2 if kind == self.selects_on else 0 if kind == MINIBATCH else 1

    def trial_failed(self, kind: str, reason: str) -> None:
        """An optimizer's scoring of a candidate failed (its LM calls, or the evaluation itself)."""
        with self._lock:
            event = TrialFinished(index=len(self.trials) + 1, score=None, best_so_far=self.best_score, kind=kind,
                                  detail={"failed": reason})
            self.trials.append(event)
        self.sink(event)

    def trial_finished(self, score: float, kind: str, program=None) -> None:
        """An optimizer scored a candidate. The best so far is the one a stop would keep (see _rank)."""
        rank = self._rank(kind)
        with self._lock:
            improved = rank > self._best_rank or (rank == self._best_rank and score > self.best_score)
            if improved:
                self.best_score, self.best_kind, self._best_rank = score, kind, rank
        if improved and program is not None:
            state = program.dump_state()  # outside the lock: a deep copy of demos and instructions
            with self._lock:
                if self.best_score == score and self.best_kind == kind:
                    self.best_state = state
        with self._lock:
            event = TrialFinished(index=len(self.trials) + 1, score=score, best_so_far=self.best_score, kind=kind)
            self.trials.append(event)
        self.sink(event)


class _SharedTracker(UsageTracker):
    def __init__(self, meter: RunMeter):
        super().__init__()
        self._meter = meter

    def __deepcopy__(self, memo):
        return self  # DSPy copies the tracker into pool threads; keep counting in one place

    def add_usage(self, lm: str, usage_entry: dict) -> None:
        if usage_entry:
            self._meter.add_usage(lm, dict(usage_entry))


class _MeterCallback(BaseCallback):
    def __init__(self, meter: RunMeter):
        self._meter = meter
        self._evaluations: dict[str, str] = {}

    def on_lm_start(self, call_id, instance, inputs):
        self._meter.before_lm_call()

    def on_lm_end(self, call_id, outputs, exception=None):
        self._meter.after_lm_call(succeeded=exception is None, error=exception)

    def on_module_start(self, call_id, instance, inputs):
        if getattr(instance, ROOT_MARK, False):
            self._meter.root_call_started()

    def on_evaluate_start(self, call_id, instance, inputs):
        inputs = inputs if isinstance(inputs, dict) else {}
        devset = inputs.get("devset") if inputs.get("devset") is not None else getattr(instance, "devset", None)
        metadata = inputs.get("callback_metadata") or {}
        kind = MINIBATCH if metadata.get("metric_key") == "eval_minibatch" else \
            self._meter.trial_kind(len(devset) if devset is not None else None)
        self._evaluations[call_id] = (kind, inputs.get("program"), self._meter.call_outcomes())

    def on_evaluate_end(self, call_id, outputs, exception=None):
        kind, program, (ok_before, failed_before) = self._evaluations.pop(call_id, (MINIBATCH, None, (0, 0)))
        if isinstance(exception, RunStopped):
            return  # a cancel or a budget stop, not a verdict on the candidate
        ok, failed = self._meter.call_outcomes()
        if exception is not None:
            self._meter.trial_failed(kind, f"the evaluation failed: {type(exception).__name__}: {exception}")
            return
        if failed > failed_before and ok == ok_before:
            self._meter.trial_failed(kind, f"all {failed - failed_before} LM calls failed (last: "
                                           f"{self._meter.last_call_error or 'unknown error'})")
            return
        if outputs is None:
            return
        score = getattr(outputs, "score", outputs)
        try:
            value = float(score)
        except (TypeError, ValueError):
            return
        # dspy.Evaluate reports percentages (0-100); trials are shown in [0, 1] like every score.
        self._meter.trial_finished(value / 100.0, kind, program)
