"""The Runs pane: a form generated from the optimizer catalogue, a compile run in a worker with
live progress, cancel and close, and the run history."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSpinBox, QStackedWidget, QVBoxLayout, QWidget

from tests.desktop.conftest_b import (dummy_lm, no_dangling_qthreads, running_job_threads,  # noqa: F401
                                      sample_project, sample_session)

from desktop.panes.review import ReviewPane  # noqa: E402
from desktop.panes.runs import RunsPane  # noqa: E402
from engine import optimizers  # noqa: E402
from engine.jobs.events import Progress  # noqa: E402

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"), pytest.mark.usefixtures("no_dangling_qthreads")]


@pytest.fixture
def pane(qtbot, sample_session):
    pane = RunsPane(sample_session)
    qtbot.addWidget(pane)
    pane.resize(1200, 800)
    with qtbot.waitSignal(pane.history_loaded, timeout=10_000):
        pass
    yield pane
    pane.shutdown(10_000)


@pytest.fixture
def window(qtbot, sample_session):
    """Runs and Review panes in one stacked window, as the main window hosts them."""
    host = QWidget()
    stack = QStackedWidget()
    QVBoxLayout(host).addWidget(stack)
    runs, review = RunsPane(sample_session), ReviewPane(sample_session)
    stack.addWidget(runs)
    stack.addWidget(review)
    qtbot.addWidget(host)
    host.resize(1280, 800)
    yield host, stack, runs, review
    runs.shutdown(10_000)
    review.shutdown(10_000)


def test_form_is_generated_from_the_catalogue(pane):
    assert pane.title == "Runs" and pane.icon_name == "runs"
    assert [pane.optimizer_combo.itemData(i) for i in range(pane.optimizer_combo.count())] == list(optimizers.CATALOGUE)
    # the sample project's defaults fill the form
    assert pane.optimizer_combo.currentData() == "bootstrap-fewshot"
    assert pane.param_form.values()["max_bootstrapped_demos"] == 2
    for key, info in optimizers.CATALOGUE.items():
        pane.select_optimizer(key)
        assert set(pane.param_form.widgets) == {p.name for p in info.params}
        for param in info.params:
            _, widget = pane.param_form.widgets[param.name]
            expected = {"int": QSpinBox, "float": QDoubleSpinBox, "bool": QCheckBox,
                        "choice": QComboBox, "profile": QComboBox}[param.kind]
            assert isinstance(widget, expected)
            assert param.help in widget.toolTip()
            if param.optional and param.kind in ("int", "float"):
                assert widget.specialValueText() == "not set"
                assert pane.param_form.values()[param.name] is None or param.default is not None


def test_invalid_settings_disable_compile_with_a_message(pane):
    pane.select_optimizer("miprov2")
    assert pane.compile_btn.isEnabled()
    pane.set_param("auto", "none")  # manual mode needs num_candidates and num_trials
    assert not pane.compile_btn.isEnabled()
    assert "num_candidates and num_trials" in pane.form_error.text()
    pane.set_param("num_candidates", 3)
    pane.set_param("num_trials", 4)
    assert pane.compile_btn.isEnabled()
    pane.select_optimizer("gepa")  # needs a reflection model
    assert not pane.compile_btn.isEnabled()
    assert "reflection model" in pane.form_error.text()


def test_leaks_disable_compile(pane, sample_session):
    sample_session.leaks = ["a leak"]
    pane._update_compile_enabled()
    assert not pane.compile_btn.isEnabled()
    assert "leak" in pane.compile_btn.toolTip()
    sample_session.leaks = []
    pane._update_compile_enabled()
    assert pane.compile_btn.isEnabled()


def test_compile_with_dummy_lm_then_review_shows_scores(window, sample_session, dummy_lm, qtbot):
    host, stack, runs, review = window
    runs.select_optimizer("bootstrap-fewshot")
    runs.limit_spin.setValue(6)
    stages = []
    with qtbot.waitSignal(runs.run_finished, timeout=60_000) as finished:
        assert runs.start_compile()
        assert runs.is_busy() and not runs.compile_btn.isEnabled() and runs.cancel_btn.isEnabled()
        runs._job_worker.event.connect(lambda e: stages.append(type(e).__name__))
    record = finished.args[0]
    assert record.status == "succeeded", record.error
    assert set(record.scores) == {"validation", "test"}
    assert "StageStarted" in stages and "Progress" in stages
    assert "evaluate baseline on test" in runs.log.toPlainText()
    assert runs.status_banner.text().startswith("Finished.")
    assert not runs.is_busy()
    qtbot.waitUntil(lambda: runs.history_model.rowCount() == 1, timeout=10_000)
    assert runs.history_model.records[0].run_id == record.run_id
    assert runs.compile_btn.isEnabled()

    with qtbot.waitSignal(review.run_loaded, timeout=30_000):
        with qtbot.waitSignal(runs.run_selected) as selected:
            runs.open_run(record.run_id)
    assert selected.args == [record.run_id]
    assert stack.currentWidget() is review
    assert review.overall.rowCount() == 2
    assert review.overall.item(0, 0).text() == "validation"
    assert review.overall.item(1, 5).text() in ("significant", "not significant")
    assert "[" in review.overall.item(1, 3).text()  # the interval
    assert review.slices.rowCount() >= 1
    assert "Release gates" in review.gates_label.text()
    assert "too few" in review.warnings.text()  # 6 examples cannot resolve anything


def test_cancel_stops_at_the_next_call_and_keeps_the_record(pane, sample_session, dummy_lm, qtbot):
    dummy_lm(delay_s=0.05)
    pane.select_optimizer("bootstrap-fewshot")
    progressed = []

    def on_event(event):
        if isinstance(event, Progress) and event.done >= 2 and not progressed:
            progressed.append(event)
            pane.cancel_compile()

    with qtbot.waitSignal(pane.run_finished, timeout=60_000) as finished:
        pane.start_compile()
        pane._job_worker.event.connect(on_event)
    record = finished.args[0]
    assert progressed
    assert record.status == "cancelled"
    assert "Cancelled — finished work kept" in pane.status_banner.text()
    assert sample_session.project.store.get_run(record.run_id).status == "cancelled"
    assert not pane.is_busy()
    assert not [t for t in running_job_threads() if t.objectName() == "job:compile"]


def test_shutdown_during_a_compile_leaves_no_thread(pane, sample_session, dummy_lm, qtbot):
    dummy_lm(delay_s=0.05)
    pane.select_optimizer("bootstrap-fewshot")
    with qtbot.waitSignal(pane._job_worker.event if pane._job_worker else pane.run_started,
                          timeout=60_000, raising=False):
        pane.start_compile()
    qtbot.waitUntil(lambda: pane._last_run_id is not None, timeout=30_000)
    pane.shutdown(10_000)
    assert not pane.is_busy()
    record = sample_session.project.store.get_run(pane._last_run_id)
    assert record.status == "cancelled"
    assert not [t for t in running_job_threads() if t.objectName() == "job:compile"]


def test_history_filters(pane, sample_session, dummy_lm, qtbot):
    for optimizer in ("labeled-fewshot", "bootstrap-fewshot"):
        pane.select_optimizer(optimizer)
        pane.limit_spin.setValue(3)
        with qtbot.waitSignal(pane.run_finished, timeout=60_000):
            pane.start_compile()
    qtbot.waitUntil(lambda: pane.history_model.rowCount() == 2, timeout=10_000)
    with qtbot.waitSignal(pane.history_loaded, timeout=10_000):
        pane.filter_optimizer.setCurrentIndex(pane.filter_optimizer.findData("labeled-fewshot"))
    assert [r.optimizer for r in pane.history_model.records] == ["labeled-fewshot"]
    with qtbot.waitSignal(pane.history_loaded, timeout=10_000):
        pane.filter_status.setCurrentIndex(pane.filter_status.findData("failed"))
    assert pane.history_model.rowCount() == 0
    assert "0 runs match" in pane.history_count.text()
    revision = "sha256:" + "d" * 64
    assert pane.filter_revision.findData(revision) >= 0


def test_prepare_error_is_shown(pane, sample_session, monkeypatch, qtbot):
    import engine.lms.connect as connect_module
    from engine.errors import ModelError

    def broken(profile):
        raise ModelError("the embedded model file is missing")

    monkeypatch.setattr(connect_module, "connect", broken)
    with qtbot.waitSignal(pane.run_finished, timeout=30_000) as finished:
        pane.start_compile()
    assert finished.args == [None]
    assert "model file is missing" in pane.status_banner.text()
    assert sample_session.project.store.list_runs() == []


@pytest.mark.slow
def test_real_embedded_compile_through_to_review(window, sample_session, qtbot):
    """The embedded SmolLM2 model answers: Runs pane -> worker -> engine -> Review pane."""
    host, stack, runs, review = window
    runs.select_optimizer("labeled-fewshot")
    runs.set_param("k", 2)
    runs.limit_spin.setValue(6)
    assert runs.profile_combo.currentData() == "embedded"
    with qtbot.waitSignal(runs.run_finished, timeout=600_000) as finished:
        assert runs.start_compile()
    record = finished.args[0]
    assert record.status == "succeeded", record.error
    assert record.provider == "embedded" and record.model_revision.startswith("sha256:")
    assert record.lm_calls > 0
    assert "LM calls" in runs.meter_label.text()
    with qtbot.waitSignal(review.run_loaded, timeout=60_000):
        runs.open_run(record.run_id)
    assert stack.currentWidget() is review
    assert review.overall.rowCount() == 2
    assert record.model_revision[7:23] in review.summary.text()


def _two_runs(pane, qtbot):
    for k in (1, 3):
        pane.select_optimizer("labeled-fewshot")
        pane.set_param("k", k)
        pane.limit_spin.setValue(4)
        with qtbot.waitSignal(pane.run_finished, timeout=60_000):
            assert pane.start_compile()
        qtbot.waitUntil(lambda: not pane.is_busy(), timeout=10_000)
    qtbot.waitUntil(lambda: pane.history_model.rowCount() == 2, timeout=10_000)
    return [r.run_id for r in pane.history_model.records]


def test_selecting_two_runs_enables_compare_and_the_dialog_shows_both(pane, sample_session, dummy_lm, qtbot):
    ids = _two_runs(pane, qtbot)
    assert not pane.compare_btn.isEnabled()
    pane.select_runs(ids[:1])
    assert not pane.compare_btn.isEnabled()
    pane.select_runs(ids)
    assert pane.compare_btn.isEnabled() and sorted(pane.selected_run_ids()) == sorted(ids)
    with qtbot.waitSignal(pane.comparison_shown, timeout=30_000) as shown:
        pane.compare_btn.click()
    dialog = shown.args[0]
    qtbot.addWidget(dialog)
    assert all(run_id in dialog.header.text() for run_id in ids)
    assert dialog.comparison["run_a"] == ids[1]  # the older run is A (the history lists newest first)
    rows = {dialog.settings_table.item(r, 0).text(): r for r in range(dialog.settings_table.rowCount())}
    k_row = rows["param: k"]
    assert (dialog.settings_table.item(k_row, 1).text(), dialog.settings_table.item(k_row, 2).text()) == ("1", "3")
    assert dialog.settings_table.item(k_row, 1).font().bold()
    assert not dialog.settings_table.item(rows["Optimizer"], 1).font().bold()
    assert dialog.scores_table.item(0, 0).text() == "validation"
    assert "demos: A has 1, B has 3; they differ" in dialog.diff_view.toPlainText()
    dialog.only_differences.setChecked(True)
    assert not dialog.settings_table.isRowHidden(k_row) and dialog.settings_table.isRowHidden(rows["Optimizer"])
    qtbot.waitUntil(lambda: pane.compare_btn.isEnabled(), timeout=5_000)
    dialog.close()


def test_clear_cache_asks_then_clears(pane, sample_session, answers, qtbot):
    folder = sample_session.project.lm_cache_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cache.db").write_bytes(b"x" * 2_500_000)
    with qtbot.waitSignal(pane.cache_size_known, timeout=10_000):
        pane.refresh_cache_size()
    assert pane.clear_cache_btn.isEnabled() and "2.5 MB" in pane.clear_cache_btn.text()
    answers.confirm = False
    assert not pane.clear_lm_cache()
    assert (folder / "cache.db").exists() and len(answers.questions) == 1
    assert "next compile calls the model again" in answers.questions[0]
    answers.confirm = True
    with qtbot.waitSignal(pane.cache_cleared, timeout=10_000) as cleared:
        pane.clear_cache_btn.click()
    assert cleared.args == [2_500_000]
    assert not any(folder.iterdir())
    assert "Cleared the LM cache" in pane.status_banner.text()
    qtbot.waitUntil(lambda: not pane.clear_cache_btn.isEnabled(), timeout=5_000)
    qtbot.waitUntil(lambda: not pane._workers.busy(), timeout=5_000)


def test_clear_cache_is_disabled_while_a_compile_runs(pane, sample_session, dummy_lm, qtbot):
    folder = sample_session.project.lm_cache_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cache.db").write_bytes(b"x" * 1000)
    with qtbot.waitSignal(pane.cache_size_known, timeout=10_000):
        pane.refresh_cache_size()
    assert pane.clear_cache_btn.isEnabled()
    dummy_lm(delay_s=0.02)
    pane.select_optimizer("labeled-fewshot")
    pane.limit_spin.setValue(3)
    with qtbot.waitSignal(pane.run_finished, timeout=60_000):
        assert pane.start_compile()
        assert not pane.clear_cache_btn.isEnabled()
        assert not pane.clear_lm_cache()
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=10_000)


def test_cost_is_shown_live_and_in_the_history_and_the_budget_can_cap_it(pane, sample_session, dummy_lm, qtbot):
    from engine.jobs.events import LMCallFinished

    assert pane.max_cost_spin.specialValueText() == "no cap" and pane.settings().budget.max_cost_usd is None
    pane.max_cost_spin.setValue(2.5)
    assert pane.settings().budget.max_cost_usd == 2.5
    pane.max_cost_spin.setValue(0.0)

    pane._reset_live()
    pane._on_event(LMCallFinished(10, 2, 1, 0, 10, 2, cost_usd=0.0042, total_cost_usd=0.0042))
    assert "cost $0.0042" in pane.meter_label.text()
    pane._on_event(LMCallFinished(10, 2, 2, 0, 20, 4, cost_usd=None, total_cost_usd=None))
    assert "cost unknown" in pane.meter_label.text()  # never $0.00 for a price nobody knows

    pane.select_optimizer("labeled-fewshot")
    pane.limit_spin.setValue(3)
    with qtbot.waitSignal(pane.run_finished, timeout=60_000) as finished:
        pane.start_compile()
    record = finished.args[0]
    assert record.status == "succeeded" and record.cost_usd == 0.0  # the embedded model is free
    assert "cost $0.00" in pane.meter_label.text()
    qtbot.waitUntil(lambda: [r.status for r in pane.history_model.records] == ["succeeded"], timeout=10_000)
    column = pane.history_model.COLUMNS.index("Cost")
    assert pane.history_model.index(0, column).data() == "$0.00"
    pane.history_model.set_records([record.model_copy(update={"cost_usd": None})])
    assert pane.history_model.index(0, column).data() == "unknown"


def test_a_failed_trial_shows_as_failed_not_as_a_zero_score(pane):
    from engine.jobs.events import TrialFinished

    pane._on_event(TrialFinished(index=1, score=None, best_so_far=None, kind="validation",
                                 detail={"failed": "all 6 LM calls failed (last: server error 500)"}))
    pane._on_event(TrialFinished(index=2, score=0.5, best_so_far=0.5, kind="validation"))
    shown = [[pane.trials_table.item(row, c).text() for c in range(4)] for row in range(2)]
    assert shown == [["1", "failed", "—", "validation"], ["2", "0.500", "0.500", "validation"]]
    assert [t[0] for t in pane.chart.trials] == [2]  # nothing plotted at 0 for the failed one
    assert "trial 1 failed (validation): all 6 LM calls failed" in pane.log.toPlainText()


def test_the_form_shows_the_runs_estimate_before_compile_and_flags_settings_that_cannot_work(qtbot, pane):
    pane.show()  # a hidden pane works out no estimate: the user could not see it
    qtbot.waitExposed(pane)
    pane.select_optimizer("labeled-fewshot")
    with qtbot.waitSignal(pane.estimate_shown, timeout=20_000) as shown:
        pass
    estimate = shown.args[0]
    assert estimate.optimizer == "labeled-fewshot"
    assert pane.estimate_label.text().startswith("Estimate: ") and "LM calls" in pane.estimate_label.text()

    pane.select_optimizer("miprov2")
    pane.set_param("auto", "none")
    pane.set_param("num_candidates", 3)
    pane.set_param("num_trials", 4)
    pane.limit_spin.setValue(8)
    with qtbot.waitSignal(pane.estimate_shown, timeout=20_000,
                          check_params_cb=lambda e: e.optimizer == "miprov2" and bool(e.warnings)):
        pass
    assert "minibatch_size 35 is larger than the 8 validation rows" in pane.estimate_label.text()
