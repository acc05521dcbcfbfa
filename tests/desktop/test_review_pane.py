"""The Review pane: scores with intervals, slices and gates, choices and diff, the exact prompt,
approve/reject with a note, and export (asking first for an unreviewed run)."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from tests.desktop.conftest_b import (dummy_lm, no_dangling_qthreads, sample_project,  # noqa: F401
                                      sample_session)

from desktop.panes.review import ReviewPane, state_diff  # noqa: E402

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"), pytest.mark.usefixtures("no_dangling_qthreads")]


@pytest.fixture
def compiled_run(sample_session, dummy_lm):
    """A finished labeled-fewshot run (demos, no compile calls) scored with a DummyLM."""
    from engine.jobs.compile import CompileJob, CompileSettings

    dummy_lm([{"urgency": "low"}, {"urgency": "high"}, {"urgency": "medium"}])
    job = CompileJob(sample_session.project, CompileSettings("labeled-fewshot", {"k": 2}, limit=12))
    return job.run()


@pytest.fixture
def pane(qtbot, sample_session, compiled_run):
    pane = ReviewPane(sample_session)
    qtbot.addWidget(pane)
    pane.resize(1200, 800)
    qtbot.waitUntil(lambda: pane._data is not None, timeout=30_000)
    yield pane
    pane.shutdown(10_000)


def test_empty_history_says_what_to_do(qtbot, sample_session):
    pane = ReviewPane(sample_session)
    qtbot.addWidget(pane)
    assert pane.title == "Review" and pane.icon_name == "review"
    qtbot.waitUntil(lambda: not pane._workers.busy(), timeout=10_000)
    assert pane.empty.isVisibleTo(pane)
    assert "Compile the program" in pane.empty.text()


def test_shows_scores_intervals_slices_and_gates(pane, compiled_run):
    report_evals = pane._data["report"]["evaluations"]
    assert pane.run_combo.currentData() == compiled_run.run_id
    assert pane.overall.rowCount() == 2
    test_row = [pane.overall.item(1, c).text() for c in range(6)]
    assert test_row[0] == "test"
    assert test_row[1] == str(report_evals["test"]["candidate"]["n"])
    assert f"{report_evals['test']['candidate']['score']:.3f}" in test_row[3]
    assert test_row[5] in ("significant", "not significant")
    assert "labeled-fewshot" in pane.summary.text()
    # per-slice rows, with the sample project's adversarial gate shown
    slices = [pane.slices.item(r, 0).text() for r in range(pane.slices.rowCount())]
    assert "adversarial" in slices
    gate_cell = pane.slices.item(slices.index("adversarial"), 5).text()
    assert gate_cell.startswith("≥ 0.30")
    gates = pane._data["report"]["gates"]
    assert ("passed" in pane.gates_label.text()) == gates["passed"]
    if not gates["passed"]:
        assert "Do not promote" in pane.gates_label.text()
    failing = pane._failing_slices()
    for r, tag in enumerate(slices):
        highlighted = pane.slices.item(r, 0).background().style() != Qt.BrushStyle.NoBrush
        assert highlighted == (tag in failing)
    assert "too few" in pane.warnings.text()


def test_chosen_demos_and_diff(pane):
    chosen = pane.chosen_view.toPlainText()
    assert "predictor triage" in chosen
    assert "Demos: 2" in chosen
    assert "ticket_text:" in chosen
    # the Workbench's own bookkeeping on a demo is not part of the prompt: not shown
    assert "example_id" not in chosen and "slices:" not in chosen
    diff = pane.diff_view.toPlainText()
    assert "+Demos: 2" in diff and "-Demos: 0" in diff


def test_state_diff_says_when_nothing_changed():
    same = {"p": {"instructions": "Do it.", "demos": []}}
    assert "no change" in state_diff(same, same)


def test_prompt_for_an_example_uses_the_runs_state(pane, sample_session, qtbot):
    with qtbot.waitSignal(pane.prompt_rendered, timeout=30_000):
        pane.picker.set_row(3)
    text = pane.prompt_view.toPlainText()
    assert sample_session.project.frame["ticket_text"].iat[3] in text
    assert text.count("[assistant]") == 2  # the run's JSON format sends its 2 demos as prior turns
    assert pane.prompt_status.text().startswith("json format")


def test_approve_and_reject_with_a_note(pane, sample_session, compiled_run, qtbot):
    pane.note_edit.setText("good enough for the pilot")
    with qtbot.waitSignal(pane.review_saved, timeout=10_000):
        pane.approve_btn.click()
    qtbot.waitUntil(lambda: pane._data["record"].review is not None, timeout=10_000)
    review = sample_session.project.store.get_run(compiled_run.run_id).review
    assert review.decision == "approved" and review.note == "good enough for the pilot"
    assert "Approved by" in pane.review_state.text()
    with qtbot.waitSignal(pane.review_saved, timeout=10_000):
        pane.reject_btn.click()
    qtbot.waitUntil(lambda: pane._data["record"].review.decision == "rejected", timeout=10_000)
    assert not pane.export_btn.isEnabled()
    assert "rejected" in pane.export_btn.toolTip()


def test_export_of_an_unreviewed_run_asks_first(pane, compiled_run, tmp_path, monkeypatch, qtbot):
    asked = []
    monkeypatch.setattr(pane, "_confirm_unreviewed", lambda: asked.append(True) or False)
    monkeypatch.setattr(pane, "_ask_export_folder", lambda: str(tmp_path / "out"))
    pane.export()
    assert asked and not (tmp_path / "out").exists()  # the user said no
    monkeypatch.setattr(pane, "_confirm_unreviewed", lambda: True)
    with qtbot.waitSignal(pane.exported, timeout=30_000) as done:
        pane.export()
    out = done.args[0]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert out == str(tmp_path / "out")
    assert manifest["review"]["status"] == "unreviewed"
    assert manifest["run_id"] == compiled_run.run_id
    assert "unreviewed" in pane.banner.text()
    # a second export into the same (now non-empty) folder goes into a new sub-folder
    with qtbot.waitSignal(pane.exported, timeout=30_000) as again:
        pane.export()
    assert again.args[0].startswith(str(tmp_path / "out") + "/")


def test_a_run_scored_with_another_compact_format_says_its_prompt_is_todays_and_cannot_export(qtbot, sample_session, compiled_run):
    sample_session.project.store.update_run(compiled_run.run_id, adapter_format="compact",
                                            adapter_revision="0" * 64)
    pane = ReviewPane(sample_session)
    qtbot.addWidget(pane)
    with qtbot.waitSignal(pane.prompt_rendered, timeout=30_000):
        qtbot.waitUntil(lambda: pane._data is not None, timeout=30_000)
    assert "another version of the compact prompt format" in pane.warnings.text()
    assert pane.prompt_status.text().startswith("compact format (as this Workbench renders it")
    assert not pane.export_btn.isEnabled() and "compile it again" in pane.export_btn.toolTip()
    pane.shutdown(10_000)


def test_an_interrupted_run_says_what_it_kept(qtbot, sample_session, compiled_run):
    # What a compile killed with kill -9 leaves: its record as it ran, marked interrupted on reopening.
    sample_session.project.store.update_run(
        compiled_run.run_id, status="interrupted", error=None, finished_at=None,
        events_summary={"trials": 3, "best_trial_score": 0.5, "best_trial_kind": "validation",
                        "stages_done": ["compile"]})
    pane = ReviewPane(sample_session)
    qtbot.addWidget(pane)
    qtbot.waitUntil(lambda: pane._data is not None, timeout=30_000)
    text = pane.summary.text()
    assert "interrupted" in text and "kept what it recorded by then: 3 trials" in text
    assert "0.500 on validation" in text
    assert not pane.approve_btn.isEnabled()  # an interrupted run is shown, not reviewable
    pane.shutdown(10_000)


def test_gates_are_edited_in_the_pane_as_one_undoable_step_and_the_verdict_follows(pane, sample_session, qtbot):
    project = sample_session.project
    run_id = pane._data["record"].run_id
    with qtbot.waitSignal(pane.run_loaded, timeout=20_000):
        assert pane.edit_gates([("(all)", 0.0), ("refund", 0.0)])
    assert [(g.slice, g.min_score) for g in project.config.gates] == [("(all)", 0.0), ("refund", 0.0)]
    assert "passed" in pane.gates_label.text() and sample_session.dirty
    with qtbot.waitSignal(pane.run_loaded, timeout=20_000):
        assert pane.edit_gates([("(all)", 1.0)])
    assert "failed" in pane.gates_label.text()
    with qtbot.waitSignal(pane.run_loaded, timeout=20_000):
        sample_session.undo_stack.undo()
    assert [(g.slice, g.min_score) for g in project.config.gates] == [("(all)", 0.0), ("refund", 0.0)]
    assert pane._data["record"].run_id == run_id
    assert not pane.edit_gates([("nope", 0.5)])  # an unknown slice: one sentence, nothing changed
    assert [g.slice for g in project.config.gates] == ["(all)", "refund"]


def test_a_run_stopped_before_its_test_evaluation_cannot_be_approved_or_exported(pane, sample_session, qtbot):
    from tests.engine.test_review import _cancelled_before_test

    record = _cancelled_before_test(sample_session.project)
    sample_session.runs_changed.emit()
    with qtbot.waitSignal(pane.run_loaded, timeout=20_000, check_params_cb=lambda rid: rid == record.run_id):
        pane.show_run(record.run_id)
    assert not pane.approve_btn.isEnabled() and not pane.export_btn.isEnabled()
    assert pane.reject_btn.isEnabled()
    assert "no test evaluation" in pane.approve_btn.toolTip()
    assert "Cannot be approved or exported yet" in pane.review_state.text()


def test_approving_a_candidate_that_failed_its_gates_asks_and_needs_a_note(pane, sample_session, qtbot, answers):
    with qtbot.waitSignal(pane.run_loaded, timeout=20_000):
        assert pane.edit_gates([("(all)", 1.0)])
    pane.note_edit.setText("")
    pane.review("approved")
    assert answers.errors and "Write in the note why" in answers.errors[-1][1]
    assert sample_session.project.store.get_run(pane._data["record"].run_id).review is None
    pane.note_edit.setText("known gap on refunds")
    answers.confirm = True
    with qtbot.waitSignal(pane.review_saved, timeout=20_000):
        pane.review("approved")
    assert answers.questions and "failed its release gates" in answers.questions[-1]


def test_evaluate_the_kept_candidate_makes_a_stopped_run_reviewable_in_the_pane(pane, sample_session, qtbot):
    from tests.engine.test_review import _cancelled_before_test

    record = _cancelled_before_test(sample_session.project)
    sample_session.runs_changed.emit()
    with qtbot.waitSignal(pane.run_loaded, timeout=20_000, check_params_cb=lambda rid: rid == record.run_id):
        pane.show_run(record.run_id)
    assert pane.evaluate_btn.isVisibleTo(pane) and pane.evaluate_btn.isEnabled()
    errors, evaluated = [], []
    pane.failed.connect(errors.append)
    pane.kept_candidate_evaluated.connect(evaluated.append)
    pane.evaluate_btn.click()
    # done when the pane shows the run evaluated (the button goes), or when it reports an error
    try:
        qtbot.waitUntil(lambda: bool(errors) or (bool(evaluated) and not pane.evaluate_btn.isVisibleTo(pane)),
                        timeout=120_000)
    except qtbot.TimeoutError:
        raise AssertionError(f"no result: errors={errors} evaluated={evaluated} "
                             f"busy={pane._workers.busy('evaluate')}") from None
    assert not errors and evaluated == [record.run_id]
    assert not pane.evaluate_btn.isVisibleTo(pane)
    assert pane.reject_btn.isEnabled()
    assert "no test evaluation" not in pane.review_state.text()
