"""What a metric needs beyond two values: the judge's model, the user's trusted metric file.

A compile, an evaluation or a calibration builds one `MetricContext` before it writes anything
(`prepare_metric_context`): it imports each Python metric only once the user trusts that exact
file (engine/trust.py), connects the judge's model profile and applies the one refusal rule for
judges nobody checked (`engine.calibration.check_judge_ready`). During the run the context is a
`dspy.context` key, so it reaches every thread DSPy's pools and the Workbench's evaluator start
(both copy the caller's DSPy overrides), and `metrics.LLMJudge.evaluate` /
`metrics.PythonMetric.evaluate` find it there.

A Python metric that raises, or returns something that is not a number in [0, 1], stops the run
with `MetricFailed`: a `RunStopped` (a BaseException), because DSPy's optimizers count an
ordinary exception from a metric as a failed example and carry on with wrong scores.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import MetricError
from engine.jobs.control import RunStopped

CONTEXT_KEY = "workbench_metric_context"


class MetricFailed(RunStopped):
    """A user's metric raised or returned a value outside [0, 1]; the message names file, line, example."""

    status = "failed"


def metric_path(root: Path, path: str) -> Path:
    """A Python metric's file: `path` relative to the project folder, or absolute."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else (root / candidate)


def trust_hint(root: Path) -> str:
    return f"dspy-workbench metric trust {root}"


@dataclass
class LoadedFunction:
    function: Any
    code: Any  # engine.trust.CodeFile
    relative_path: str


@dataclass
class MetricContext:
    root: Path
    judge: Any | None = None  # engine.judge.Judge
    judge_record: dict | None = None  # what the run records about the judge's calibration
    functions: dict[tuple[str, str], LoadedFunction] = field(default_factory=dict)

    # -- during a run ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def activated(self):
        import dspy

        with dspy.context(**{CONTEXT_KEY: self}):
            yield self

    def price_on(self, meter) -> None:
        """Let the run's meter price the judge's calls by the judge model's own price."""
        if self.judge is not None:
            meter.price_models(self.judge.connected)

    def run_judge(self, spec, gold, pred) -> tuple[float, list[str]]:
        if self.judge is None or self.judge.spec != spec:
            raise MetricError("This run was prepared without the metric's judge; prepare the metric again.")
        return self.judge.score(gold, pred)

    def run_python(self, spec, gold, pred) -> tuple[float, list[str]]:
        from engine.trust import describe_user_error

        loaded = self.functions.get((spec.path, spec.function))
        if loaded is None:
            raise MetricError(f"The metric file {spec.path} was not loaded for this run; prepare the metric again.")
        example_id = getattr(gold, "example_id", None) or "(no id)"
        try:
            value = loaded.function(gold, pred, None)
        except Exception as exc:
            raise MetricFailed(
                f"the metric {spec.function} in {loaded.code.path} raised on example {example_id}: "
                f"{describe_user_error(exc, loaded.code.path)}; fix the file, then trust it again with "
                f"`{trust_hint(self.root)}`"
            ) from None
        number = _unit_number(value)
        if number is None:
            line = getattr(getattr(loaded.function, "__code__", None), "co_firstlineno", None)
            where = f" (line {line})" if line else ""
            raise MetricFailed(
                f"the metric {spec.function} in {loaded.code.path}{where} returned {value!r} for example "
                f"{example_id}, not a number in [0, 1] or a bool; make it return a score between 0 and 1"
            )
        return number, ([] if number >= 1.0 else [f"{spec.function}: {number:.3g}."])

    # -- what the run records --------------------------------------------------------------------------

    def record(self) -> dict:
        """The run's record of its metric's code and judge (for events_summary and the manifest)."""
        out: dict = {}
        if self.functions:
            out["metric_files"] = [
                {"path": loaded.relative_path, "function": function, "sha256": loaded.code.sha256}
                for (_, function), loaded in self.functions.items()
            ]
        if self.judge is not None:
            out["judge"] = dict(self.judge_record or {})
        return out

    def counts(self) -> dict:
        return self.judge.counts.to_dict() if self.judge is not None else {}


def _unit_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if hasattr(value, "score") and not isinstance(value, numbers.Real):  # dspy.Prediction(score=...)
        value = value.score
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isnan(number) and 0.0 <= number <= 1.0:
            return number
    return None


def active_context(spec) -> MetricContext:
    """The run's MetricContext (for the kinds that need one); MetricError outside a prepared run."""
    import dspy

    context = dspy.settings.get(CONTEXT_KEY)
    if context is None:
        what = "an LLM judge" if spec.kind == "llm_judge" else "a metric from a Python file"
        raise MetricError(
            f"The metric uses {what}, which scores only inside a compile, evaluation or calibration run; "
            "start one of those."
        )
    return context


def load_python_metric(root: Path, spec) -> LoadedFunction:
    """Import a trusted metric file and find its function (UntrustedCodeError if not trusted)."""
    from engine.trust import import_trusted

    path = metric_path(root, spec.path)
    module, code = import_trusted(path, what="the metric file", trust_hint=trust_hint(root))
    function = getattr(module, spec.function, None)
    if function is None or not callable(function):
        raise MetricError(
            f"{code.path} has no function named {spec.function!r}; name a function "
            "`(example, prediction, trace=None) -> float`."
        )
    return LoadedFunction(function, code, spec.path)


def prepare_metric_context(project, spec, *, connected=None, allow_uncalibrated_judge: bool = False,
                           check_calibration: bool = True, judge_profile: str | None = None) -> MetricContext:
    """Everything the metric needs, checked before a run writes anything.

    `connected` is the run's own ConnectedLM: reused for a judge on the same profile. `judge_profile`
    overrides the judge's profile (a calibration with --model). With `check_calibration` (compile,
    evaluate) an uncalibrated, failed or stale judge is refused unless `allow_uncalibrated_judge`.
    """
    from engine import metrics

    context = MetricContext(root=project.root)
    metrics.validate_metric(spec, project.program.output_names, project.program.input_names)
    for python in metrics.python_specs(spec):
        context.functions[(python.path, python.function)] = load_python_metric(project.root, python)
    judges = metrics.judge_specs(spec)
    if judges:
        from engine.judge import Judge, judge_profile_name

        judge_spec = judges[0]
        name = judge_profile or judge_profile_name(project, judge_spec)
        if connected is not None and connected.profile.name == name:
            judge_connected = connected
        else:
            from engine.lms.connect import connect

            judge_connected = connect(project.profile(name))
        context.judge = Judge(judge_spec, judge_connected)
        if check_calibration:
            from engine.calibration import check_judge_ready

            context.judge_record = check_judge_ready(
                project, allow_uncalibrated_judge, judge_revision=judge_connected.revision.revision)
    return context


def check_metric_code_trusted(project, spec) -> None:
    """UntrustedCodeError for the first metric file the user does not trust in its current version."""
    from engine import metrics
    from engine.trust import require_trusted

    for python in metrics.python_specs(spec):
        require_trusted(metric_path(project.root, python.path), what="the metric file",
                        trust_hint=trust_hint(project.root))
