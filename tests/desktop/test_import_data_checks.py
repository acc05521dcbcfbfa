"""The import dialog checks the mapped table against the program before Import, with the rows."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from desktop.dialogs.import_dialog import ImportDialog

pytestmark = pytest.mark.qt_log_level_fail("WARNING")

CSV = (
    "id,ticket_text,policy_context,urgency,split\n"
    "imp-1,Package lost,Late policy,medium,train\n"
    "imp-2,Card stolen!,Fraud policy,urgent,train\n"
    "imp-3,,General,low,train\n"
    "imp-4,Where is my refund,Refunds,High,test\n"
    "imp-5,where is my refund?,Refunds,high,validation\n"
    "imp-6,Package lost,Late policy,low,train\n"
)


def open_checked(qtbot, session, path) -> ImportDialog:
    dialog = ImportDialog(session, path)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.checked, timeout=10_000):
        pass
    return dialog


def test_preview_lists_the_findings_and_tints_their_rows_before_import(qtbot, session, tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_text(CSV, encoding="utf-8")
    dialog = open_checked(qtbot, session, path)
    assert session.project.frame["id"].iat[0] != "imp-1"  # nothing imported yet
    assert [f.kind for f in dialog.findings] == ["choices", "case", "empty", "conflict"]
    text = dialog.checks.text()
    assert not dialog.checks.isHidden()
    assert "1 row has `urgency` 'urgent' (ids imp-2)" in text
    assert "1 row has `urgency` 'High' (ids imp-4): the choice is 'high'" in text
    assert "1 row has an empty `ticket_text` (ids imp-3)" in text
    assert "1 group of identical inputs has different `urgency`" in text
    assert "1 example would leak between splits (ids imp-4 (test) and imp-5 (validation)" in text  # folded
    model = dialog.preview.model()
    assert model.flagged_rows() == [0, 1, 2, 3, 4, 5]
    assert model.index(1, 0).data(Qt.ItemDataRole.BackgroundRole) is not None
    assert "'urgent'" in model.index(1, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "leak: ids imp-4 (test) and imp-5" in model.index(4, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert dialog.import_button.isEnabled()  # findings never block the import


def test_changing_the_mapping_rechecks(qtbot, session, tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_text(CSV.replace("imp-3,,General", "imp-3,Lost card,General"), encoding="utf-8")
    dialog = open_checked(qtbot, session, path)
    assert "empty" not in [f.kind for f in dialog.findings]
    with qtbot.waitSignal(dialog.checked, timeout=10_000):
        dialog.set_field_column("ticket_text", "split")  # a silly mapping: the split column as the text
    assert "conflict" in [f.kind for f in dialog.findings]


def test_clean_file_shows_no_checks(qtbot, session, tmp_path):
    path = tmp_path / "clean.csv"
    path.write_text("ticket_text,policy_context,urgency\nhi,p,low\nbye,q,high\n", encoding="utf-8")
    dialog = open_checked(qtbot, session, path)
    assert dialog.findings == [] and dialog.checks.isHidden()
    assert dialog.preview.model().index(0, 0).data(Qt.ItemDataRole.BackgroundRole) is None
