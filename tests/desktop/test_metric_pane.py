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


# -- the kinds of issue #17: judge, token F1, contains, a Python file -------------------------------

def test_judge_editor_applies_a_judge_and_renders_its_exact_prompt(pane, sample_session, qtbot):
    project = sample_session.project
    pane.show()
    with qtbot.waitSignal(sample_session.metric_changed):
        pane.kind_combo.setCurrentIndex(pane.kind_combo.findData("llm_judge"))
    spec = project.metric_spec()
    assert spec.kind == "llm_judge" and spec.outputs == ["urgency"] and spec.model is None
    assert spec.inputs == ["ticket_text", "policy_context"]
    editor = pane.judge_editor
    with qtbot.waitSignal(sample_session.metric_changed):
        editor.rubric_edit.setPlainText("Urgency matches the deadline in the ticket.")
        pane.flush()
    with qtbot.waitSignal(sample_session.metric_changed):
        editor.inputs_list.set_checked("policy_context", False)
    with qtbot.waitSignal(sample_session.metric_changed):
        editor.verdict_combo.setCurrentIndex(editor.verdict_combo.findData("scale_1_5"))
    spec = project.metric_spec()
    assert (spec.rubric, spec.inputs, spec.verdict) == ("Urgency matches the deadline in the ticket.",
                                                        ["ticket_text"], "scale_1_5")
    assert "LLM judge (1-5) of urgency" in pane.description.text()
    assert pane.score_label.text() == "—" and "LLM judge scores with a model" in pane.feedback_label.text()

    pane.picker.set_row(0)
    assert pane.judge_prompt_box.isVisibleTo(pane)
    with qtbot.waitSignal(pane.judge_prompt_rendered, timeout=10_000):
        pane.set_prediction("urgency", "high")
    prompt = pane.judge_prompt_view.toPlainText()
    assert "Rubric: Urgency matches the deadline in the ticket." in prompt
    assert project.frame["ticket_text"].iat[0] in prompt
    assert "urgency: high" in prompt and "policy_context" not in prompt
    with qtbot.waitSignal(sample_session.metric_changed):
        sample_session.undo_stack.undo()
    assert project.metric_spec().verdict == "pass_fail"


def test_contains_and_token_f1_work_inside_a_composite(pane, sample_session, qtbot):
    project = sample_session.project
    with qtbot.waitSignal(sample_session.metric_changed):
        pane.kind_combo.setCurrentIndex(pane.kind_combo.findData("composite"))
    pane.add_component()
    combo = pane.components.cellWidget(1, 1)
    combo.setCurrentIndex(combo.findData("contains"))  # incomplete until a pattern is typed
    assert "patterns" in pane.error.text()
    assert pane.component_box.isVisibleTo(pane) and not pane.norm_box.isVisibleTo(pane)
    editor = pane.component_editors["contains"]
    with qtbot.waitSignal(sample_session.metric_changed):
        editor.patterns_edit.setPlainText("lo")
        pane.flush()
    pane.add_component()
    combo = pane.components.cellWidget(2, 1)
    with qtbot.waitSignal(sample_session.metric_changed):
        combo.setCurrentIndex(combo.findData("token_f1"))
    kinds = [c.metric.kind for c in project.metric_spec().components]
    assert kinds == ["exact_match", "contains", "token_f1"]
    assert project.metric_spec().components[1].metric.patterns == ["lo"]
    pane.picker.set_row(0)
    gold = project.frame["urgency"].iat[0]
    pane.set_prediction("urgency", gold)
    assert pane.last_score == pytest.approx(1.0 if "lo" in gold else 2 / 3)
    pane.set_prediction("urgency", "zzz")
    assert pane.last_score == 0.0
    # selecting an exact-match component brings its normalisation back
    pane.components.setCurrentCell(0, 2)
    assert pane.norm_box.isVisibleTo(pane) and not pane.component_box.isVisibleTo(pane)


def test_python_metric_is_trusted_once_per_file_version(pane, sample_session, qtbot, answers):
    from engine import trust

    project = sample_session.project
    before = dict(project.config.metric)
    file = project.root / "my_metric.py"
    file.write_text("def same_urgency(example, prediction, trace=None):\n"
                    "    return float(example.urgency == prediction.urgency)\n", encoding="utf-8")
    pane.kind_combo.setCurrentIndex(pane.kind_combo.findData("python"))  # no file yet: not applied
    assert project.config.metric == before
    editor = pane.editors["python"]
    answers.file = str(file)
    answers.confirm = False
    assert not pane.choose_python_file()
    assert answers.questions and str(file.resolve()) in answers.questions[-1]
    sha = trust.code_file(file).sha256
    assert sha in answers.questions[-1]
    assert not trust.is_trusted(file) and project.config.metric == before  # declined: nothing runs

    answers.confirm = True
    with qtbot.waitSignal(sample_session.metric_changed):
        assert pane.choose_python_file()
    assert trust.is_trusted(file)
    spec = project.metric_spec()
    assert (spec.kind, spec.path, spec.function) == ("python", "my_metric.py", "same_urgency")
    assert "trusted in this version" in editor.trust_label.text() and not editor.trust_btn.isVisibleTo(pane)
    asked = len(answers.questions)
    pane.choose_python_file()  # the same version again: not asked twice
    assert len(answers.questions) == asked

    file.write_text(file.read_text("utf-8") + "# edited\n", encoding="utf-8")
    pane._reload()
    assert "not trusted in this version" in editor.trust_label.text()
    assert editor.trust_btn.isVisibleTo(pane)
    assert pane.trust_python_file()
    assert trust.is_trusted(file) and len(answers.questions) == asked + 1


def test_rouge_and_edit_similarity_score_the_typed_prediction(pane, sample_session, qtbot):
    project = sample_session.project
    pane.picker.set_row(0)
    gold = project.frame["urgency"].iat[0]
    with qtbot.waitSignal(sample_session.metric_changed):
        pane.kind_combo.setCurrentIndex(pane.kind_combo.findData("edit_similarity"))
    assert project.metric_spec().kind == "edit_similarity"
    assert pane.norm_box.isVisibleTo(pane)  # edit similarity compares after the normalisation
    pane.set_prediction("urgency", gold[:-1] + "x")  # one typo
    assert 0.0 < pane.last_score < 1.0
    with qtbot.waitSignal(sample_session.metric_changed):
        pane.kind_combo.setCurrentIndex(pane.kind_combo.findData("rouge"))
    editor = pane.editors["rouge"]
    with qtbot.waitSignal(sample_session.metric_changed):
        editor.variant_combo.setCurrentIndex(editor.variant_combo.findData("rouge1"))
    spec = project.metric_spec()
    assert (spec.kind, spec.variant, spec.stemmer) == ("rouge", "rouge1", True)
    assert not pane.norm_box.isVisibleTo(pane)
    pane.set_prediction("urgency", gold)
    assert pane.last_score == 1.0


def test_a_python_file_and_a_judge_as_parts_of_a_composite(pane, sample_session, qtbot, answers):
    project = sample_session.project
    file = project.root / "metrics_here.py"
    file.write_text("def helper():\n    pass\n\ndef polite(example, prediction, trace=None):\n    return 1.0\n",
                    encoding="utf-8")
    with qtbot.waitSignal(sample_session.metric_changed):
        pane.kind_combo.setCurrentIndex(pane.kind_combo.findData("composite"))
    pane.add_component()
    combo = pane.components.cellWidget(1, 1)
    combo.setCurrentIndex(combo.findData("python"))
    editor = pane.component_editors["python"]
    assert editor.isVisibleTo(pane) and pane.component_box.title() == "Component 2 · Python file"
    answers.file, answers.confirm = str(file), True
    with qtbot.waitSignal(sample_session.metric_changed):
        editor.choose_btn.click()
    assert [editor.function_combo.itemText(i) for i in range(editor.function_combo.count())] == ["helper", "polite"]
    with qtbot.waitSignal(sample_session.metric_changed):
        editor.function_combo.setCurrentText("polite")
    pane.add_component()
    combo = pane.components.cellWidget(2, 1)
    with qtbot.waitSignal(sample_session.metric_changed):
        combo.setCurrentIndex(combo.findData("llm_judge"))
    parts = [c.metric for c in project.metric_spec().components]
    assert [p.kind for p in parts] == ["exact_match", "python", "llm_judge"]
    assert (parts[1].path, parts[1].function) == ("metrics_here.py", "polite")
    assert "Python metric polite in metrics_here.py" in pane.components.item(1, 2).text()
    assert pane.judge_prompt_box.isVisibleTo(pane)
    assert "Not scored here" in pane.feedback_label.text()
