"""Calibrating the judge on human labels: the label file, kappa and its interval, staleness, the refusal."""

import json
import re

import pytest

from engine import calibration
from engine.errors import WorkbenchError


@pytest.fixture
def resolution_project(tmp_path):
    from engine.project import Project

    return Project.create(tmp_path / "res", sample="support-resolution")


def judge_says(scripted_connect, passes):
    """The scripted judge passes exactly the outputs in `passes` (it reads the judged field's line of the
    prompt, which the prompt's other lines, policy and reference, never match) and fails the rest."""
    return scripted_connect(rules={f"\nresolution: {text}": {"verdict": "pass"} for text in passes},
                            default={"verdict": "fail"})


# -- the label file ------------------------------------------------------------------------------------

def test_sample_labels_load_with_both_kinds(resolution_project):
    labels = calibration.load_labels(resolution_project)
    assert len(labels) >= 30
    assert {label.passed for label in labels} == {True, False}
    assert all(set(label.outputs) == {"resolution"} for label in labels)


@pytest.mark.parametrize(("text", "value"), [("pass", 1.0), ("FAIL", 0.0), ("yes", 1.0), ("no", 0.0), ("1", 1.0),
                                             ("0", 0.0), ("0.75", 0.75), (" Pass ", 1.0)])
def test_human_values_people_write_are_read(text, value):
    assert calibration.parse_human(text) == value


@pytest.mark.parametrize(("content", "message"), [
    ("id,resolution,human\nnope-1,Fine,pass\n", "row 2: id 'nope-1' is not an example"),
    ("id,human\nres-001,pass\n", "no column 'resolution'"),
    ("id,resolution,human\nres-001,Fine,pass\nres-002,Bad,maybe\n", "row 3 (id res-002): human value 'maybe'"),
    ("id,resolution,human\nres-001,Fine,pass\nres-001,Bad,fail\n", "row 3: id 'res-001' is labelled twice"),
    ("id,resolution,human\nres-001,Fine,1.5\n", "human value '1.5' is not"),
])
def test_a_bad_label_file_is_one_sentence_naming_the_row(resolution_project, tmp_path, content, message):
    path = tmp_path / "labels.csv"
    path.write_text(content)
    with pytest.raises(WorkbenchError, match=re.escape(message)):
        calibration.read_label_file(resolution_project, path)


def test_jsonl_labels_name_their_line(resolution_project, tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"id": "res-001", "resolution": "ok", "human": "yes"}\n'
                    '{"id": "res-002", "resolution": "ok", "human": true}\n'
                    '{"id": "res-003", "resolution": "ok", "human": "later"}\n')
    with pytest.raises(WorkbenchError, match="line 3 .id res-003."):
        calibration.read_label_file(resolution_project, path)
    path.write_text('{"id": "res-001", "resolution": "ok", "human": "yes"}\n{"id": "res-002", "resolution": "x", "human": 0}\n')
    labels = calibration.read_label_file(resolution_project, path)
    assert [(lb.example_id, lb.human) for lb in labels] == [("res-001", 1.0), ("res-002", 0.0)]


def test_saved_labels_read_back_the_same(resolution_project):
    labels = [calibration.HumanLabel("res-001", {"resolution": "Under RET-1, yes, \"quoted\", comma"}, 1.0),
              calibration.HumanLabel("res-002", {"resolution": "No."}, 0.25)]
    calibration.save_labels(resolution_project, labels)
    assert calibration.load_labels(resolution_project) == labels


# -- kappa -------------------------------------------------------------------------------------------------

def test_kappa_matches_a_hand_computed_case():
    # 10 items: tp=4, fn=1, fp=2, tn=3. po = 0.7; human pass 0.5, judge pass 0.6;
    # pe = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
    human = [True] * 5 + [False] * 5
    judge = [True, True, True, True, False, True, True, False, False, False]
    assert calibration.confusion_matrix(human, judge) == {"tp": 4, "fn": 1, "fp": 2, "tn": 3}
    assert calibration.cohen_kappa(human, judge) == pytest.approx(0.4)


def test_kappa_agrees_with_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    import random

    rng = random.Random(3)
    for _ in range(20):
        n = rng.randint(5, 60)
        human = [rng.random() < 0.5 for _ in range(n)]
        judge = [h if rng.random() < 0.7 else not h for h in human]
        if len(set(human)) == 1 and len(set(judge)) == 1:
            continue
        assert calibration.cohen_kappa(human, judge) == pytest.approx(sklearn_metrics.cohen_kappa_score(human, judge))


def test_kappa_is_undefined_when_both_always_say_one_thing():
    assert calibration.cohen_kappa([True] * 5, [True] * 5) is None


def test_kappa_interval_brackets_kappa_and_narrows_with_more_labels():
    human = [True] * 5 + [False] * 5
    judge = [True, True, True, True, False, True, True, False, False, False]
    low, high = calibration.kappa_interval(human, judge)
    assert low < 0.4 < high
    wide = high - low
    low4, high4 = calibration.kappa_interval(human * 4, judge * 4)
    assert low4 < 0.4 < high4 and (high4 - low4) < wide
    assert calibration.kappa_interval(human, judge) == (low, high)  # seeded: the same every time


# -- running it ----------------------------------------------------------------------------------------------

def test_calibration_measures_agreement_and_stores_the_result(resolution_project, scripted_connect):
    labels = calibration.load_labels(resolution_project)
    # The scripted judge passes every answer that cites one of three policy IDs, and only those.
    cites = [lb for lb in labels if any(p in lb.outputs["resolution"] for p in ("RET-1", "SHP-2", "DMG-3"))]
    scripted = judge_says(scripted_connect, [lb.outputs["resolution"] for lb in cites])
    result = calibration.run_calibration(resolution_project, labels)
    assert result.status == "succeeded" and result.n == len(labels)
    judged_pass = {lb.example_id for lb in cites}
    human = [lb.passed for lb in labels]
    judge = [lb.example_id in judged_pass for lb in labels]
    assert result.kappa == pytest.approx(calibration.cohen_kappa(human, judge))
    assert result.confusion == calibration.confusion_matrix(human, judge)
    assert result.passed is (result.kappa >= 0.6)
    assert len(result.disagreements) == sum(h != j for h, j in zip(human, judge))
    first = result.disagreements[0]
    assert first["prompt"][1]["role"] == "user" and first["outputs"]["resolution"] in first["prompt"][1]["content"]
    assert result.judge == {"profile": "embedded", "provider": "dummy", "name": "scripted", "revision": "dummy:1"}
    assert scripted.calls == len(labels)
    stored = json.loads((resolution_project.root / calibration.CALIBRATION_FILE).read_text())
    for key in ("n", "agreement", "kappa", "kappa_ci95", "tpr", "tnr", "confusion", "threshold", "passed", "judge",
                "rubric_sha256"):
        assert stored[key] == result.to_json()[key]


def test_few_labels_or_one_kind_get_a_warning(resolution_project, scripted_connect):
    judge_says(scripted_connect, [])
    labels = [lb for lb in calibration.load_labels(resolution_project) if lb.passed][:8]
    result = calibration.run_calibration(resolution_project, labels)
    assert any("only 8 labels" in w for w in result.warnings)
    assert any("every label is a pass" in w for w in result.warnings)
    assert any("the judge gave every output the same verdict (fail)" in w for w in result.warnings)


def test_a_cancelled_calibration_stores_nothing(resolution_project, scripted_connect):
    from engine.jobs.control import CancelToken

    judge_says(scripted_connect, [])
    cancel = CancelToken()
    cancel.cancel()
    result = calibration.run_calibration(resolution_project, calibration.load_labels(resolution_project), cancel=cancel)
    assert result.status == "cancelled" and result.n == 0
    assert not (resolution_project.root / calibration.CALIBRATION_FILE).exists()


def test_generate_outputs_gives_the_programs_answers_for_labelling(resolution_project, scripted_connect):
    scripted_connect(default={"reasoning": "r", "resolution": "Under RET-1 we refund you."})
    outputs = calibration.generate_outputs(resolution_project, ["res-003", "res-008"])
    assert outputs == {"res-003": {"resolution": "Under RET-1 we refund you."},
                       "res-008": {"resolution": "Under RET-1 we refund you."}}


# -- status, staleness and the refusal ------------------------------------------------------------------------

def calibrated(project, scripted_connect):
    """Calibrate with a scripted judge that agrees with people on all labels but two passes."""
    labels = calibration.load_labels(project)
    judge_says(scripted_connect, [lb.outputs["resolution"] for lb in labels if lb.passed][2:])
    return calibration.run_calibration(project, labels)


def test_status_walks_from_uncalibrated_to_passed(resolution_project, scripted_connect):
    assert calibration.calibration_status(resolution_project).state == "uncalibrated"
    result = calibrated(resolution_project, scripted_connect)
    status = calibration.calibration_status(resolution_project, judge_revision="dummy:1")
    assert result.passed and status.state == "passed", (result.kappa, status.message)


def test_raising_the_threshold_above_kappa_fails_it(resolution_project, scripted_connect):
    result = calibrated(resolution_project, scripted_connect)
    calibration.set_threshold(resolution_project, min(1.0, result.kappa + 0.05))
    status = calibration.calibration_status(resolution_project)
    assert status.state == "failed" and "below the threshold" in status.message


@pytest.mark.parametrize("change", ["rubric", "fields", "labels", "revision", "profile"])
def test_calibration_goes_stale_when_what_it_measured_changes(resolution_project, scripted_connect, change):
    from engine.project import Project

    calibrated(resolution_project, scripted_connect)
    project = Project.open(resolution_project.root)
    revision = None
    metric = json.loads(json.dumps(project.config.metric))
    judge = metric["components"][0]["metric"]
    if change == "rubric":
        judge["rubric"] += " It is polite."
    elif change == "fields":
        judge["inputs"] = ["ticket_text"]
    elif change == "profile":
        project.config.models["big"] = {"provider": "ollama", "model": "qwen2.5:7b"}
        judge["model"] = "big"
    if change in ("rubric", "fields", "profile"):
        project.set_metric(metric)
        project.save()
    if change == "labels":
        labels = calibration.load_labels(project)
        calibration.save_labels(project, labels[:-1])
    if change == "revision":
        revision = "dummy:2"
    status = calibration.calibration_status(Project.open(project.root), judge_revision=revision)
    assert status.state == "stale", status.message


def test_compile_with_an_uncalibrated_judge_is_refused_before_anything_is_written(resolution_project, scripted_connect):
    from engine.jobs.compile import CompileJob, CompileSettings

    scripted_connect(default={"verdict": "pass", "reasoning": "r", "resolution": "Under RET-1 yes."})
    job = CompileJob(resolution_project, CompileSettings(optimizer="labeled-fewshot", params={"k": 1}))
    with pytest.raises(calibration.JudgeNotCalibrated, match="not been calibrated.*--allow-uncalibrated-judge"):
        job.prepare()
    assert resolution_project.store.list_runs() == []


def test_evaluate_with_a_stale_judge_is_refused(resolution_project, scripted_connect):
    from engine.jobs.evaluate import EvaluateJob, EvaluateSettings

    calibrated(resolution_project, scripted_connect)
    calibration.save_labels(resolution_project, calibration.load_labels(resolution_project)[:-2])
    with pytest.raises(calibration.JudgeNotCalibrated, match="stale: the labels changed"):
        EvaluateJob(resolution_project, EvaluateSettings(split="validation")).prepare()


def test_allowed_uncalibrated_judge_runs_and_the_run_says_so(resolution_project, scripted_connect):
    from engine.jobs.compile import CompileJob, CompileSettings
    from engine.reports import run_report

    scripted_connect(rules={"Judge the answer": {"verdict": "pass"}},
                     default={"reasoning": "r", "resolution": "Under RET-1 yes."})
    job = CompileJob(resolution_project, CompileSettings(optimizer="labeled-fewshot", params={"k": 1}, limit=3,
                                                         allow_uncalibrated_judge=True))
    record = job.run()
    assert record.status == "succeeded", record.error
    report = run_report(resolution_project, record)
    assert report["judge"]["calibrated"] is False and report["judge"]["note"] == calibration.UNCALIBRATED_NOTE
    # 3 examples x 4 evaluations: the judge scored each answer once; the program answered each once
    assert report["judge_usage"]["judge_calls"] == 12 and record.lm_calls == 24
    assert record.scores["test"]["candidate"] == pytest.approx(1.0)


def test_a_passed_calibration_is_recorded_in_the_run_and_the_manifest(resolution_project, scripted_connect, tmp_path):
    from engine.artifacts import export_run
    from engine.jobs.compile import CompileJob, CompileSettings
    from engine.reports import run_report

    result = calibrated(resolution_project, scripted_connect)
    assert result.passed
    record = CompileJob(resolution_project, CompileSettings(optimizer="labeled-fewshot", params={"k": 1},
                                                            limit=2)).run()
    judge = run_report(resolution_project, record)["judge"]
    assert judge["calibrated"] is True and judge["kappa"] == pytest.approx(result.kappa)
    assert judge["rubric_sha256"] == result.rubric_sha256 and judge["judge_revision"] == "dummy:1"
    manifest = export_run(resolution_project, record.run_id, tmp_path / "bundle")
    assert manifest.metric["judge_calibration"]["n"] == result.n



def test_labels_saved_from_generated_outputs_are_not_stale_after_calibrating(resolution_project, scripted_connect):
    labels = [calibration.HumanLabel("res-001", {"resolution": "Under RET-1, yes."}, 1 / 3),
              calibration.HumanLabel("res-002", {"resolution": "No."}, 0.0),
              calibration.HumanLabel("res-003", {"resolution": "Past 30 days (RET-1)."}, 0.9)]
    judge_says(scripted_connect, ["Under RET-1, yes."])
    calibration.run_calibration(resolution_project, labels)
    assert calibration.load_labels(resolution_project) == labels
    assert calibration.calibration_status(resolution_project).state != "stale"
