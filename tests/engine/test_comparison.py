"""Comparing two runs: settings that differ are flagged, scores side by side, diffs of what they chose."""

import json

from engine.cli import main
from engine.comparison import compare_runs, diff_text
from engine.jobs.compile import CompileJob, CompileSettings


def run_job(project, **settings):
    return CompileJob(project, CompileSettings(**settings), sink=lambda e: None).run()


def two_runs(project, scripted_connect):
    scripted_connect(default={"urgency": "low"})
    a = run_job(project, optimizer="labeled-fewshot", params={"k": 1}, limit=6)
    b = run_job(project, optimizer="labeled-fewshot", params={"k": 3}, limit=6)
    return a, b


def test_compare_flags_the_changed_params_and_diffs_the_demos(sample_project, scripted_connect):
    a, b = two_runs(sample_project, scripted_connect)
    c = compare_runs(sample_project, a.run_id, b.run_id)
    assert c["run_a"] == a.run_id and c["run_b"] == b.run_id
    settings = {row["key"]: row for row in c["settings"]}
    assert settings["params.k"]["differs"] and (settings["params.k"]["a"], settings["params.k"]["b"]) == ("1", "3")
    assert not settings["optimizer"]["differs"] and not settings["revision"]["differs"]
    assert not settings["program_fingerprint"]["differs"]
    # scores per split and per slice, both sides
    overall = [r for r in c["scores"] if r["slice"] is None]
    assert [r["split"] for r in overall] == ["validation", "test"]
    for row in overall:
        assert set(row["a"]) >= {"baseline", "candidate", "n"} and set(row["b"]) >= {"baseline", "candidate"}
    assert any(r["slice"] for r in c["scores"])
    entry = c["predictors"]["triage"]
    assert len(entry["a"]["demos"]) == 1 and len(entry["b"]["demos"]) == 3
    assert entry["demos_differ"] and not entry["instructions_differ"]
    assert entry["demos_diff"].startswith(f"--- A {a.run_id} demos")
    assert "+demo 3:" in entry["demos_diff"]
    text = diff_text(c)
    assert "demos: A has 1, B has 3; they differ" in text and "instructions: the same in both runs" in text
    assert not any("revision" in w for w in c["warnings"])


def test_compare_warns_about_revisions_programs_and_data(sample_project, scripted_connect):
    a, b = two_runs(sample_project, scripted_connect)
    sample_project.store.update_run(b.run_id, model_revision="dummy:2", program_fingerprint="other",
                                    split_hashes={**b.split_hashes, "test": "changed"})
    state = sample_project.store.get_run(b.run_id).program_state
    state["triage"]["signature"]["instructions"] = "Classify the ticket's urgency carefully."
    sample_project.store.update_run(b.run_id, program_state=state)
    c = compare_runs(sample_project, a.run_id, b.run_id)
    warnings = " | ".join(c["warnings"])
    assert "different model revisions" in warnings
    assert "different program versions" in warnings
    assert "different data" in warnings and "test" in warnings
    settings = {row["key"]: row for row in c["settings"]}
    assert settings["revision"]["differs"] and settings["split_hash.test"]["differs"]
    entry = c["predictors"]["triage"]
    assert entry["instructions_differ"]
    assert "+Classify the ticket's urgency carefully." in entry["instructions_diff"]


def test_compare_warns_when_the_compact_format_changed_between_the_runs(sample_project, scripted_connect):
    a, b = two_runs(sample_project, scripted_connect)
    for run, revision in ((a, "1" * 64), (b, "2" * 64)):
        sample_project.store.update_run(run.run_id, adapter_format="compact", adapter_revision=revision)
    warnings = " | ".join(compare_runs(sample_project, a.run_id, b.run_id)["warnings"])
    assert "different versions of the compact prompt format (111111111111 vs 222222222222)" in warnings
    sample_project.store.update_run(b.run_id, adapter_revision="1" * 64)
    assert not any("versions" in w for w in compare_runs(sample_project, a.run_id, b.run_id)["warnings"])


def test_cli_compare_json_and_plain(sample_project, scripted_connect, capsys):
    a, b = two_runs(sample_project, scripted_connect)
    capsys.readouterr()
    code = main(["runs", "compare", str(sample_project.root), a.run_id, b.run_id, "--json"])
    out, _ = capsys.readouterr()
    assert code == 0
    data = json.loads(out)
    assert data["run_a"] == a.run_id and data["run_b"] == b.run_id
    assert any(r["key"] == "params.k" and r["differs"] for r in data["settings"])
    code = main(["runs", "compare", str(sample_project.root), a.run_id, b.run_id])
    out, _ = capsys.readouterr()
    assert code == 0 and "* " in out and a.run_id[:20] in out and "(* = differs)" in out


def test_cli_compare_unknown_run_is_a_clear_error(sample_project, scripted_connect, capsys):
    a, _ = two_runs(sample_project, scripted_connect)
    capsys.readouterr()
    code = main(["runs", "compare", str(sample_project.root), a.run_id, "nope"])
    _, err = capsys.readouterr()
    assert code == 2 and "nope" in err
