"""The Calibrate tab: label the program's outputs with the keyboard, save them through the engine,
run the judge on them in the background and read its agreement with you; and the refusal of an
unchecked judge in the Runs pane, with the checkbox that allows it."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.desktop.conftest_b import no_dangling_qthreads, sample_project, sample_session  # noqa: F401

from desktop.judge_labels_model import JudgeLabelsModel, LabelRow  # noqa: E402
from desktop.panes.calibrate import LabelTable  # noqa: E402
from desktop.panes.metric import MetricPane  # noqa: E402

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"), pytest.mark.usefixtures("no_dangling_qthreads")]

JUDGE = {"kind": "llm_judge", "rubric": "The urgency fits the ticket.", "inputs": ["ticket_text"],
         "gold": ["urgency"], "outputs": ["urgency"]}
# The program always answers "low"; the judge fails an answer whose gold urgency is not low (its
# prompt shows the gold as expected_urgency), so a careful human and the judge agree.
PROGRAM_AND_JUDGE = {"rules": {"expected_urgency: medium": {"urgency": "low", "verdict": "fail"},
                               "expected_urgency: high": {"urgency": "low", "verdict": "fail"}},
                     "default": {"urgency": "low", "verdict": "pass"}}


def _rows(n: int) -> list[LabelRow]:
    return [LabelRow(f"ex-{i}", {"answer": f"output {i}"}) for i in range(n)]


@pytest.fixture
def judged_session(sample_session):
    sample_session.project.set_metric(dict(JUDGE))
    return sample_session


@pytest.fixture
def pane(qtbot, judged_session):
    pane = MetricPane(judged_session)
    qtbot.addWidget(pane)
    pane.resize(1200, 760)
    pane.tabs.setCurrentWidget(pane.calibrate)
    pane.show()
    yield pane
    pane.shutdown(10_000)


def test_label_model_passes_qt_model_checks(qtmodeltester):
    model = JudgeLabelsModel()
    model.set_rows(_rows(3), ["answer"])
    model.set_label(1, 0.0)
    qtmodeltester.check(model)
    assert model.headerData(2, Qt.Orientation.Horizontal) == "Your label"
    assert model.data(model.index(1, 2)) == "fail" and model.data(model.index(0, 2)) == ""


def test_keyboard_labels_each_row_and_moves_on(qtbot):
    model = JudgeLabelsModel()
    model.set_rows(_rows(5), ["answer"])
    table = LabelTable()
    table.setModel(model)
    qtbot.addWidget(table)
    table.show()
    table.setFocus()
    table.selectRow(0)
    QTest.keyClick(table, Qt.Key.Key_P)  # pass, then the next row
    QTest.keyClick(table, Qt.Key.Key_F)  # fail
    assert [r.human for r in model.rows()] == [1.0, 0.0, None, None, None]
    assert table.currentIndex().row() == 2
    QTest.keyClick(table, Qt.Key.Key_K)  # back up to row 1 and relabel it
    assert table.currentIndex().row() == 1
    QTest.keyClick(table, Qt.Key.Key_Y)
    QTest.keyClick(table, Qt.Key.Key_0)
    QTest.keyClick(table, Qt.Key.Key_1)
    assert [r.human for r in model.rows()] == [1.0, 1.0, 0.0, 1.0, None]
    QTest.keyClick(table, Qt.Key.Key_K)
    QTest.keyClick(table, Qt.Key.Key_Backspace)  # clears, stays
    assert model.rows()[3].human is None and table.currentIndex().row() == 3
    QTest.keyClick(table, Qt.Key.Key_J)
    QTest.keyClick(table, Qt.Key.Key_N)
    assert model.rows()[4].human == 0.0
    assert table.currentIndex().row() == 4  # the last row stays selected
    assert model.labelled_count() == 4


def test_a_1_to_5_verdict_takes_the_digits_as_scores(qtbot):
    model = JudgeLabelsModel()
    model.set_rows(_rows(3), ["answer"], "scale_1_5")
    table = LabelTable()
    table.setModel(model)
    qtbot.addWidget(table)
    table.show()
    table.selectRow(0)
    QTest.keyClick(table, Qt.Key.Key_5)
    QTest.keyClick(table, Qt.Key.Key_3)
    QTest.keyClick(table, Qt.Key.Key_0)  # not a score: nothing happens
    assert [r.human for r in model.rows()] == [1.0, 0.5, None]
    assert model.data(model.index(1, 2)) == "3 / 5"


def test_generate_label_and_calibrate_in_the_background(pane, judged_session, scripted_connect, qtbot):
    from engine.calibration import calibration_status, load_labels

    scripted_connect(**PROGRAM_AND_JUDGE)
    view = pane.calibrate
    project = judged_session.project
    assert "not been calibrated" in view.status.text()
    assert not view.run_btn.isEnabled()
    view.count_spin.setValue(8)
    assert view.split_combo.currentText() == "validation"
    with qtbot.waitSignal(view.outputs_generated, timeout=60_000):
        assert view.generate_outputs()
    assert view.model.rowCount() == 8
    assert all(r.outputs == {"urgency": "low"} for r in view.model.rows())
    frame = project.frame.set_index("id")
    golds = [frame.at[r.example_id, "urgency"] for r in view.model.rows()]
    assert "low" in golds and set(golds) - {"low"}, "the sample's first validation rows mix urgencies"

    # Label with the keyboard as a person would: pass where "low" is right, fail elsewhere.
    view.table.setFocus()
    view.table.selectRow(0)
    with qtbot.waitSignal(view.labels_saved, timeout=10_000):
        for gold in golds:
            QTest.keyClick(view.table, Qt.Key.Key_P if gold == "low" else Qt.Key.Key_F)
    saved = {label.example_id: label.human for label in load_labels(project)}
    assert saved == {r.example_id: (1.0 if g == "low" else 0.0) for r, g in zip(view.model.rows(), golds)}
    assert "8 of 8 labelled" in view.label_count.text()

    with qtbot.waitSignal(view.calibration_finished, timeout=60_000) as done:
        assert view.run_calibration()
    result = done.args[0]
    assert result.n == 8 and result.kappa == 1.0 and result.passed
    assert "kappa <b>1.00</b>" in view.figures.text() and "agreement <b>100%</b>" in view.figures.text()
    passes = golds.count("low")
    assert view.confusion.item(0, 0).text() == str(passes)
    assert view.confusion.item(1, 1).text() == str(8 - passes)
    assert "Passed" in view.verdict.text()
    assert "only 8 labels" in view.warnings.text()  # fewer than 20: said plainly
    assert view.disagreement_view.toPlainText() == "The judge agrees with every label."
    assert calibration_status(project).state == "passed"
    assert "passed its calibration" in view.status.text()

    # Relabel one output against the judge: the status goes stale; a new run shows the disagreement.
    view.table.selectRow(0)
    with qtbot.waitSignal(view.labels_saved, timeout=10_000):
        QTest.keyClick(view.table, Qt.Key.Key_F if golds[0] == "low" else Qt.Key.Key_P)
    assert calibration_status(project).state == "stale"
    assert "stale" in view.status.text()
    with qtbot.waitSignal(view.calibration_finished, timeout=60_000) as done:
        assert view.run_calibration()
    assert done.args[0].kappa < 1.0
    assert f"kappa <b>{done.args[0].kappa:.2f}</b>" in view.figures.text()
    assert view.disagreement_label.text() == "1 of 1"
    text = view.disagreement_view.toPlainText()
    assert f"Example {view.model.rows()[0].example_id}" in text
    assert "Rubric: The urgency fits the ticket." in text  # the judge's exact prompt
    assert ("Passed" if done.args[0].passed else "Failed") in view.verdict.text()


def test_cancel_generation_keeps_the_finished_outputs(pane, judged_session, scripted_connect, qtbot):
    scripted = scripted_connect(**PROGRAM_AND_JUDGE, delay=0.3)
    view = pane.calibrate
    view.count_spin.setValue(12)
    assert view.generate_outputs()
    qtbot.waitUntil(lambda: scripted.calls >= 1, timeout=30_000)
    assert view.generate_cancel_btn.isEnabled() and not view.generate_btn.isEnabled()
    with qtbot.waitSignal(view.outputs_generated, timeout=30_000):
        view.cancel_generation()
    assert scripted.calls < 12
    kept = view.model.rowCount()
    assert kept < 12  # what finished before the cancel is kept, the rest never ran
    assert f"Cancelled: the {kept} outputs finished before it were added." in view.labelling_error.text()
    assert view.generate_btn.isEnabled()


def test_a_label_file_with_an_unknown_id_stores_nothing(pane, judged_session, qtbot, tmp_path):
    from engine.calibration import LABELS_FILE

    bad = tmp_path / "labels.csv"
    bad.write_text("id,urgency,human\nlate-002,low,pass\nnot-an-example,low,fail\n", encoding="utf-8")
    view = pane.calibrate
    assert view.import_labels(str(bad))
    qtbot.waitUntil(lambda: "Nothing imported" in view.labelling_error.text(), timeout=10_000)
    assert "not-an-example" in view.labelling_error.text()
    assert view.model.rowCount() == 0
    assert not (judged_session.project.root / LABELS_FILE).exists()

    good = tmp_path / "good.csv"
    good.write_text("id,urgency,human\nlate-002,low,pass\nlate-006,high,no\n", encoding="utf-8")
    with qtbot.waitSignal(view.labels_saved, timeout=10_000):
        view.import_labels(str(good))
    assert [(r.example_id, r.human) for r in view.model.rows()] == [("late-002", 1.0), ("late-006", 0.0)]
    assert (judged_session.project.root / LABELS_FILE).exists()


def test_the_threshold_is_recorded_in_the_project(pane, judged_session, qtbot):
    from engine.calibration import project_judge

    view = pane.calibrate
    assert view.threshold_spin.value() == pytest.approx(0.6)
    with qtbot.waitSignal(judged_session.metric_changed):
        view.threshold_spin.setValue(0.75)
    assert project_judge(judged_session.project).calibration_threshold == pytest.approx(0.75)
    assert judged_session.undo_stack.canUndo()
    with qtbot.waitSignal(judged_session.metric_changed):
        judged_session.undo_stack.undo()
    assert project_judge(judged_session.project).calibration_threshold == pytest.approx(0.6)
    assert view.threshold_spin.value() == pytest.approx(0.6)


def test_without_a_judge_the_tab_says_how_to_get_one(qtbot, sample_session):
    pane = MetricPane(sample_session)
    qtbot.addWidget(pane)
    pane.show()
    assert pane.calibrate.no_judge.isVisibleTo(pane.calibrate)
    assert not pane.calibrate.splitter.isVisibleTo(pane.calibrate)
    with qtbot.waitSignal(sample_session.metric_changed):
        pane.kind_combo.setCurrentIndex(pane.kind_combo.findData("llm_judge"))
    assert pane.calibrate.splitter.isVisibleTo(pane.calibrate)
    assert pane.calibrate.model.fields == ["urgency"]


# -- the refusal in the Runs pane ------------------------------------------------------------------

def test_compile_refuses_an_uncalibrated_judge_until_the_box_is_ticked(qtbot, judged_session, scripted_connect):
    from desktop.panes.review import ReviewPane
    from desktop.panes.runs import RunsPane
    from engine.reports import run_report

    scripted_connect(**PROGRAM_AND_JUDGE)
    runs = RunsPane(judged_session)
    qtbot.addWidget(runs)
    try:
        runs.select_optimizer("labeled-fewshot")
        runs.limit_spin.setValue(3)
        assert runs.allow_judge_check.text() == "Allow an uncalibrated judge"
        assert not runs.allow_judge_check.isChecked()
        with qtbot.waitSignal(runs.run_finished, timeout=60_000) as finished:
            assert runs.start_compile()
        assert finished.args == [None]
        message = runs.status_banner.text()
        assert "has not been calibrated" in message
        assert "Calibrate the judge" in message and "Allow an uncalibrated judge" in message
        assert judged_session.project.store.list_runs() == []  # refused before anything was written

        runs.allow_judge_check.setChecked(True)
        assert runs.settings().allow_uncalibrated_judge is True
        with qtbot.waitSignal(runs.run_finished, timeout=60_000) as finished:
            assert runs.start_compile()
        record = finished.args[0]
        assert record.status == "succeeded", record.error
        report = run_report(judged_session.project, judged_session.project.store.get_run(record.run_id))
        assert report["judge"]["note"] == "used uncalibrated by the user's choice"

        review = ReviewPane(judged_session)  # Review shows the run's judge record
        qtbot.addWidget(review)
        with qtbot.waitSignal(review.run_loaded, timeout=30_000):
            review.show_run(record.run_id)
        assert review.judge_record.isVisibleTo(review)
        assert "used uncalibrated by the user's choice" in review.judge_record.text()
        assert "the judge's share of the calls" in review.judge_record.text()
        review.shutdown(10_000)
    finally:
        runs.shutdown(10_000)


def test_compile_refuses_an_untrusted_metric_file_until_it_is_trusted(qtbot, sample_session, dummy_lm_urgency):
    from desktop.panes.runs import RunsPane
    from engine import trust

    project = sample_session.project
    file = project.root / "same.py"
    file.write_text("def same(example, prediction, trace=None):\n"
                    "    return example.urgency == prediction.urgency\n", encoding="utf-8")
    project.set_metric({"kind": "python", "path": "same.py", "function": "same"})
    runs = RunsPane(sample_session)
    qtbot.addWidget(runs)
    try:
        runs.select_optimizer("labeled-fewshot")
        runs.limit_spin.setValue(3)
        with qtbot.waitSignal(runs.run_finished, timeout=60_000) as finished:
            assert runs.start_compile()
        assert finished.args == [None]
        assert "not trusted" in runs.status_banner.text() and "Trust this file" in runs.status_banner.text()
        trust.trust_file(file)
        with qtbot.waitSignal(runs.run_finished, timeout=60_000) as finished:
            assert runs.start_compile()
        assert finished.args[0].status == "succeeded", finished.args[0].error
    finally:
        runs.shutdown(10_000)


@pytest.fixture
def dummy_lm_urgency(scripted_connect):
    return scripted_connect(default={"urgency": "low"})


def test_cancel_the_judge_shows_what_it_judged_and_records_nothing(pane, judged_session, scripted_connect, qtbot):
    from engine.calibration import CALIBRATION_FILE, calibration_status

    scripted = scripted_connect(**PROGRAM_AND_JUDGE)
    view = pane.calibrate
    view.count_spin.setValue(10)
    with qtbot.waitSignal(view.outputs_generated, timeout=60_000):
        view.generate_outputs()
    view.table.setFocus()
    view.table.selectRow(0)
    with qtbot.waitSignal(view.labels_saved, timeout=10_000):
        for _ in range(10):
            QTest.keyClick(view.table, Qt.Key.Key_P)
    scripted = scripted_connect(**PROGRAM_AND_JUDGE, delay=0.3)
    with qtbot.waitSignal(view.calibration_finished, timeout=60_000) as done:
        assert view.run_calibration()
        assert view.run_cancel_btn.isEnabled() and not view.run_btn.isEnabled()
        qtbot.waitUntil(lambda: scripted.calls >= 2, timeout=30_000)
        view.cancel_calibration()
    assert done.args == [None]
    assert view.result is not None and 0 < view.result.n < 10
    assert "Cancelled" in view.warnings.text() and "nothing was stored" in view.warnings.text()
    assert not (judged_session.project.root / CALIBRATION_FILE).exists()
    assert calibration_status(judged_session.project).state == "uncalibrated"
    assert view.run_btn.isEnabled()


def test_outputs_can_come_from_a_compiled_run(pane, judged_session, scripted_connect, qtbot):
    from engine.jobs.compile import CompileJob, CompileSettings

    scripted_connect(**PROGRAM_AND_JUDGE)
    job = CompileJob(judged_session.project, CompileSettings(optimizer="labeled-fewshot", limit=3,
                                                             allow_uncalibrated_judge=True))
    job.prepare()
    record = job.run()
    assert record.status == "succeeded", record.error
    view = pane.calibrate
    judged_session.runs_changed.emit()
    qtbot.waitUntil(lambda: view.source_combo.findData(record.run_id) >= 0, timeout=10_000)
    view.source_combo.setCurrentIndex(view.source_combo.findData(record.run_id))
    assert "labeled-fewshot" in view.source_combo.currentText()
    view.count_spin.setValue(3)
    with qtbot.waitSignal(view.outputs_generated, timeout=60_000):
        assert view.generate_outputs()
    assert view.model.rowCount() == 3
    assert "3 outputs generated" in view.labelling_error.text()
