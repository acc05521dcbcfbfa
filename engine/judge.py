"""The LLM judge: a DSPy program of the engine's own, built from an `LLMJudge` spec.

The judge is one `dspy.Predict` over a signature made from the spec: the rubric is its
instructions; its inputs are the program inputs it may see (`<name>`), the gold outputs
(`expected_<name>`) and the program's outputs it judges (`<name>`); its one output is the
verdict, a Literal ("pass"/"fail" or "1".."5"). A Literal-only output is what the embedded
engine answers as a scored choice (engine/lms/choice_scoring.py), so on SmolLM2 the judge picks
the calibrated likelier verdict instead of decoding one greedily.

Its calls run inside the run's own `dspy.context`, so the run's meter sees them (counted, priced,
cancellable, under the budget) and the project's cache keys them by the judge model's revision
like any call. They are also counted apart (`JudgeCounts`), so a run can say what the program
cost and what judging it cost.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

VERDICT_CHOICES = {"pass_fail": ("pass", "fail"), "scale_1_5": ("1", "2", "3", "4", "5")}
GOLD_PREFIX = "expected_"


def verdict_field(spec) -> str:
    """The judge's output field: "verdict", unless the program has a field of that name."""
    taken = set(spec.inputs) | set(spec.outputs) | {GOLD_PREFIX + g for g in spec.gold}
    name = "verdict"
    while name in taken:
        name = "judge_" + name
    return name


def instructions(spec) -> str:
    rubric = spec.rubric.strip()
    if spec.verdict == "pass_fail":
        scale = 'Verdict: "pass" if the answer meets the rubric, "fail" if it does not.'
    else:
        scale = "Verdict: how well the answer meets the rubric, from 1 (not at all) to 5 (fully)."
    return f"Judge the answer against this rubric.\nRubric: {rubric}\n{scale}"


def build_judge_signature(spec):
    import dspy

    fields: dict[str, tuple] = {}
    for name in spec.inputs:
        fields[name] = (str, dspy.InputField(desc="an input the answer was given"))
    for name in spec.gold:
        fields[GOLD_PREFIX + name] = (str, dspy.InputField(desc=f"a reference {name} written by a person"))
    for name in spec.outputs:
        if name not in fields:
            fields[name] = (str, dspy.InputField(desc="the answer to judge"))
    choices = VERDICT_CHOICES[spec.verdict]
    fields[verdict_field(spec)] = (Literal[choices], dspy.OutputField())  # type: ignore[valid-type]
    return dspy.Signature(fields, instructions(spec), signature_name="Judge")


def build_judge_program(spec):
    """The judge as a `dspy.Predict` (no demos: its calibration is against people, not examples)."""
    import dspy

    return dspy.Predict(build_judge_signature(spec))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def judge_inputs(spec, example, prediction) -> dict[str, str]:
    """The judge's input values from an example (inputs, gold) and a prediction (outputs)."""
    from engine.metrics import _field_value

    values = {name: _text(_field_value(example, name)) for name in spec.inputs}
    values.update({GOLD_PREFIX + name: _text(_field_value(example, name)) for name in spec.gold})
    for name in spec.outputs:
        values.setdefault(name, _text(_field_value(prediction, name)))
    return values


def verdict_value(spec, verdict: str) -> float:
    """pass 1.0, fail 0.0; a 1-5 score s as (s - 1) / 4."""
    if spec.verdict == "pass_fail":
        return 1.0 if str(verdict).strip().lower() == "pass" else 0.0
    return (int(str(verdict).strip()) - 1) / 4.0


def judge_profile_name(project, spec) -> str:
    return spec.model or project.config.compile.model


def judge_prompt_messages(project, spec, example, prediction) -> list[dict]:
    """The exact messages the judge sends for this example and prediction, rendered offline
    by the judge profile's prompt format (no LM call)."""
    from engine.adapters import make_adapter

    profile = project.profile(judge_profile_name(project, spec))
    program = build_judge_program(spec)
    adapter = make_adapter(profile.format)
    return adapter.format(program.signature, [], judge_inputs(spec, example, prediction))


# -- counting the judge's share of a run ------------------------------------------------------------

@dataclass
class JudgeCounts:
    """The judge's calls within a run (which the run's totals include too)."""

    calls: int = 0  # real (non-cached) calls
    logical_calls: int = 0  # including cache hits
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0  # None once a call had no known price
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def cached_calls(self) -> int:
        return max(0, self.logical_calls - self.calls)

    def add_usage(self, usage: dict, cost: float | None) -> None:
        from engine.lms.pricing import tokens_of

        prompt, completion = tokens_of(usage)
        with self._lock:
            self.calls += 1
            self.prompt_tokens += prompt
            self.completion_tokens += completion
            self.cost_usd = None if cost is None or self.cost_usd is None else self.cost_usd + cost

    def add_logical(self) -> None:
        with self._lock:
            self.logical_calls += 1

    def to_dict(self) -> dict:
        return {
            "judge_calls": self.calls,
            "judge_cached_calls": self.cached_calls,
            "judge_tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens},
            "judge_cost_usd": self.cost_usd,
        }


@functools.cache
def _counting_classes():
    """The tracker and callback classes that count the judge's calls (made once: dspy loads lazily)."""
    from dspy.utils.callback import BaseCallback
    from dspy.utils.usage_tracker import UsageTracker

    class JudgeTracker(UsageTracker):
        """Counts the judge's real calls and forwards them to the run's own tracker."""

        def __init__(self, parent, counts: JudgeCounts, price):
            super().__init__()
            self.parent, self.counts, self.price = parent, counts, price

        def __deepcopy__(self, memo):
            return self  # DSPy copies the tracker into pool threads; keep counting in one place

        def add_usage(self, lm: str, usage_entry: dict) -> None:
            if usage_entry:
                self.counts.add_usage(dict(usage_entry), self.price.cost(dict(usage_entry)))
            if self.parent is not None:
                self.parent.add_usage(lm, usage_entry)

    class JudgeCallback(BaseCallback):
        """Counts the judge's logical calls (cache hits included)."""

        def __init__(self, counts: JudgeCounts):
            self.counts = counts

        def on_lm_end(self, call_id, outputs, exception=None):
            if exception is None:
                self.counts.add_logical()

    return JudgeTracker, JudgeCallback


@dataclass
class Judge:
    """A judge ready to score: its spec, its program and the connected model that answers."""

    spec: Any  # engine.metrics.LLMJudge
    connected: Any  # engine.lms.connect.ConnectedLM
    counts: JudgeCounts = field(default_factory=JudgeCounts)

    def __post_init__(self):
        from engine.adapters import make_adapter
        from engine.lms.pricing import price_of

        self.program = build_judge_program(self.spec)
        # Its own adapter: the program's compact adapter carries the program's calibration rows.
        self.adapter = make_adapter(self.connected.profile.format)
        self.price = price_of(self.connected)
        self.field = verdict_field(self.spec)

    def verdict(self, example, prediction) -> str:
        """The judge's raw verdict ("pass", "fail", "1".."5"). Runs in the caller's dspy.context, so the
        run's callbacks (its cancel and budget) see the call; AdapterParseError when it did not parse."""
        import dspy

        tracker_class, callback_class = _counting_classes()
        settings = dspy.settings
        tracker = tracker_class(settings.get("usage_tracker"), self.counts, self.price)
        callbacks = [*(settings.get("callbacks") or []), callback_class(self.counts)]
        # trace=[]: the judge's own step must not enter an optimizer's trace (BootstrapFewShot
        # reads the trace it handed the metric to pick demos).
        with dspy.context(lm=self.connected.lm, adapter=self.adapter, trace=[], usage_tracker=tracker,
                          callbacks=callbacks):
            answer = self.program(**judge_inputs(self.spec, example, prediction))
        return str(answer[self.field])

    def score(self, example, prediction) -> tuple[float, list[str]]:
        from dspy.utils.exceptions import AdapterParseError

        try:
            verdict = self.verdict(example, prediction)
        except AdapterParseError:
            return 0.0, ["judge: its answer did not parse, so the example scored 0."]
        value = verdict_value(self.spec, verdict)
        if value >= 1.0:
            return 1.0, []
        return value, [f"judge: {verdict}" + (" of 5." if self.spec.verdict == "scale_1_5" else ".")]
