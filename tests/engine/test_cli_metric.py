"""The metric commands: set a judge, calibrate on a label file, show the state, refuse an unchecked judge."""

import json

import pytest

from engine.cli.main import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def folder(tmp_path, capsys):
    path = str(tmp_path / "res")
    assert run_cli(capsys, "init", path, "--sample", "support-resolution")[0] == 0
    return path


def test_metric_set_judge_with_fields_and_verdict(folder, capsys):
    code, out, _ = run_cli(capsys, "metric", "set", folder, "--judge", "Cites the policy.", "--judge-field", "ticket_text",
                           "--judge-field", "gold:resolution", "--judge-field", "resolution", "--verdict", "scale-1-5",
                           "--contains", r"resolution=\b[A-Z]{3}-\d\b", "--regex", "--json")
    assert code == 0
    spec = json.loads(out)["spec"]
    judge, contains = (c["metric"] for c in spec["components"])
    assert judge == {"kind": "llm_judge", "rubric": "Cites the policy.", "inputs": ["ticket_text"], "gold": ["resolution"],
                     "outputs": ["resolution"], "verdict": "scale_1_5", "calibration_threshold": 0.6}
    assert contains["regex"] is True


def test_metric_set_judge_with_an_unknown_field_or_profile_is_one_sentence(folder, capsys):
    code, _, err = run_cli(capsys, "metric", "set", folder, "--judge", "r", "--judge-field", "answer")
    assert code == 2 and "'answer' is not a field of the program" in err
    code, _, err = run_cli(capsys, "metric", "set", folder, "--judge", "r", "--judge-model", "gpt9")
    assert code == 2 and "no model profile named 'gpt9'" in err


def test_calibrate_prints_json_with_the_figures_and_show_reports_the_state(folder, capsys, scripted_connect):
    scripted_connect(default={"verdict": "pass"})
    code, out, _ = run_cli(capsys, "metric", "calibrate", folder, "--json")
    assert code == 0
    data = json.loads(out)
    for key in ("n", "agreement", "kappa", "kappa_ci95", "tpr", "tnr", "confusion", "threshold", "passed", "judge",
                "rubric_sha256"):
        assert key in data
    assert data["tpr"] == 1.0 and data["tnr"] == 0.0 and data["passed"] is False  # a judge that always passes
    assert data["kappa"] == pytest.approx(0.0)
    code, out, _ = run_cli(capsys, "metric", "show", folder)
    assert code == 0 and "judge calibration: failed" in out
    code, _, err = run_cli(capsys, "compile", folder, "--limit", "2")
    assert code == 2 and "failed its calibration" in err and "--allow-uncalibrated-judge" in err


def test_calibrate_with_a_bad_label_file_stores_nothing(folder, capsys, tmp_path, scripted_connect):
    from pathlib import Path

    scripted_connect(default={"verdict": "pass"})
    labels = tmp_path / "bad.csv"
    labels.write_text("id,resolution,human\nres-001,ok,pass\nres-999,ok,fail\n")
    before = (Path(folder) / "data" / "judge_labels.csv").read_text()
    code, _, err = run_cli(capsys, "metric", "calibrate", folder, "--labels", str(labels))
    assert code == 2 and "row 3: id 'res-999' is not an example" in err
    assert (Path(folder) / "data" / "judge_labels.csv").read_text() == before
    assert not (Path(folder) / "data" / "judge_calibration.json").exists()


def test_calibrate_with_a_label_file_stores_those_labels(folder, capsys, tmp_path, scripted_connect):
    from engine import calibration
    from engine.project import Project

    scripted_connect(default={"verdict": "pass"})
    labels = tmp_path / "mine.jsonl"
    labels.write_text("\n".join(json.dumps({"id": f"res-00{i}", "resolution": "Under RET-1, yes.", "human": i % 2})
                                for i in range(1, 7)) + "\n")
    code, out, _ = run_cli(capsys, "metric", "calibrate", folder, "--labels", str(labels))
    assert code == 0 and "only 6 labels" in out
    project = Project.open(folder)
    assert len(calibration.load_labels(project)) == 6
    assert calibration.calibration_status(project).state == "failed"  # fresh, not stale


def test_compile_with_allow_uncalibrated_judge_records_the_choice(folder, capsys, scripted_connect):
    scripted_connect(rules={"Judge the answer": {"verdict": "fail"}},
                     default={"reasoning": "r", "resolution": "Under RET-1 yes."})
    code, out, _ = run_cli(capsys, "compile", folder, "--limit", "2", "--allow-uncalibrated-judge", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["judge"]["note"] == "used uncalibrated by the user's choice"
    assert report["judge_usage"]["judge_calls"] == 8
    code, out, _ = run_cli(capsys, "runs", "show", folder, report["run_id"])
    assert "judge: used uncalibrated by the user's choice" in out and "the judge's share of the calls" in out


def test_metric_outputs_writes_a_csv_to_label(folder, capsys, tmp_path, scripted_connect):
    scripted_connect(default={"reasoning": "r", "resolution": "Under SHP-2 a credit."})
    out_file = tmp_path / "to_label.csv"
    code, out, _ = run_cli(capsys, "metric", "outputs", folder, "--out", str(out_file), "--n", "3")
    assert code == 0
    lines = out_file.read_text().splitlines()
    assert lines[0] == "id,resolution,human" and len(lines) == 4 and lines[1].endswith("Under SHP-2 a credit.,")


def test_metric_threshold_is_recorded_in_project_toml(folder, capsys):
    import tomllib
    from pathlib import Path

    code, out, _ = run_cli(capsys, "metric", "threshold", folder, "0.7")
    assert code == 0
    data = tomllib.loads((Path(folder) / "project.toml").read_text())
    assert data["metric"]["components"][0]["metric"]["calibration_threshold"] == 0.7


def test_metric_set_text_kinds_make_an_equal_weight_composite(folder, capsys):
    code, out, _ = run_cli(capsys, "metric", "set", folder, "--token-f1", "resolution", "--rouge", "resolution",
                           "--edit-similarity", "resolution", "--json")
    assert code == 0
    spec = json.loads(out)["spec"]
    assert [c["metric"]["kind"] for c in spec["components"]] == ["token_f1", "rouge", "edit_similarity"]
    assert {c["weight"] for c in spec["components"]} == {1.0}


def test_calibrating_with_another_model_does_not_vouch_for_the_metrics_judge(folder, capsys, scripted_connect):
    from engine import calibration
    from engine.project import Project

    project = Project.open(folder)
    project.config.models["big"] = {"provider": "ollama", "model": "qwen2.5:7b"}
    project.save()
    scripted_connect(default={"verdict": "pass"})
    code, out, err = run_cli(capsys, "metric", "calibrate", folder, "--model", "big")
    assert code == 0 and "judge: big" in out and "the metric's judge uses 'embedded'" in err
    status = calibration.calibration_status(Project.open(folder))
    assert status.state == "stale" and "model profile 'big'" in status.message


def test_show_points_a_project_with_an_uncalibrated_judge_at_the_calibration_first(tmp_path, capsys):
    from engine.cli.main import main

    folder = tmp_path / "res"
    assert main(["init", str(folder), "--sample", "support-resolution"]) == 0
    out = capsys.readouterr().out
    assert "judge: the metric's LLM judge has not been calibrated" in out
    assert f"next: dspy-workbench metric calibrate {folder}" in out
    assert main(["show", str(folder), "--json"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["judge_calibration"]["state"] == "uncalibrated"
