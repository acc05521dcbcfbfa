"""The Program pane: edits go through validation and the undo stack; the preview renders offline."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.desktop.conftest_b import no_dangling_qthreads, sample_project, sample_session  # noqa: F401

from desktop.panes.program import ProgramPane  # noqa: E402

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"), pytest.mark.usefixtures("no_dangling_qthreads")]


@pytest.fixture
def pane(qtbot, sample_session):
    pane = ProgramPane(sample_session)
    qtbot.addWidget(pane)
    pane.resize(1200, 760)
    yield pane
    pane.shutdown(5000)


def test_pane_shows_the_program_and_its_fingerprint(pane, sample_session):
    assert pane.title == "Program" and pane.icon_name == "program"
    spec = sample_session.project.program
    assert pane.stage_list.count() == 1
    assert pane.stage_name.text() == "triage"
    assert spec.fingerprint()[:19] in pane.fingerprint.text()
    assert pane.fields.rowCount() == 3  # two inputs, one output


def test_rename_stage_is_applied_and_undone(pane, sample_session, qtbot):
    project = sample_session.project
    before = project.program.fingerprint()
    with qtbot.waitSignal(sample_session.program_changed):
        pane.stage_name.setText("classify")
        pane.stage_name.editingFinished.emit()
    assert project.program.stages[0].name == "classify"
    assert project.program.fingerprint() != before
    assert pane.fingerprint.text().startswith("fingerprint " + project.program.fingerprint()[:19])
    with qtbot.waitSignal(sample_session.program_changed):
        sample_session.undo_stack.undo()
    assert project.program.stages[0].name == "triage"
    assert project.program.fingerprint() == before
    assert pane.stage_name.text() == "triage"  # the editor follows the undo


def test_invalid_edit_is_shown_and_never_applied(pane, sample_session):
    project = sample_session.project
    before = project.program.fingerprint()
    pane.stage_name.setText("not a name")
    pane.stage_name.editingFinished.emit()
    assert pane.error.isVisibleTo(pane)
    assert "stage name" in pane.error.text()
    assert project.program.fingerprint() == before
    assert sample_session.undo_stack.count() == 0


def test_field_type_and_choices_edits(pane, sample_session, qtbot):
    project = sample_session.project
    # output row is the last one: change its choices
    row = pane.fields.rowCount() - 1
    with qtbot.waitSignal(sample_session.program_changed):
        pane.fields.item(row, 3).setText("low, medium, high, critical")
    assert project.program.output_fields[0].choices == ["low", "medium", "high", "critical"]
    # make it a str: choices are dropped, the program stays valid
    with qtbot.waitSignal(sample_session.program_changed):
        pane.fields.cellWidget(row, 2).setCurrentText("str")
    assert project.program.output_fields[0].type == "str"
    assert project.program.output_fields[0].choices == []


def test_add_and_remove_stage_and_module(pane, sample_session, qtbot):
    project = sample_session.project
    with qtbot.waitSignal(sample_session.program_changed):
        pane.add_stage()
    assert [s.name for s in project.program.stages] == ["triage", "stage2"]
    assert project.program.stages[1].input_names == ["urgency"]
    with qtbot.waitSignal(sample_session.program_changed):
        pane.module_combo.setCurrentIndex(pane.module_combo.findData("cot"))
    assert project.program.stages[1].module == "cot"
    # moving the reading stage first is invalid: shown, not applied
    pane.move_stage(-1)
    assert "reorder" in pane.error.text()
    assert [s.name for s in project.program.stages] == ["triage", "stage2"]
    with qtbot.waitSignal(sample_session.program_changed):
        sample_session.undo_stack.undo()  # module change
    with qtbot.waitSignal(sample_session.program_changed):
        sample_session.undo_stack.undo()  # the new stage
    assert [s.name for s in project.program.stages] == ["triage"]
    assert pane.stage_list.count() == 1
    assert not pane.error.isVisibleTo(pane)


def test_instruction_typing_merges_into_one_undo_step(pane, sample_session, qtbot):
    project = sample_session.project
    with qtbot.waitSignal(sample_session.program_changed, timeout=3000):
        pane.instructions.setPlainText("Label the ticket.")
    with qtbot.waitSignal(sample_session.program_changed, timeout=3000):
        pane.instructions.setPlainText("Label the ticket by urgency.")
    assert project.program.stages[0].instructions == "Label the ticket by urgency."
    assert sample_session.undo_stack.count() == 1
    sample_session.undo_stack.undo()
    assert project.program.stages[0].instructions.startswith("Decide how urgently")


def test_preview_renders_the_exact_messages(pane, sample_session, qtbot):
    with qtbot.waitSignal(pane.preview_rendered, timeout=30_000):
        pane._render_preview()
    text = pane.preview.toPlainText()
    row = pane.picker.row()
    ticket = sample_session.project.frame["ticket_text"].iat[row]
    assert "[system]" in text and "[user]" in text
    assert ticket in text
    assert '"enum"' in pane.schema_view.toPlainText()
    with qtbot.waitSignal(pane.preview_rendered, timeout=30_000):
        pane.picker.set_row(5)
    assert sample_session.project.frame["ticket_text"].iat[5] in pane.preview.toPlainText()


def test_ctrl_z_in_the_instructions_box_undoes_the_sessions_step_and_redo_brings_it_back(pane, sample_session, qtbot):
    project = sample_session.project
    original = project.program.stages[0].instructions
    pane.instructions.setFocus()
    pane.instructions.selectAll()
    qtbot.keyClicks(pane.instructions, "Label the ticket.")
    qtbot.keyClicks(pane.instructions, " By urgency.")  # still pending: Ctrl+Z commits it first
    qtbot.keyClick(pane.instructions, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert project.program.stages[0].instructions == original
    assert pane.instructions.toPlainText() == original
    assert sample_session.undo_stack.canRedo() and not pane.instructions.isUndoRedoEnabled()
    qtbot.keyClick(pane.instructions, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert project.program.stages[0].instructions == "Label the ticket. By urgency."
    assert pane.instructions.toPlainText() == "Label the ticket. By urgency."
    assert sample_session.undo_stack.undoText() == "Edit instructions"
