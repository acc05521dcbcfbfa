"""Scoring a program on a split: per example, overall and per slice, with 95% intervals.

The Workbench runs its own loop instead of `dspy.Evaluate` so that it can report progress per
example, count answers that did not parse, keep each prediction for review, and let a cancel
unwind cleanly (a `RunStopped` passes through, carrying the rows that finished as its `partial`
Evaluation; `dspy.Evaluate` would print to stdout).
"""

from __future__ import annotations

import concurrent.futures
import re
from dataclasses import dataclass, field

from engine import stats
from engine.jobs.control import RunStopped
from engine.jobs.events import EventSink, LogLine, Progress, ignore


@dataclass
class ExampleResult:
    example_id: str
    slices: list[str]
    score: float
    prediction: dict | None
    error: str | None = None  # "parse" for an answer that did not parse, else the error's text


@dataclass
class Evaluation:
    split: str
    results: list[ExampleResult] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.results)

    @property
    def scores(self) -> list[float]:
        return [r.score for r in self.results]

    @property
    def parse_failures(self) -> int:
        return sum(1 for r in self.results if r.error == "parse")

    @property
    def errors(self) -> int:
        return sum(1 for r in self.results if r.error not in (None, "parse"))

    def summary(self) -> stats.Summary:
        return stats.summarize(self.scores)

    def per_slice(self) -> dict[str, stats.Summary]:
        return stats.per_slice(self.scores, [r.slices for r in self.results])

    def to_dict(self) -> dict:
        """The figures the CLI's --json, the history and the manifest carry."""
        summary = self.summary()
        return {
            "n": summary.n,
            "score": summary.score,
            "ci95": [summary.ci95.low, summary.ci95.high],
            "ci_method": summary.ci95.method,
            "per_slice": {
                tag: {"n": s.n, "score": s.score, "ci95": [s.ci95.low, s.ci95.high]}
                for tag, s in sorted(self.per_slice().items())
            },
            "parse_failures": self.parse_failures,
            "errors": self.errors,
        }


def evaluate(program, examples, metric_spec, *, split: str, stage: str | None = None,
             sink: EventSink = ignore, threads: int = 1, context_tokens: int | None = None) -> Evaluation:
    """Run `program` on each example and score it. Runs inside the caller's `dspy.context`.

    With `context_tokens` (the model's context window, `context_window(connected)`), a row whose
    inputs alone cannot fit is not sent: it gets an error naming it and counts as failed.
    """
    from engine import metrics

    stage = stage or f"evaluate on {split}"
    total = len(examples)
    sink(Progress(stage, 0, total))

    def run_one(example) -> ExampleResult:
        too_long = _does_not_fit(example, context_tokens)
        if too_long:
            sink(LogLine(f"example {getattr(example, 'example_id', '') or '?'} was not sent: {too_long}", "warning"))
            return ExampleResult(getattr(example, "example_id", "") or "", list(getattr(example, "slices", []) or []),
                                 0.0, None, error=too_long)
        return _score_one(program, example, metric_spec, metrics)

    evaluation = Evaluation(split=split)
    if threads <= 1 or total <= 1:
        try:
            for done, example in enumerate(examples, start=1):
                evaluation.results.append(run_one(example))
                sink(Progress(stage, done, total))
        except RunStopped as stop:
            stop.partial = evaluation
            raise
        return evaluation

    results: list[ExampleResult | None] = [None] * total
    futures: dict = {}
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
            futures = {pool.submit(_in_context(run_one), ex): i for i, ex in enumerate(examples)}
            try:
                for done, future in enumerate(concurrent.futures.as_completed(futures), start=1):
                    results[futures[future]] = future.result()
                    sink(Progress(stage, done, total))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    except RunStopped as stop:
        # The pool has shut down: every row that finished before the stop is kept, in input order.
        for future, i in futures.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                results[i] = future.result()
        evaluation.results = [r for r in results if r is not None]
        stop.partial = evaluation
        raise
    evaluation.results = [r for r in results if r is not None]
    return evaluation


# The largest context windows models offer today; a model whose window is not known gets this.
LARGEST_CONTEXT_TOKENS = 2_000_000


def context_window(connected) -> int:
    """The tokens the model's context holds, as far as the Workbench knows.

    The embedded model and Ollama run with the profile's `context_tokens` (llama.cpp's n_ctx,
    Ollama's num_ctx); a hosted model's comes from LiteLLM's model map; an OpenAI-compatible
    server does not say, so it gets the largest window on offer (a 50 MB row is still refused).
    """
    profile = connected.profile
    if profile.kind in ("embedded", "ollama"):
        return profile.context_tokens
    if profile.kind == "hosted":
        try:
            import litellm

            known = litellm.get_model_info(f"{profile.provider}/{profile.model}").get("max_input_tokens")
            if known:
                return int(known)
        except Exception:  # not in the map: fall through
            pass
    return LARGEST_CONTEXT_TOKENS


_RUN_OF_ONE_SEPARATOR = re.compile(r"(\W)\1+")  # "     ", "-----", "\n\n\n"


def fewest_tokens(text: str) -> int:
    """A lower bound on the tokens `text` takes, for any of today's LLM tokenizers.

    Measured with SmolLM2's BPE vocabulary: English takes 4.2-4.5 characters a token, German 2.2,
    JSON and URLs 2.2, a run of one letter 4, digits 1, CJK 0.5; only long runs of one separator
    (spaces, dashes) reach 64 a token. So a text takes at least one token per 8 characters once
    such runs count as one character, and one per 64 in any case: a row is refused only when it
    is far too long, never a borderline one (which the model itself then rejects, as a per-row
    error too).
    """
    return max(len(text) // 64, len(_RUN_OF_ONE_SEPARATOR.sub(r"\1", text)) // 8)


def _does_not_fit(example, context_tokens: int | None) -> str | None:
    """Why the example's inputs cannot fit in the context window, or None."""
    if not context_tokens:
        return None
    text = "".join(str(value) for value in example.inputs().values())
    if len(text) // 8 <= context_tokens:
        return None  # the usual case, decided without scanning the text
    needed = len(text) // 64 if len(text) // 64 > context_tokens else fewest_tokens(text)
    if needed <= context_tokens:
        return None
    return (f"its inputs ({len(text):,} characters) take at least {needed:,} tokens and the model's context "
            f"holds {context_tokens:,}; shorten the row or use a model with a larger context window")


def _score_one(program, example, metric_spec, metrics) -> ExampleResult:
    from dspy.utils.exceptions import AdapterParseError

    from engine.errors import ModelError

    example_id = getattr(example, "example_id", "") or ""
    slices = list(getattr(example, "slices", []) or [])
    try:
        prediction = program(**example.inputs())
    except AdapterParseError:
        return ExampleResult(example_id, slices, 0.0, None, error="parse")
    except ModelError:
        raise  # the model is unreachable or failing: the run fails with the reason, not zero scores
    except Exception as exc:  # a failing example scores 0 and is counted; the run goes on
        return ExampleResult(example_id, slices, 0.0, None, error=f"{type(exc).__name__}: {exc}")
    values = {k: prediction[k] for k in prediction.keys()}
    return ExampleResult(example_id, slices, metrics.score(metric_spec, example, prediction), values)


def _in_context(fn):
    """Carry the caller's dspy.context (LM, adapter, callbacks, tracker) into a pool thread."""
    from dspy.dsp.utils.settings import thread_local_overrides

    parent = thread_local_overrides.get().copy()

    def wrapped(*args):
        token = thread_local_overrides.set({**thread_local_overrides.get(), **parent})
        try:
            return fn(*args)
        finally:
            thread_local_overrides.reset(token)

    return wrapped
