"""The Metric pane: the metric is built, validated and applied through the undo stack, and can be
tried on an example."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.desktop.conftest_b import no_dangling_qthreads, sample_project, sample_session  # noqa: F401

from desktop.panes.metric import MetricPane  # noqa: E402

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"), pytest.mark.usefixtures("no_dangling_qthreads")]


@pytest.fixture
def pane(qtbot, sample_session):
    pane = MetricPane(sample_session)
    qtbot.addWidget(pane)
    pane.resize(1100, 700)
    return pane


def test_shows_the_projects_metric(pane):
    assert pane.title == "Metric" and pane.icon_name == "metric"
    assert pane.kind_combo.currentData() == "exact_match"
    assert pane.field_combo.currentText() == "urgency"
    assert "exact match on urgency" in pane.description.text()
    assert pane.norm_checks["lowercase"].isChecked()


def test_normalization_edit_is_applied_and_undone(pane, sample_session, qtbot):
    project = sample_session.project
    with qtbot.waitSignal(sample_session.metric_changed):
        pane.norm_checks["strip_punctuation"].setChecked(True)
    assert project.metric_spec().normalize.strip_punctuation is True
    assert "punctuation ignored" in pane.description.text()
    with qtbot.waitSignal(sample_session.metric_changed):
        sample_session.undo_stack.undo()
    assert project.metric_spec().normalize.strip_punctuation is False
    assert not pane.norm_checks["strip_punctuation"].isChecked()


def test_score_on_example_follows_the_prediction(pane, sample_session, qtbot):
    frame = sample_session.project.frame
    pane.picker.set_row(0)
    gold = frame["urgency"].iat[0]
    assert pane.prediction() == {"urgency": gold}
    assert pane.last_score == 1.0
    wrong = next(c for c in ("low", "medium", "high") if c != gold)
    with qtbot.waitSignal(pane.scored) as blocker:
        pane.set_prediction("urgency", wrong)
    assert blocker.args == [0.0]
    assert f"expected '{gold}', got '{wrong}'" in pane.feedback_label.text()
    # case differences are forgiven by the default normalisation...
    with qtbot.waitSignal(pane.scored) as blocker:
        pane.set_prediction("urgency", gold.upper())
    assert blocker.args == [1.0]
    # ...until "ignore case" is turned off
    with qtbot.waitSignal(sample_session.metric_changed):
        pane.norm_checks["lowercase"].setChecked(False)
    assert pane.last_score == 0.0


def test_composite_with_weights(pane, sample_session, qtbot):
    project = sample_session.project
    with qtbot.waitSignal(sample_session.metric_changed):
        pane.kind_combo.setCurrentIndex(pane.kind_combo.findData("composite"))
    assert project.config.metric["kind"] == "composite"
    with qtbot.waitSignal(sample_session.metric_changed):
        pane.add_component()
    with qtbot.waitSignal(sample_session.metric_changed):
        pane.components.cellWidget(1, 0).setValue(3.0)
    spec = project.metric_spec()
    assert [c.weight for c in spec.components] == [1.0, 3.0]
    assert "0.25 × exact match on urgency" in pane.description.text()


def test_invalid_metric_is_shown_not_applied(pane, sample_session, qtbot):
    project = sample_session.project
    with qtbot.waitSignal(sample_session.metric_changed):
        pane.kind_combo.setCurrentIndex(pane.kind_combo.findData("field_match"))
    before = dict(project.config.metric)
    pane.fields_list.item(0).setCheckState(Qt.CheckState.Unchecked)  # no field left
    assert pane.error.isVisibleTo(pane)
    assert "needs at least one entry" in pane.error.text()
    assert project.config.metric == before
    pane.kind_combo.setCurrentIndex(pane.kind_combo.findData("composite"))
    pane.components.item(0, 2).setText("urgencyy")
    assert "did you mean 'urgency'" in pane.error.text()
