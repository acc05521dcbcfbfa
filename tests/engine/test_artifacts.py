import json
import subprocess
import sys

import pytest

from engine.artifacts import export_run, read_manifest, verify_bundle
from engine.errors import WorkbenchError
from engine.jobs.compile import CompileJob, CompileSettings
from engine.prompts import render_program_prompts


@pytest.fixture
def compiled(sample_project, scripted_connect):
    scripted_connect(rules={"refund": {"urgency": "medium"}}, default={"urgency": "low"})
    record = CompileJob(sample_project, CompileSettings("labeled-fewshot", {"k": 3}, limit=6)).run()
    return sample_project, record


def test_bundle_holds_state_program_adapter_and_manifest(compiled, tmp_path):
    project, record = compiled
    manifest = export_run(project, record.run_id, tmp_path / "bundle")
    names = sorted(p.name for p in (tmp_path / "bundle").iterdir())
    assert names == ["compact_adapter.py", "manifest.json", "model_check.py", "program.py", "state.json"]
    assert manifest.model.revision == "dummy:1"
    assert manifest.program["fingerprint"] == project.program.fingerprint()
    assert manifest.program["inputs"] == ["ticket_text", "policy_context"]
    assert set(manifest.splits) == {"train", "validation", "test"}
    assert all(len(s["sha256"]) == 64 for s in manifest.splits.values())
    assert manifest.optimizer == {"name": "labeled-fewshot", "dspy_name": "LabeledFewShot",
                                  "params": {"k": 3, "limit": 6}, "seed": 0}
    assert manifest.review.status == "unreviewed"
    assert manifest.library_versions["dspy"]
    state = json.loads((tmp_path / "bundle" / "state.json").read_text())
    assert len(state["triage"]["demos"]) == 3 and state["triage"]["lm"] is None
    assert not list((tmp_path / "bundle").glob("*.pkl"))


def test_approved_runs_export_as_reviewed(compiled, tmp_path):
    project, record = compiled
    project.store.set_review(record.run_id, "approved", note="looks right", reviewer="ana")
    manifest = export_run(project, record.run_id, tmp_path / "b")
    assert (manifest.review.status, manifest.review.reviewer, manifest.review.note) == ("approved", "ana", "looks right")


def test_rejected_runs_do_not_export(compiled, tmp_path):
    project, record = compiled
    project.store.set_review(record.run_id, "rejected", note="drops refunds")
    with pytest.raises(WorkbenchError, match="rejected"):
        export_run(project, record.run_id, tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_export_refuses_a_non_empty_folder_and_writes_nothing(compiled, tmp_path):
    project, record = compiled
    out = tmp_path / "exports"
    (out / "busy").mkdir(parents=True)
    (out / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(WorkbenchError, match="not empty"):
        export_run(project, record.run_id, out / "busy")
    assert [p.name for p in (out / "busy").iterdir()] == ["keep.txt"]
    assert [p.name for p in out.iterdir()] == ["busy"]  # no staging folder left behind


def test_tampering_is_detected(compiled, tmp_path):
    project, record = compiled
    export_run(project, record.run_id, tmp_path / "b")
    _, problems = verify_bundle(tmp_path / "b")
    assert problems == []
    state = tmp_path / "b" / "state.json"
    state.write_text(state.read_text().replace("low", "high"))
    _, problems = verify_bundle(tmp_path / "b")
    assert problems == ["state.json was modified after export (sha256 differs)"]
    assert read_manifest(tmp_path / "b").run_id == record.run_id


LOAD_WITH_PLAIN_DSPY = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import program
loaded = program.load_program()
adapter = program.make_adapter()
inputs = json.loads(sys.argv[2])
out = []
for name, predictor in loaded.named_predictors():
    stage_inputs = {k: inputs[k] for k in predictor.signature.input_fields}
    out.append({"predictor": name, "messages": adapter.format(predictor.signature, predictor.demos, stage_inputs)})
assert not any(m == "engine" or m.startswith("engine.") for m in sys.modules), "the Workbench was imported"
print(json.dumps(out))
"""


def test_plain_dspy_loads_the_bundle_and_renders_the_exact_prompt(compiled, tmp_path):
    project, record = compiled
    export_run(project, record.run_id, tmp_path / "b")
    example = project.examples("test")[0]
    inputs = dict(example.inputs())
    result = subprocess.run(
        [sys.executable, "-c", LOAD_WITH_PLAIN_DSPY, str(tmp_path / "b"), json.dumps(inputs)],
        capture_output=True, text=True, cwd=tmp_path, check=True,
    )
    exported = json.loads(result.stdout)
    ours = render_program_prompts(project.program, inputs, state=record.program_state, prompt_format="compact")
    assert [e["predictor"] for e in exported] == [r.predictor for r in ours]
    assert [e["messages"] for e in exported] == [r.messages for r in ours]


def test_the_manifest_names_the_compact_adapter_revision_it_ships(compiled, tmp_path):
    import hashlib

    project, record = compiled
    manifest = export_run(project, record.run_id, tmp_path / "bundle")
    shipped = hashlib.sha256((tmp_path / "bundle" / "compact_adapter.py").read_bytes()).hexdigest()
    assert record.adapter_revision == manifest.adapter_revision == shipped


def test_a_run_compiled_with_another_compact_adapter_does_not_export(compiled, tmp_path):
    # the bundle ships this Workbench's adapter: it would not send the prompts the run was scored with
    project, record = compiled
    project.store.update_run(record.run_id, adapter_revision="0" * 64)
    with pytest.raises(WorkbenchError, match=r"another version of the compact prompt format.*compile it again"):
        export_run(project, record.run_id, tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_a_run_compiled_with_another_compact_adapter_says_so_in_its_report(compiled):
    from engine.reports import run_report

    project, record = compiled
    assert run_report(project, record)["adapter_outdated"] is False
    project.store.update_run(record.run_id, adapter_revision="0" * 64)
    report = run_report(project, project.store.get_run(record.run_id))
    assert report["adapter_outdated"] is True
    assert any("another version of the compact prompt format" in w for w in report["warnings"])
    assert report["answers"].startswith("not known")  # it may predate choice scoring


def test_answer_mode_says_when_the_embedded_engine_scored_the_choices(sample_project):
    from engine.adapters import answer_mode

    spec = sample_project.program  # its one stage answers a Literal
    assert answer_mode("embedded", "compact", spec) == "scored choices"
    assert answer_mode("embedded", "json", spec) == "generated"
    assert answer_mode("ollama", "compact", spec) == "generated"
    cot = spec.model_copy(update={"stages": [s.model_copy(update={"module": "cot"}) for s in spec.stages]})
    assert answer_mode("embedded", "compact", cot) == "generated"
