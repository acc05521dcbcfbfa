"""Importing a file through the mapping dialog: worker read, proposed mapping, one undoable command,
and errors that name the file while leaving the project untouched."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from desktop.dialogs.import_dialog import CHOOSE, ImportDialog

pytestmark = pytest.mark.qt_log_level_fail("WARNING")

CSV = (
    "id,Ticket_Text,policy_context,urgency,split,tags\n"
    "imp-1,Package lost,Late policy,medium,train,late\n"
    "imp-2,Card stolen!,Fraud policy,high,test,fraud;account\n"
    "imp-3,Love the app,General,low,,\n"
)


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def open_dialog(qtbot, session, path) -> ImportDialog:
    dialog = ImportDialog(session, path)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.loaded, timeout=10_000):
        pass
    return dialog


def run_import(qtbot, dialog):
    with qtbot.waitSignal(dialog.imported, timeout=10_000):
        dialog.start_import()


def test_import_csv_through_the_dialog_then_undo_and_redo(qtbot, session, csv_file):
    dialog = open_dialog(qtbot, session, csv_file)
    assert dialog.preview.model().rowCount() == 3
    mapping = dialog.mapping()
    assert mapping.fields == {"ticket_text": "Ticket_Text", "policy_context": "policy_context", "urgency": "urgency"}
    assert (mapping.id_column, mapping.split_column) == ("id", "split")
    dialog.set_special_column("slices", "tags")
    old_frame = session.project.frame
    run_import(qtbot, dialog)

    frame = session.project.frame
    assert frame["id"].tolist() == ["imp-1", "imp-2", "imp-3"]
    assert frame["split"].tolist() == ["train", "test", ""]
    assert frame["slices"].tolist() == ["late", "fraud;account", ""]
    assert session.undo_stack.count() == 1 and session.undo_stack.undoText() == "Import tickets.csv"
    session.undo_stack.undo()
    assert session.project.frame is old_frame and len(session.project.frame) == 300
    session.undo_stack.redo()
    assert session.project.frame["id"].tolist() == ["imp-1", "imp-2", "imp-3"]


def test_append_adds_rows_at_the_end(qtbot, session, csv_file):
    dialog = open_dialog(qtbot, session, csv_file)
    dialog.set_append(True)
    run_import(qtbot, dialog)
    frame = session.project.frame
    assert len(frame) == 303 and frame["id"].tolist()[-3:] == ["imp-1", "imp-2", "imp-3"]
    assert session.undo_stack.undoText() == "Append 3 rows from tickets.csv"
    session.undo_stack.undo()
    assert len(session.project.frame) == 300


def test_a_field_without_a_matching_column_must_be_chosen(qtbot, session, tmp_path):
    path = tmp_path / "other.jsonl"
    path.write_text('{"message": "hi", "policy_context": "p", "urgency": "low"}\n', encoding="utf-8")
    dialog = open_dialog(qtbot, session, path)
    assert dialog.field_boxes["ticket_text"].currentText() == CHOOSE
    assert not dialog.import_button.isEnabled()
    assert "ticket_text" in dialog.problem.text()
    dialog.set_field_column("ticket_text", "message")
    assert dialog.import_button.isEnabled()
    dialog.set_field_column("ticket_text", "urgency")
    assert "feeds two fields" in dialog.problem.text()
    dialog.set_field_column("ticket_text", "message")
    run_import(qtbot, dialog)
    assert session.project.frame["ticket_text"].tolist() == ["hi"]
    assert session.project.frame["id"].iat[0].startswith("ex-")  # ids made from the content


def test_an_unreadable_file_names_itself_and_changes_nothing(qtbot, session, tmp_path, answers):
    path = tmp_path / "broken.csv"
    path.write_text('ticket_text,policy_context,urgency\n"unclosed,p,low\n', encoding="utf-8")
    frame = session.project.frame
    dialog = ImportDialog(session, path)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.failed, timeout=10_000) as failed:
        pass
    assert "broken.csv" in failed.args[0]
    assert answers.errors and "broken.csv" in answers.errors[0][1]
    assert session.project.frame is frame and session.undo_stack.count() == 0


def test_a_conversion_error_names_the_rows_and_keeps_the_dialog_open(qtbot, session, tmp_path, answers):
    path = tmp_path / "dupes.csv"
    path.write_text("id,ticket_text,policy_context,urgency\na,x,p,low\na,y,p,low\n", encoding="utf-8")
    dialog = open_dialog(qtbot, session, path)
    dialog.show()
    frame = session.project.frame
    with qtbot.waitSignal(dialog.failed, timeout=10_000) as failed:
        dialog.start_import()
    assert "not unique" in failed.args[0] and "data rows 1, 2" in failed.args[0]
    assert dialog.isVisible() and dialog.import_button.isEnabled()
    assert session.project.frame is frame and session.undo_stack.count() == 0
    dialog.set_special_column("id", None)  # fall back to content ids
    run_import(qtbot, dialog)
    assert len(session.project.frame) == 2


def test_appending_ids_that_exist_is_refused(qtbot, session, tmp_path, answers):
    path = tmp_path / "clash.csv"
    existing = session.project.frame["id"].iat[0]
    path.write_text(f"id,ticket_text,policy_context,urgency\n{existing},x,p,low\n", encoding="utf-8")
    dialog = open_dialog(qtbot, session, path)
    dialog.set_append(True)
    with qtbot.waitSignal(dialog.failed, timeout=10_000) as failed:
        dialog.start_import()
    assert existing in failed.args[0]
    assert len(session.project.frame) == 300


def test_several_slice_columns_are_merged(qtbot, session, tmp_path):
    path = tmp_path / "tagged.csv"
    path.write_text("ticket_text,policy_context,urgency,slice,team\n"
                    "a,p,low,late,billing\nb,p,high,,account;late\nc,p,low,vip,\n", encoding="utf-8")
    dialog = open_dialog(qtbot, session, path)
    assert dialog.slice_columns() == ("slice",)  # proposed by name, as the CLI does
    assert dialog.slice_list.count() == 5
    dialog.set_slice_columns(["team", "slice"])
    assert dialog.mapping().slice_columns == ("slice", "team")  # the file's column order
    header = dialog.preview.model().headerData(4, Qt.Orientation.Horizontal)
    assert header.split("\n") == ["team", "→ slices"]
    run_import(qtbot, dialog)
    assert session.project.frame["slices"].tolist() == ["late;billing", "account;late", "vip"]


def test_slice_columns_are_checked_in_the_list(qtbot, session, csv_file):
    dialog = open_dialog(qtbot, session, csv_file)
    assert dialog.slice_columns() == ("tags",)  # a column named tags is proposed, as `import` does
    tags = dialog.slice_list.findItems("tags", Qt.MatchFlag.MatchExactly)[0]
    tags.setCheckState(Qt.CheckState.Unchecked)  # what a click on its box does
    assert dialog.slice_columns() == ()
    tags.setCheckState(Qt.CheckState.Checked)
    assert dialog.mapping().slice_columns == ("tags",)
    assert dialog.preview.model().headerData(5, Qt.Orientation.Horizontal).endswith("→ slices")
    dialog.set_special_column("slices", None)
    assert dialog.mapping().slice_columns == ()
