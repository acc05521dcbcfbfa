"""The CLI as a user meets it: exit codes, one-sentence errors, --json contracts, nothing half-written."""

import hashlib
import json

import pytest

from engine.cli import main


def snapshot(folder):
    """Every file's hash: a failed command must leave the project exactly as it was."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def project_dir(tmp_path, capsys):
    folder = tmp_path / "proj"
    assert run_cli(capsys, "init", folder, "--sample", "support-triage")[0] == 0
    return folder


def test_init_from_sample_makes_a_readable_project(project_dir, capsys):
    assert (project_dir / "project.toml").is_file() and (project_dir / "data" / "examples.csv").is_file()
    code, out, _ = run_cli(capsys, "show", project_dir, "--json")
    summary = json.loads(out)
    assert code == 0 and summary["examples"] == 300
    assert summary["split_counts"] == {"train": 150, "validation": 60, "test": 90, "unassigned": 0}
    assert summary["leaks"] == 0 and "adversarial" in summary["slices"]


def test_init_refuses_an_existing_project(project_dir, capsys):
    code, _, err = run_cli(capsys, "init", project_dir)
    assert code == 2 and "already holds a project" in err


def test_unknown_sample_lists_the_samples(tmp_path, capsys):
    code, _, err = run_cli(capsys, "init", tmp_path / "x", "--sample", "nope")
    assert code == 2 and "support-triage" in err


def test_empty_project_program_set_and_import(tmp_path, capsys):
    folder = tmp_path / "sentiment"
    assert run_cli(capsys, "init", folder)[0] == 0
    code, out, _ = run_cli(capsys, "program", "set", folder, "--signature",
                           "text -> label: Literal['positive', 'negative', 'neutral']",
                           "--instructions", "Give the sentiment.", "--json")
    assert code == 0 and json.loads(out)["stages"][0]["outputs"][0]["choices"] == ["positive", "negative", "neutral"]
    data = tmp_path / "data.csv"
    data.write_text("id,text,label,split,topic\n1,great,positive,train,a\n2,awful,negative,test,b\n"
                    "3,fine I guess,neutral,validation,a\n")
    code, out, _ = run_cli(capsys, "import", folder, data, "--id-column", "id", "--split-column", "split",
                           "--slice-column", "topic", "--json")
    result = json.loads(out)
    assert code == 0 and result["split_counts"] == {"train": 1, "validation": 1, "test": 1, "unassigned": 0}
    assert (result["id_column"], result["split_column"], result["slice_columns"]) == ("id", "split", ["topic"])
    # without the flags, the columns named id, split and tags are found; the plain output names them
    data.write_text("id,text,label,split,tags\n1,great,positive,train,a\n2,awful,negative,test,b\n")
    code, out, _ = run_cli(capsys, "import", folder, data)
    assert code == 0 and "id column: id; split column: split; slice columns: tags" in out
    code, out, _ = run_cli(capsys, "import", folder, data, "--no-slice-column")
    assert code == 0 and "slice columns: (none)" in out
    code, out, _ = run_cli(capsys, "metric", "show", folder, "--json")
    assert json.loads(out)["spec"]["field"] == "label"


def test_a_signature_that_does_not_parse_is_exit_2(project_dir, capsys):
    before = snapshot(project_dir)
    code, _, err = run_cli(capsys, "program", "set", project_dir, "--signature", "text -> -> label")
    assert code == 2 and "does not parse" in err and "Traceback" not in err
    assert snapshot(project_dir) == before


@pytest.mark.parametrize("content, encoding, message", [
    ('ticket_text,policy_context,urgency\n"unclosed,quote,low\n', "utf-8", "examples.csv"),
    ("ticket_text,policy_context,urgency\ncaf\xe9,p,low\n", "latin-1", "not UTF-8"),
    ("ticket,policy_context,urgency\nhello,p,low\n", "utf-8", "ticket_text"),
])
def test_bad_files_are_exit_2_and_leave_the_project_unchanged(project_dir, tmp_path, capsys, content, encoding, message):
    bad = tmp_path / "examples.csv"
    bad.write_bytes(content.encode(encoding))
    before = snapshot(project_dir)
    code, _, err = run_cli(capsys, "import", project_dir, bad)
    assert code == 2 and message in err and "Traceback" not in err
    assert snapshot(project_dir) == before


def test_bad_jsonl_names_the_line(project_dir, tmp_path, capsys):
    bad = tmp_path / "rows.jsonl"
    bad.write_text('{"ticket_text": "a", "policy_context": "p", "urgency": "low"}\n{"ticket_text": oops}\n')
    code, _, err = run_cli(capsys, "import", project_dir, bad)
    assert code == 2 and "line 2" in err


@pytest.mark.parametrize("args, message", [
    (["--optimizer", "nope"], "unknown optimizer"),
    (["--param", "k"], "NAME=VALUE"),
    (["--model", "gpt9"], "no model profile named"),
    (["--optimizer", "labeled-fewshot", "--param", "k=-1"], "at least 1"),
    (["--max-cost", "-1"], "--max-cost must be more than 0"),
    (["--max-cost", "0.5"], "a cost budget needs a known price"),  # with an unpriced model (below)
])
def test_compile_user_errors_are_exit_2_with_no_run_recorded(project_dir, capsys, args, message):
    from engine.lms import manage

    manage.add_profile("lab", provider="openai-compatible", model="m", base_url="http://10.0.0.9:9/v1")
    if "0.5" in args:
        args = [*args, "--model", "lab"]
    before = snapshot(project_dir)
    code, out, err = run_cli(capsys, "compile", project_dir, *args, "--json")
    assert code == 2 and message in err and out == ""
    assert snapshot(project_dir) == before


def test_compile_json_contract(project_dir, capsys, scripted_connect):
    scripted_connect(default={"urgency": "medium"})
    code, out, err = run_cli(capsys, "compile", project_dir, "--optimizer", "labeled-fewshot",
                             "--param", "k=2", "--limit", "5", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["status"] == "succeeded" and report["run_id"].startswith("r")
    assert report["optimizer"] == {"name": "labeled-fewshot", "params": {"k": 2, "limit": 5}, "seed": 0}
    assert report["model"] == {"profile": "embedded", "provider": "dummy", "name": "scripted", "revision": "dummy:1"}
    for split in ("validation", "test"):
        for which in ("baseline", "candidate"):
            assert 0.0 <= report["scores"][split][which] <= 1.0
            figures = report["evaluations"][split][which]
            assert figures["n"] == 5 and len(figures["ci95"]) == 2 and "per_slice" in figures
    assert report["lm_calls"] == 20 and set(report["tokens"]) == {"prompt", "completion"}
    assert report["cost_usd"] == 0.0  # the embedded profile: a local model is free, and known to be
    assert report["elapsed_s"] >= 0 and "evaluate candidate on test" in err

    code, out, _ = run_cli(capsys, "runs", "list", project_dir, "--json")
    rows = json.loads(out)
    assert [r["run_id"] for r in rows] == [report["run_id"]]
    assert (rows[0]["lm_calls"], rows[0]["cost_usd"]) == (20, 0.0)
    # 5 test rows hold no adversarial example, so its gate fails: approving says so explicitly
    code, out, _ = run_cli(capsys, "approve", project_dir, "--run", report["run_id"], "--note", "ok",
                           "--accept-failed-gates", "--json")
    assert json.loads(out)["review"]["decision"] == "approved"
    bundle = project_dir.parent / "bundle"
    code, out, _ = run_cli(capsys, "export", project_dir, "--run", report["run_id"], "--out", bundle, "--json")
    assert code == 0 and json.loads(out)["manifest"]["review"]["status"] == "approved"
    code, out, _ = run_cli(capsys, "artifact", "show", bundle, "--json")
    assert code == 0 and json.loads(out)["intact"] is True


def test_unknown_run_is_exit_2(project_dir, capsys):
    code, _, err = run_cli(capsys, "runs", "show", project_dir, "r-nope")
    assert code == 2 and "runs list" in err


def test_evaluate_json_has_interval_and_slices(project_dir, capsys, scripted_connect):
    scripted_connect(default={"urgency": "low"})
    code, out, _ = run_cli(capsys, "evaluate", project_dir, "--baseline", "--split", "test", "--json")
    result = json.loads(out)
    assert code == 0 and result["n"] == 90 and result["ci_method"] == "wilson"
    assert result["ci95"][0] <= result["score"] <= result["ci95"][1]
    assert set(result["per_slice"]) >= {"refund", "adversarial"} and result["parse_failures"] == 0
    assert result["lm_calls"] == 90 and result["cost_usd"] == 0.0
