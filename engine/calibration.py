"""Calibrating an LLM judge on human labels, and the one rule that refuses an unchecked judge.

People label some of the program's outputs pass/fail (or a score in [0, 1]); the judge scores
exactly those outputs; the two are compared as pass/fail (a value >= 0.5 is a pass, on either
side): agreement, Cohen's kappa with a 95% interval, the true-positive rate (the judge passes what
people pass) and the true-negative rate (it fails what they fail), and the disagreements one by
one with the judge's exact prompt.

The interval is a percentile bootstrap over the labelled examples (2,000 resamples, seed 0;
resamples in which kappa is undefined are skipped): with 20-60 labels the standard-error formula's
normal approximation is poor near kappa = 1 and can leave [-1, 1].

Files, in the project's `data/` folder next to the examples (plain, diffable):
    judge_labels.csv          id, one column per judged output field, human
    judge_calibration.json    the last successful calibration (CalibrationResult.to_json())

A calibration passes when kappa reaches the judge's `calibration_threshold` (default 0.6, in
project.toml). It is stale once the rubric, the judged fields, the verdict scale, the judge's
model profile or revision, or the labels change. `check_judge_ready` is the one place the rule
is applied: compile and evaluate (CLI and window) call it through
`engine.metric_context.prepare_metric_context`.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.errors import WorkbenchError

LABELS_FILE = "data/judge_labels.csv"
CALIBRATION_FILE = "data/judge_calibration.json"
DEFAULT_THRESHOLD = 0.6
MIN_TRUSTED_LABELS = 20
BOOTSTRAP_RESAMPLES = 2000
CI_METHOD = "percentile bootstrap (2000 resamples over the labelled examples)"
UNCALIBRATED_NOTE = "used uncalibrated by the user's choice"
STATES = ("none", "uncalibrated", "failed", "stale", "passed")

_PASS_WORDS = {"pass", "passed", "yes", "y", "true", "good", "1"}
_FAIL_WORDS = {"fail", "failed", "no", "n", "false", "bad", "0"}


class JudgeNotCalibrated(WorkbenchError):
    """A compile or evaluation with a judge that is uncalibrated, failed its calibration, or is stale."""


@dataclass(frozen=True)
class HumanLabel:
    example_id: str
    outputs: dict
    human: float  # in [0, 1]; >= 0.5 is a pass

    @property
    def passed(self) -> bool:
        return self.human >= 0.5


# -- the judge a project's metric holds -------------------------------------------------------------

def project_judge(project):
    """The metric's LLM judge; WorkbenchError when the metric has none."""
    from engine import metrics

    judges = metrics.judge_specs(project.metric_spec())
    if not judges:
        raise WorkbenchError(
            f"the metric of {project.root} has no LLM judge to calibrate; set one with "
            f"`dspy-workbench metric set {project.root} --judge \"RUBRIC\"`"
        )
    return judges[0]


def judge_sha256(spec) -> str:
    """What a calibration is of: the rubric, the fields the judge sees and its verdict scale."""
    identity = {"rubric": spec.rubric, "inputs": spec.inputs, "gold": spec.gold, "outputs": spec.outputs,
                "verdict": spec.verdict}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def rubric_sha256(spec) -> str:
    return hashlib.sha256(spec.rubric.encode("utf-8")).hexdigest()


# -- label files ----------------------------------------------------------------------------------------

def parse_human(value) -> float | None:
    """pass/fail, yes/no, true/false, 1/0 or a number in [0, 1]; None when it is none of those."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    text = str(value).strip().casefold()
    if text in _PASS_WORDS:
        return 1.0
    if text in _FAIL_WORDS:
        return 0.0
    try:
        number = float(text)
    except ValueError:
        return None
    return number if not math.isnan(number) and 0.0 <= number <= 1.0 else None


def _read_table(path: Path):
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".ndjson"):
            frame = pd.read_json(path, lines=True, dtype=False)
            first_row = 1  # line numbers
        elif suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            first_row = 2  # the header is line 1
        else:
            raise WorkbenchError(f"{path} is not a .csv or .jsonl file; save the labels as one of those")
    except FileNotFoundError:
        raise WorkbenchError(f"{path} does not exist; check the path of the label file") from None
    except WorkbenchError:
        raise
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise WorkbenchError(f"{path} cannot be read as {suffix[1:].upper()} ({exc}); fix the file") from None
    return frame, first_row


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def read_label_file(project, path: str | Path) -> list[HumanLabel]:
    """The labels in a CSV or JSONL file with `id`, one column per judged output field, `human`.

    An unknown id, a repeated id, a missing column or a value it cannot read is one WorkbenchError
    naming the row; nothing is stored by reading.
    """
    spec = project_judge(project)
    path = Path(path).expanduser()
    frame, first_row = _read_table(path)
    needed = ["id", *spec.outputs, "human"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise WorkbenchError(
            f"{path} has no column {', '.join(repr(m) for m in missing)}; a label file needs the columns "
            f"{', '.join(needed)}"
        )
    if frame.empty:
        raise WorkbenchError(f"{path} holds no labels; add one row per labelled output")
    known = set(project.frame["id"].astype(str))
    where_word = "line" if first_row == 1 else "row"
    labels: list[HumanLabel] = []
    seen: dict[str, int] = {}
    for offset, row in enumerate(frame.to_dict("records")):
        where = f"{path} {where_word} {offset + first_row}"
        example_id = _cell(row["id"]).strip()
        if not example_id:
            raise WorkbenchError(f"{where} has no id; give each label the id of its example")
        if example_id not in known:
            raise WorkbenchError(f"{where}: id {example_id!r} is not an example of this project; use an id from its data")
        if example_id in seen:
            raise WorkbenchError(
                f"{where}: id {example_id!r} is labelled twice (also {where_word} {seen[example_id]}); keep one label per example"
            )
        seen[example_id] = offset + first_row
        human = parse_human(row["human"])
        if human is None:
            raise WorkbenchError(
                f"{where} (id {example_id}): human value {_cell(row['human'])!r} is not pass/fail, yes/no, 1/0 "
                "or a number between 0 and 1"
            )
        labels.append(HumanLabel(example_id, {name: _cell(row[name]) for name in spec.outputs}, human))
    return labels


def labels_path(project) -> Path:
    return project.root / LABELS_FILE


def load_labels(project) -> list[HumanLabel]:
    """The project's own labels (data/judge_labels.csv); [] when there are none yet."""
    path = labels_path(project)
    if not path.exists():
        return []
    return read_label_file(project, path)


def save_labels(project, labels: list[HumanLabel]) -> Path:
    """Replace the project's labels (atomically), one row per label, in the order given."""
    import io

    import pandas as pd

    from engine.atomic import atomic_write_text

    spec = project_judge(project)
    rows = [{"id": label.example_id, **{n: _cell(label.outputs.get(n, "")) for n in spec.outputs},
             "human": _human_text(label.human)} for label in labels]
    frame = pd.DataFrame(rows, columns=["id", *spec.outputs, "human"])
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    path = labels_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, buffer.getvalue())
    return path


def _human_text(value: float) -> str:
    if value == 1.0:
        return "pass"
    if value == 0.0:
        return "fail"
    return repr(float(value))  # reads back as the same float


def labels_sha256(labels: list[HumanLabel]) -> str:
    """A fingerprint of the labels as the label file holds them (values as text), in any order."""
    data = sorted(([lb.example_id, {k: _cell(v) for k, v in lb.outputs.items()}, float(lb.human)] for lb in labels),
                  key=lambda item: item[0])
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


# -- agreement figures ------------------------------------------------------------------------------

def confusion_matrix(human: list[bool], judge: list[bool]) -> dict[str, int]:
    """Pass is the positive class: tp = both pass, fn = people pass and the judge fails, ..."""
    pairs = list(zip(human, judge, strict=True))
    return {"tp": sum(h and j for h, j in pairs), "fn": sum(h and not j for h, j in pairs),
            "fp": sum(j and not h for h, j in pairs), "tn": sum(not h and not j for h, j in pairs)}


def cohen_kappa(human: list[bool], judge: list[bool]) -> float | None:
    """Cohen's kappa of two pass/fail raters; None when chance agreement is 1 (both say one thing always)."""
    n = len(human)
    if n == 0:
        return None
    c = confusion_matrix(human, judge)
    observed = (c["tp"] + c["tn"]) / n
    human_pass, judge_pass = (c["tp"] + c["fn"]) / n, (c["tp"] + c["fp"]) / n
    expected = human_pass * judge_pass + (1 - human_pass) * (1 - judge_pass)
    if math.isclose(expected, 1.0):
        return None
    return (observed - expected) / (1 - expected)


def kappa_interval(human: list[bool], judge: list[bool], *, resamples: int = BOOTSTRAP_RESAMPLES,
                   seed: int = 0) -> tuple[float, float] | None:
    """95% percentile-bootstrap interval of kappa; None when too few resamples define it."""
    import numpy as np

    n = len(human)
    if n < 2:
        return None
    h, j = np.asarray(human, dtype=bool), np.asarray(judge, dtype=bool)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(resamples, n))
    hs, js = h[draws], j[draws]
    observed = (hs == js).mean(axis=1)
    hp, jp = hs.mean(axis=1), js.mean(axis=1)
    expected = hp * jp + (1 - hp) * (1 - jp)
    defined = ~np.isclose(expected, 1.0)
    if defined.sum() < resamples // 2:
        return None
    kappas = (observed[defined] - expected[defined]) / (1 - expected[defined])
    low, high = np.percentile(kappas, [2.5, 97.5])
    return round(float(low), 12) + 0.0, round(float(high), 12) + 0.0  # never "-0.00"


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


# -- the result ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CalibrationResult:
    status: str  # succeeded, cancelled, stopped_by_budget
    n: int
    agreement: float | None
    kappa: float | None
    kappa_ci95: list[float] | None
    ci_method: str
    tpr: float | None
    tnr: float | None
    confusion: dict
    threshold: float
    passed: bool
    judge: dict  # profile, provider, name, revision
    rubric_sha256: str
    judge_sha256: str
    labels_sha256: str
    warnings: list[str] = field(default_factory=list)
    disagreements: list[dict] = field(default_factory=list)  # example_id, outputs, human, judge, prompt
    verdicts: dict = field(default_factory=dict)  # example_id -> the judge's value in [0, 1]
    judge_calls: dict = field(default_factory=dict)  # engine.judge.JudgeCounts.to_dict()
    created_at: str = ""

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> CalibrationResult:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def figures(labels: list[HumanLabel], judged: dict[str, float], threshold: float) -> dict:
    """Agreement figures of `judged` (example id -> the judge's value) against the labels."""
    labelled = [label for label in labels if label.example_id in judged]
    human = [label.passed for label in labelled]
    judge = [judged[label.example_id] >= 0.5 for label in labelled]
    c = confusion_matrix(human, judge)
    kappa = cohen_kappa(human, judge)
    interval = kappa_interval(human, judge)
    n = len(labelled)
    return {
        "n": n,
        "agreement": _rate(c["tp"] + c["tn"], n),
        "kappa": kappa,
        "kappa_ci95": list(interval) if interval else None,
        "tpr": _rate(c["tp"], c["tp"] + c["fn"]),
        "tnr": _rate(c["tn"], c["tn"] + c["fp"]),
        "confusion": c,
        "passed": kappa is not None and kappa >= threshold,
    }


def label_warnings(labels: list[HumanLabel], kappa: float | None) -> list[str]:
    warnings = []
    n = len(labels)
    if n < MIN_TRUSTED_LABELS:
        warnings.append(f"only {n} labels: the kappa cannot be trusted yet; label at least {MIN_TRUSTED_LABELS}")
    if labels and len({label.passed for label in labels}) == 1:
        kind = "pass" if labels[0].passed else "fail"
        warnings.append(
            f"every label is a {kind}: the kappa cannot be trusted yet; label outputs of both kinds")
    if kappa is None and labels:
        warnings.append("kappa is undefined (the judge and the people each gave one verdict only)")
    return warnings


# -- running a calibration -------------------------------------------------------------------------------

def _examples_by_id(project) -> dict:
    return {example.example_id: example for example in project.examples(None)}


def run_calibration(project, labels: list[HumanLabel], *, model: str | None = None, sink=None,
                    cancel=None, budget=None) -> CalibrationResult:
    """Run the judge on exactly the labelled outputs and compare. In any thread; events + cancel
    like the other jobs. A finished calibration is stored with the labels it used (data/); a
    cancelled or budget-stopped one is returned with what it judged and stores nothing."""
    from engine.jobs.compile import _use_project_cache
    from engine.jobs.control import CancelToken, RunStopped
    from engine.jobs.events import Progress, RunFinished, StageStarted, ignore
    from engine.jobs.instrument import RunMeter
    from engine.judge import Judge, judge_inputs, judge_profile_name, verdict_value
    from engine.lms.connect import connect
    from engine.store import utc_now

    sink = sink or ignore
    cancel = cancel or CancelToken()
    spec = project_judge(project)
    if not labels:
        raise WorkbenchError("there are no labels to calibrate on; label some outputs or pass --labels FILE")
    examples = _examples_by_id(project)
    unknown = [label.example_id for label in labels if label.example_id not in examples]
    if unknown:
        raise WorkbenchError(f"label id {unknown[0]!r} is not an example of this project; relabel or remove it")
    profile_name = model or judge_profile_name(project, spec)
    judge = Judge(spec, connect(project.profile(profile_name)))
    _use_project_cache(project)
    meter = RunMeter(sink, cancel, budget)
    meter.price_models(judge.connected)
    stage = "calibrate the judge"
    sink(StageStarted(stage, len(labels)))
    sink(Progress(stage, 0, len(labels)))
    judged: dict[str, float] = {}
    raw: dict[str, str] = {}
    unparsed = 0
    status = "succeeded"
    from dspy.utils.exceptions import AdapterParseError

    try:
        with meter.context():
            for done, label in enumerate(labels, start=1):
                try:
                    verdict = judge.verdict(examples[label.example_id], label.outputs)
                    raw[label.example_id] = verdict
                    judged[label.example_id] = verdict_value(spec, verdict)
                except AdapterParseError:
                    unparsed += 1
                    raw[label.example_id] = "(did not parse)"
                    judged[label.example_id] = 0.0
                sink(Progress(stage, done, len(labels)))
    except RunStopped as stop:
        status = stop.status
    meter.wait_for_calls_in_flight(judge.connected.profile.timeout_s)
    threshold = spec.calibration_threshold
    done_labels = [label for label in labels if label.example_id in judged]
    figs = figures(done_labels, judged, threshold)
    warnings = label_warnings(done_labels, figs["kappa"])
    if unparsed:
        warnings.append(f"{unparsed} of the judge's answers did not parse and count as a fail")
    verdicts_given = {value >= 0.5 for value in judged.values()}
    if len(done_labels) > 1 and len(verdicts_given) == 1:
        warnings.append(f"the judge gave every output the same verdict ({'pass' if verdicts_given.pop() else 'fail'}): "
                        "it does not tell good answers from bad ones")
    if status != "succeeded":
        warnings.append(f"stopped after {len(done_labels)} of {len(labels)} labels ({status}); nothing was stored")
    disagreements = []
    for label in done_labels:
        value = judged[label.example_id]
        if (value >= 0.5) != label.passed:
            example = examples[label.example_id]
            messages = judge.adapter.format(judge.program.signature, [], judge_inputs(spec, example, label.outputs))
            disagreements.append({"example_id": label.example_id, "outputs": dict(label.outputs),
                                  "human": label.human, "judge": value, "verdict": raw[label.example_id],
                                  "prompt": messages})
    revision = judge.connected.revision
    result = CalibrationResult(
        status=status, ci_method=CI_METHOD, threshold=threshold,
        judge={"profile": judge.connected.profile.name, "provider": revision.provider, "name": revision.name,
               "revision": revision.revision},
        rubric_sha256=rubric_sha256(spec), judge_sha256=judge_sha256(spec), labels_sha256=labels_sha256(labels),
        warnings=warnings, disagreements=disagreements, verdicts=judged, judge_calls=judge.counts.to_dict(),
        created_at=utc_now(), **figs,
    )
    if status == "succeeded":
        if labels_sha256(_stored_labels_or_empty(project)) != result.labels_sha256:
            save_labels(project, labels)
        _save_result(project, result)
    sink(RunFinished("calibration", status, ""))
    return result


def _stored_labels_or_empty(project) -> list[HumanLabel]:
    try:
        return load_labels(project)
    except WorkbenchError:
        return []


def _save_result(project, result: CalibrationResult) -> None:
    from engine.atomic import atomic_write_text

    path = project.root / CALIBRATION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")


def load_result(project) -> CalibrationResult | None:
    """The stored calibration; None when there is none (or it cannot be read: then it counts as none)."""
    path = project.root / CALIBRATION_FILE
    try:
        return CalibrationResult.from_json(json.loads(path.read_text("utf-8")))
    except (OSError, ValueError, TypeError):
        return None


# -- generating outputs to label ----------------------------------------------------------------------

def generate_outputs(project, example_ids: list[str], *, run_id: str | None = None, profile: str | None = None,
                     sink=None, cancel=None) -> dict[str, dict]:
    """The program's outputs for these examples (the baseline, or a run's compiled state), for people
    to label. In any thread; events + cancel like the other jobs. Examples whose answer failed (did
    not parse, errored) are absent; a cancel returns what finished."""
    import dspy

    from engine import metrics
    from engine.adapters import calibrate_on_training_rows
    from engine.evaluation import evaluate
    from engine.jobs.compile import _use_project_cache
    from engine.jobs.control import CancelToken, RunStopped
    from engine.jobs.events import RunFinished, StageStarted, ignore
    from engine.jobs.instrument import RunMeter
    from engine.lms.connect import connect
    from engine.programs import ProgramSpec, build_program

    sink = sink or ignore
    cancel = cancel or CancelToken()
    examples = _examples_by_id(project)
    unknown = [i for i in example_ids if i not in examples]
    if unknown:
        raise WorkbenchError(f"id {unknown[0]!r} is not an example of this project; choose examples from its data")
    if run_id is None:
        spec, state = project.program, None
    else:
        record = project.store.get_run(run_id)
        if record.program_state is None:
            raise WorkbenchError(f"run {run_id} has no compiled program (status {record.status}); choose a finished run")
        spec, state = ProgramSpec.model_validate(record.program_spec), record.program_state
    program = build_program(spec)
    if state is not None:
        program.load_state(state)
    connected = connect(project.profile(profile or (record.profile if run_id else project.config.compile.model)))
    calibrate_on_training_rows(connected.adapter, project)
    _use_project_cache(project)
    meter = RunMeter(sink, cancel)
    meter.price_models(connected)
    chosen = [examples[i] for i in example_ids]
    stage = "generate outputs to label"
    sink(StageStarted(stage, len(chosen)))
    outputs: dict[str, dict] = {}
    status = "succeeded"
    # Scored with the program's own default metric, which needs no model: only the outputs are kept.
    plain_metric = metrics.default_metric_for(spec.output_names)
    results = []
    try:
        with dspy.context(lm=connected.lm, adapter=connected.adapter), meter.context():
            for example in chosen:  # one at a time, so a cancel keeps every finished output
                results.extend(evaluate(program, [example], plain_metric, split="labels", stage=stage).results)
    except RunStopped as stop:
        status = stop.status
    for result in results:
        if result.prediction is not None:
            outputs[result.example_id] = {n: result.prediction.get(n) for n in spec.output_names}
    sink(RunFinished("outputs", status, ""))
    return outputs


# -- the refusal rule -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CalibrationStatus:
    state: str  # none, uncalibrated, failed, stale, passed
    message: str
    calibration: CalibrationResult | None = None


def _kappa_text(result: CalibrationResult) -> str:
    if result.kappa is None:
        return "kappa undefined"
    interval = f" (95% CI {result.kappa_ci95[0]:.2f} to {result.kappa_ci95[1]:.2f})" if result.kappa_ci95 else ""
    return f"kappa {result.kappa:.2f}{interval} on {result.n} labels"


def calibration_status(project, *, judge_revision: str | None = None) -> CalibrationStatus:
    """Where the metric's judge stands. `judge_revision` (the connected judge model's exact revision)
    is checked when given; without it (e.g. on the GUI thread, which never connects) the profile is."""
    from engine import metrics
    from engine.judge import judge_profile_name

    judges = metrics.judge_specs(project.metric_spec())
    if not judges:
        return CalibrationStatus("none", "the metric has no LLM judge")
    spec = judges[0]
    result = load_result(project)
    if result is None:
        return CalibrationStatus("uncalibrated", "the metric's LLM judge has not been calibrated on human labels")
    reasons = []
    if result.judge_sha256 != judge_sha256(spec):
        reasons.append("its rubric, judged fields or verdict scale changed")
    profile = judge_profile_name(project, spec)
    if result.judge.get("profile") != profile:
        reasons.append(f"it was calibrated with model profile {result.judge.get('profile')!r} and now uses {profile!r}")
    elif judge_revision is not None and result.judge.get("revision") != judge_revision:
        reasons.append("the judge model's revision changed")
    try:
        current_labels = load_labels(project)
    except WorkbenchError:
        current_labels = None
    if current_labels is None or labels_sha256(current_labels) != result.labels_sha256:
        reasons.append("the labels changed")
    if reasons:
        return CalibrationStatus("stale", f"the judge's calibration is stale: {' and '.join(reasons)} since it was calibrated",
                                 result)
    threshold = spec.calibration_threshold
    if result.kappa is None or result.kappa < threshold:
        return CalibrationStatus(
            "failed", f"the judge failed its calibration: {_kappa_text(result)} is below the threshold {threshold:g}", result)
    return CalibrationStatus("passed", f"the judge passed its calibration: {_kappa_text(result)}, threshold {threshold:g}",
                             result)


def check_judge_ready(project, allow_uncalibrated: bool, *, judge_revision: str | None = None) -> dict | None:
    """The one refusal rule (both faces): None without a judge; the calibration record a run keeps
    when it passed or the user allowed an unchecked judge; else JudgeNotCalibrated (one sentence)."""
    status = calibration_status(project, judge_revision=judge_revision)
    if status.state == "none":
        return None
    result = status.calibration
    record: dict = {"state": status.state}
    if result is not None:
        record.update({
            "n": result.n, "kappa": result.kappa, "kappa_ci95": result.kappa_ci95,
            "threshold": project_judge(project).calibration_threshold, "judge_profile": result.judge.get("profile"),
            "judge_revision": result.judge.get("revision"), "rubric_sha256": result.rubric_sha256,
            "calibrated_at": result.created_at,
        })
    if status.state == "passed":
        record["calibrated"] = True
        return record
    if not allow_uncalibrated:
        raise JudgeNotCalibrated(
            f"{status.message[:1].upper()}{status.message[1:]}, so its scores cannot be trusted yet; calibrate it with "
            f"`dspy-workbench metric calibrate {project.root}` or pass --allow-uncalibrated-judge to use it anyway"
        )
    record.update({"calibrated": False, "note": UNCALIBRATED_NOTE, "reason": status.message})
    return record


def set_threshold(project, value: float) -> None:
    """Set the kappa the judge's calibration must reach (in project.toml) and save the project."""
    if not (-1.0 <= value <= 1.0) or math.isnan(value):
        raise WorkbenchError(f"a kappa threshold is between -1 and 1, got {value:g}; choose one such as 0.6")
    data = json.loads(json.dumps(project.config.metric or {}))

    def visit(node) -> bool:
        if isinstance(node, dict):
            if node.get("kind") == "llm_judge":
                node["calibration_threshold"] = float(value)
                return True
            return any(visit(c.get("metric")) for c in node.get("components", []) if isinstance(c, dict))
        return False

    if not visit(data):
        project_judge(project)  # raises the no-judge sentence
    project.set_metric(data)
    project.save()


def judge_record_lines(report: dict) -> list[str]:
    """What `runs show` / `evaluate` print about a run's judge and metric files (report: run_report
    or an evaluation's result, both carrying `judge`, the `judge_*` usage and `metric_files`)."""
    lines = []
    judge = report.get("judge")
    if judge:
        if judge.get("calibrated"):
            interval = judge.get("kappa_ci95")
            shown = f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else ""
            lines.append(
                f"judge: calibrated, kappa {judge['kappa']:.2f}{shown} on {judge['n']} labels (threshold "
                f"{judge['threshold']:g}), model {judge.get('judge_revision', '')[:19]}, rubric sha256 "
                f"{judge.get('rubric_sha256', '')[:12]}")
        else:
            lines.append(f"judge: {judge.get('note', UNCALIBRATED_NOTE)} ({judge.get('reason', judge.get('state'))})")
    usage = report.get("judge_usage") or {k: report[k] for k in ("judge_calls", "judge_cached_calls", "judge_tokens")
                                           if k in report}
    if usage.get("judge_calls") is not None:
        tokens = usage.get("judge_tokens") or {}
        lines.append(f"the judge's share of the calls below: {usage['judge_calls']} LM calls ({usage.get('judge_cached_calls', 0)} "
                     f"cached), {tokens.get('prompt', 0):,} + {tokens.get('completion', 0):,} tokens")
    for file in report.get("metric_files") or []:
        lines.append(f"metric file: {file['path']} ({file['function']}), sha256 {file['sha256'][:12]}")
    return lines
