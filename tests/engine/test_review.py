"""Approving a run: only a candidate measured on test, and a failed gate only knowingly, with a note."""

from __future__ import annotations

import pytest

from engine.errors import WorkbenchError
from engine.jobs.compile import CompileJob, CompileSettings
from engine.jobs.control import CancelToken
from engine.jobs.events import StageStarted
from engine.review import approval_blocker, review_run


def _cancelled_before_test(project):
    cancel = CancelToken()

    def sink(event):
        if isinstance(event, StageStarted) and event.stage.endswith("on test"):
            cancel.cancel()

    return CompileJob(project, CompileSettings("labeled-fewshot", {"k": 2}, limit=6), sink=sink, cancel=cancel).run()


def test_a_run_stopped_before_its_test_evaluation_cannot_be_approved(sample_project, scripted_connect):
    from engine.reports import run_report

    scripted_connect(default={"urgency": "low"})
    record = _cancelled_before_test(sample_project)
    assert record.status == "cancelled" and record.program_state is not None
    assert "no test evaluation" in approval_blocker(run_report(sample_project, record))
    with pytest.raises(WorkbenchError, match="cannot be approved: .*no test evaluation"):
        review_run(sample_project, record.run_id, "approved")
    assert review_run(sample_project, record.run_id, "rejected", note="never measured").review.decision == "rejected"


def test_a_candidate_that_failed_a_gate_is_approved_only_knowingly_with_a_note(sample_project, scripted_connect):
    from engine.gates import ALL_SLICE, set_gate

    scripted_connect(default={"urgency": "low"})
    set_gate(sample_project, ALL_SLICE, 1.0)  # nothing reaches a perfect score here
    sample_project.save()
    record = CompileJob(sample_project, CompileSettings("labeled-fewshot", {"k": 2}, limit=6)).run()
    with pytest.raises(WorkbenchError, match="failed its release gates"):
        review_run(sample_project, record.run_id, "approved")
    with pytest.raises(WorkbenchError, match="say why"):
        review_run(sample_project, record.run_id, "approved", accept_failed_gates=True)
    done = review_run(sample_project, record.run_id, "approved", note="known gap, fix next", accept_failed_gates=True)
    assert done.review.decision == "approved" and done.review.note == "known gap, fix next"


def test_the_cli_approve_refuses_and_says_what_to_do(sample_project, scripted_connect, capsys):
    from engine.cli.main import main

    scripted_connect(default={"urgency": "low"})
    record = _cancelled_before_test(sample_project)
    assert main(["approve", str(sample_project.root), "--run", record.run_id]) == 2
    assert "evaluate it on validation and test" in capsys.readouterr().err


def test_a_run_stopped_before_its_test_evaluation_is_not_exported(sample_project, scripted_connect, tmp_path):
    from engine.artifacts import export_run

    scripted_connect(default={"urgency": "low"})
    record = _cancelled_before_test(sample_project)
    with pytest.raises(WorkbenchError, match="cannot be exported: .*no test evaluation"):
        export_run(sample_project, record.run_id, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


def test_evaluating_the_kept_candidate_makes_a_stopped_run_reviewable(sample_project, scripted_connect, capsys):
    from engine.cli.main import main
    from engine.reports import run_report

    scripted_connect(default={"urgency": "low"})
    record = _cancelled_before_test(sample_project)
    assert main(["runs", "evaluate", str(sample_project.root), record.run_id, "--json"]) == 0
    capsys.readouterr()
    evaluated = sample_project.store.get_run(record.run_id)
    report = run_report(sample_project, evaluated)
    assert approval_blocker(report) is None
    assert {"baseline", "candidate"} <= set(report["evaluations"]["test"])
    assert evaluated.status == "cancelled" and evaluated.lm_calls > record.lm_calls
    assert main(["runs", "evaluate", str(sample_project.root), record.run_id]) == 2  # nothing left to evaluate
    assert "already evaluated" in capsys.readouterr().err
    assert review_run(sample_project, record.run_id, "approved", note="measured after the stop",
                      accept_failed_gates=True).review.decision == "approved"


def test_a_run_with_no_kept_candidate_has_nothing_to_approve(sample_project, scripted_connect):
    scripted_connect(default={"urgency": "low"})
    record = _cancelled_before_test(sample_project)
    sample_project.store.update_run(record.run_id, program_state=None)
    with pytest.raises(WorkbenchError, match="kept no candidate .*nothing to approve"):
        review_run(sample_project, record.run_id, "approved")


@pytest.mark.parametrize("command", ["compile", "evaluate"])
@pytest.mark.parametrize("limit", ["0", "-3"])
def test_a_limit_below_one_is_refused(sample_project, capsys, command, limit):
    from engine.cli.main import main

    extra = ["--optimizer", "labeled-fewshot", "--dry-run"] if command == "compile" else ["--baseline", "--split", "test"]
    assert main([command, str(sample_project.root), *extra, "--limit", limit]) == 2
    assert "--limit must be at least 1" in capsys.readouterr().err


def test_a_project_whose_lm_cache_cannot_be_written_is_one_sentence(sample_project, scripted_connect):
    from engine.jobs.compile import CompileJob, CompileSettings

    scripted_connect(default={"urgency": "low"})
    (sample_project.root / ".cache").write_text("a file where the cache folder goes")
    with pytest.raises(WorkbenchError, match="cannot open the LM cache .*copy the project somewhere writable"):
        CompileJob(sample_project, CompileSettings("labeled-fewshot", {"k": 1}, limit=2)).run()
