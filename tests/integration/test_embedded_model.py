"""The real embedded model (SmolLM2-135M in llama.cpp) end to end. Slow: minutes, not seconds."""

import json
import subprocess
import sys

import pytest

from engine.cli import main

pytestmark = pytest.mark.slow

GGUF_SHA256 = "sha256:b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def cli_json(capsys, *args):
    code = main([str(a) for a in args] + ["--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("embedded") / "triage"
    assert main(["init", str(folder), "--sample", "support-triage"]) == 0
    return folder


def test_compile_export_and_serve_with_plain_dspy(project_dir, tmp_path, capsys):
    report = cli_json(capsys, "compile", project_dir, "--optimizer", "bootstrap-fewshot", "--model", "embedded",
                      "--limit", "8")
    assert report["status"] == "succeeded"
    assert report["model"]["revision"] == GGUF_SHA256 and report["adapter_format"] == "compact"
    for split in ("validation", "test"):
        for which in ("baseline", "candidate"):
            figures = report["evaluations"][split][which]
            assert figures["n"] == 8 and figures["parse_failures"] == 0
    assert report["lm_calls"] >= 32 and report["tokens"]["prompt"] > 0

    bundle = tmp_path / "artifact"
    export = cli_json(capsys, "export", project_dir, "--run", report["run_id"], "--out", bundle)
    assert export["manifest"]["model"]["revision"] == GGUF_SHA256
    assert export["manifest"]["answers"] == "scored choices"  # the sample's one stage answers a Literal
    script = (
        "import sys, json; sys.path.insert(0, sys.argv[1]); import program;"
        "p = program.load_program(); a = program.make_adapter();"
        "pred = dict(p.named_predictors())['triage'];"
        "print(json.dumps(a.format(pred.signature, pred.demos, {'ticket_text': 't', 'policy_context': 'c'})))"
    )
    exported = json.loads(subprocess.run([sys.executable, "-c", script, str(bundle)], capture_output=True,
                                         text=True, check=True).stdout)
    from engine.project import Project
    from engine.prompts import render_program_prompts

    project = Project.open(project_dir)
    state = project.store.get_run(report["run_id"]).program_state
    ours = render_program_prompts(project.program, {"ticket_text": "t", "policy_context": "c"}, state=state)
    assert exported == ours[0].messages


def test_at_least_95_percent_of_answers_parse_on_the_sample_test_split(project_dir, capsys):
    result = cli_json(capsys, "evaluate", project_dir, "--baseline", "--split", "test", "--model", "embedded")
    assert result["n"] == 90
    assert result["parse_failures"] <= 0.05 * result["n"]


def test_an_identical_compile_makes_no_new_lm_calls(project_dir, capsys):
    args = ("compile", project_dir, "--optimizer", "labeled-fewshot", "--param", "k=2", "--limit", "5")
    first = cli_json(capsys, *args)
    second = cli_json(capsys, *args)
    assert first["lm_calls"] > 0 or first["cached_calls"] > 0
    assert second["lm_calls"] == 0 and second["cached_calls"] == 20
    assert second["scores"] == first["scores"]
