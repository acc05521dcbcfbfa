"""A metric from the user's own Python file: trusted per version, failures named by file, line and example."""

import json

import pytest

from engine.cli.main import main
from engine.errors import UntrustedCodeError

METRIC = '''\
def resolution_score(example, prediction, trace=None):
    text = prediction.resolution
    return 1.0 if "RET-1" in text else 0.25
'''


@pytest.fixture
def project(tmp_path):
    from engine.project import Project

    return Project.create(tmp_path / "res", sample="support-resolution")


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def set_python_metric(capsys, project, source=METRIC, name="my_metric.py"):
    (project.root / name).write_text(source)
    return run_cli(capsys, "metric", "set", str(project.root), "--python", f"{project.root / name}:resolution_score",
                   "--json")


def evaluate(project):
    from engine.jobs.evaluate import EvaluateJob, EvaluateSettings

    return EvaluateJob(project, EvaluateSettings(split="validation", limit=3)).run()


def test_setting_a_python_metric_trusts_that_version_and_keeps_a_relative_path(project, capsys, scripted_connect):
    from engine.project import Project

    code, out, _ = set_python_metric(capsys, project)
    assert code == 0
    assert json.loads(out)["spec"] == {"kind": "python", "path": "my_metric.py", "function": "resolution_score",
                                       "fields": []}
    scripted_connect(default={"reasoning": "r", "resolution": "Under RET-1, yes."})
    result = evaluate(Project.open(project.root))
    assert result["status"] == "succeeded" and result["score"] == 1.0
    import hashlib

    assert result["metric_files"] == [{"path": "my_metric.py", "function": "resolution_score",
                                       "sha256": hashlib.sha256(METRIC.encode()).hexdigest()}]


def test_an_edited_metric_file_is_refused_until_trusted_again(project, capsys, scripted_connect):
    from engine.project import Project

    set_python_metric(capsys, project)
    (project.root / "my_metric.py").write_text(METRIC.replace("0.25", "0.5"))
    scripted_connect(default={"reasoning": "r", "resolution": "no policy"})
    with pytest.raises(UntrustedCodeError, match="not trusted in this version"):
        evaluate(Project.open(project.root))
    code, _, err = run_cli(capsys, "evaluate", str(project.root), "--baseline", "--split", "validation")
    assert code == 2 and "metric trust" in err and "Traceback" not in err
    code, out, _ = run_cli(capsys, "metric", "trust", str(project.root))
    assert code == 0 and "trusted" in out
    assert evaluate(Project.open(project.root))["score"] == 0.5


def test_a_project_from_elsewhere_runs_none_of_its_code(project, capsys, tmp_path, scripted_connect):
    import shutil

    from engine.project import Project

    set_python_metric(capsys, project)
    copy = tmp_path / "colleague"
    shutil.copytree(project.root, copy)
    scripted_connect(default={"reasoning": "r", "resolution": "x"})
    with pytest.raises(UntrustedCodeError):
        evaluate(Project.open(copy))


def test_a_raising_metric_fails_the_run_naming_file_line_and_example(project, capsys, scripted_connect):
    from engine.project import Project

    source = "def resolution_score(example, prediction, trace=None):\n    return 1 / 0\n"
    set_python_metric(capsys, project, source)
    scripted_connect(default={"reasoning": "r", "resolution": "x"})
    result = evaluate(Project.open(project.root))
    assert result["status"] == "failed"
    message = result["warnings"][-1]
    assert "my_metric.py" in message and "line 2" in message and "ZeroDivisionError" in message
    assert "on example res-" in message


def test_a_metric_returning_a_value_outside_0_1_fails_a_compile_with_one_sentence(project, capsys, scripted_connect):
    from engine.jobs.compile import CompileJob, CompileSettings
    from engine.project import Project

    source = "# a comment\n\ndef resolution_score(example, prediction, trace=None):\n    return 7\n"
    set_python_metric(capsys, project, source)
    scripted_connect(default={"reasoning": "r", "resolution": "x"})
    record = CompileJob(Project.open(project.root), CompileSettings(optimizer="labeled-fewshot", params={"k": 1},
                                                                    limit=2)).run()
    assert record.status == "failed"
    assert "my_metric.py (line 3) returned 7 for example res-" in record.error
    assert "not a number in [0, 1]" in record.error


def test_a_missing_function_is_one_sentence(project, capsys):
    (project.root / "m.py").write_text("def other(e, p, t=None):\n    return 1\n")
    code, _, err = run_cli(capsys, "metric", "set", str(project.root), "--python", f"{project.root / 'm.py'}:nope")
    assert code == 2 and "has no function named 'nope'" in err


def test_a_python_metric_combines_with_contains_in_a_composite(project, capsys):
    (project.root / "m.py").write_text(METRIC)
    code, out, _ = run_cli(capsys, "metric", "set", str(project.root), "--python", f"{project.root / 'm.py'}:resolution_score",
                           "--contains", "resolution=refund", "--json")
    assert code == 0
    kinds = [c["metric"]["kind"] for c in json.loads(out)["spec"]["components"]]
    assert kinds == ["contains", "python"]
