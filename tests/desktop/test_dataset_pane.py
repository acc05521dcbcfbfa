"""The Dataset pane: editing, split assignment and counts, slices, auto-split, and the leakage banner."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from desktop.dialogs.auto_split_dialog import AutoSplitSettings
from desktop.panes.dataset import DatasetPane

pytestmark = pytest.mark.qt_log_level_fail("WARNING")


@pytest.fixture
def pane(qtbot, session):
    pane = DatasetPane(session)
    qtbot.addWidget(pane)
    pane.resize(1200, 700)
    pane.show()
    qtbot.waitExposed(pane)
    return pane


def col(pane, name):
    return pane.model.columns.index(name)


def counts_cell(pane, slice_label: str, split: str) -> int:
    table = pane.counts.table
    row = next(r for r in range(table.rowCount()) if table.verticalHeaderItem(r).text() == slice_label)
    column = pane.counts.COLUMNS.index(split)
    return int(table.item(row, column).text().replace(",", ""))


def make_leak(session, pane):
    """Give row 1 (validation) the same inputs as row 0 (test): one example in two splits."""
    from desktop.dataset_commands import EditCell, push

    frame = session.project.frame
    assert frame["split"].iat[0] != frame["split"].iat[1]
    for field in session.project.program.input_names:
        assert push(session, EditCell(session, 1, field, "  " + frame[field].iat[0].upper() + " "))


def test_edit_a_cell_then_undo_and_redo(pane, session, qtbot):
    index = pane.model.index(3, col(pane, "ticket_text"))
    old = index.data(Qt.ItemDataRole.EditRole)
    assert pane.model.setData(index, "My order never arrived.")
    assert session.project.frame["ticket_text"].iat[3] == "My order never arrived."
    assert session.dirty
    session.undo_stack.undo()
    assert session.project.frame["ticket_text"].iat[3] == old
    assert pane.model.index(3, col(pane, "ticket_text")).data(Qt.ItemDataRole.EditRole) == old
    session.undo_stack.redo()
    assert session.project.frame["ticket_text"].iat[3] == "My order never arrived."


def test_assign_selected_rows_to_a_split_updates_the_counts(pane, session):
    assert counts_cell(pane, "all rows", "test") == 90
    frame = session.project.frame
    pane.select_view_rows(0, 9)
    moved = [r for r in range(10) if frame["split"].iat[r] != "test"]
    assert pane.assign_selected("test")
    assert (frame["split"].iloc[:10] == "test").all()
    pane.refresh_counts()
    assert counts_cell(pane, "all rows", "test") == 90 + len(moved)
    assert session.undo_stack.undoText() == "Assign 10 rows to test"
    session.undo_stack.undo()
    pane.refresh_counts()
    assert counts_cell(pane, "all rows", "test") == 90


def test_assigning_without_a_selection_explains_what_to_do(pane, answers):
    assert not pane.assign_selected("train")
    assert answers.infos and "Select one or more rows" in answers.infos[0][1]


def test_unassigning_shows_up_as_unassigned(pane, session):
    pane.select_view_rows(0, 1)
    pane.assign_selected("")
    pane.refresh_counts()
    assert counts_cell(pane, "all rows", "unassigned") == 2
    assert pane.model.index(0, col(pane, "split")).data() == "—"
    assert "2 rows have no split" in pane.counts.hint.text()


def test_filtering_by_split_and_slice_from_the_combos(pane, session):
    pane.split_combo.setCurrentIndex(pane.split_combo.findData("validation"))
    assert pane.model.rowCount() == 60
    pane.slice_combo.setCurrentIndex(pane.slice_combo.findData("refund"))
    assert pane.model.rowCount() == 16
    assert pane.shown_label.text() == "16 of 300 rows"
    pane.clear_filter()
    assert pane.model.rowCount() == 300
    assert pane.split_combo.currentIndex() == 0 and pane.slice_combo.currentIndex() == 0


def test_text_filter_is_debounced(pane, qtbot):
    pane.filter_edit.setText("refund")
    assert pane.model.rowCount() == 300  # not yet: waits for typing to pause
    qtbot.waitUntil(lambda: pane.model.rowCount() < 300)
    assert pane.model.row_filter.text == "refund"


def test_add_and_remove_a_slice_on_selected_rows(pane, session, answers):
    pane.select_view_rows(0, 2)
    answers.text = "vip"
    assert pane.add_slice_to_selected()
    assert all("vip" in session.project.frame["slices"].iat[r].split(";") for r in range(3))
    pane.refresh_counts()
    assert counts_cell(pane, "vip", "train") + counts_cell(pane, "vip", "test") + \
        counts_cell(pane, "vip", "validation") == 3
    assert pane.remove_slice_from_selected("vip")
    assert not any("vip" in session.project.frame["slices"].iat[r] for r in range(3))
    session.undo_stack.undo()
    assert "vip" in session.project.frame["slices"].iat[0]


def test_add_row_and_delete_rows_are_undoable(pane, session):
    assert pane.add_row()
    assert len(session.project.frame) == 301
    assert session.project.frame["id"].iat[300] == "new-1"
    pane.select_view_rows(0, 4)
    assert pane.delete_selected()
    assert len(session.project.frame) == 296
    session.undo_stack.undo()
    session.undo_stack.undo()
    assert len(session.project.frame) == 300
    assert pane.model.rowCount() == 300


def test_auto_split_is_one_undoable_step(pane, session):
    before = session.project.frame["split"].tolist()
    pane.auto_split(AutoSplitSettings(fractions=(0.5, 0.25, 0.25), seed=7, stratify="urgency",
                                      only_unassigned=False))
    counts = session.project.frame["split"].value_counts()
    assert (counts["train"], counts["validation"], counts["test"]) == (150, 75, 75)
    assert pane.model.frame is session.project.frame
    assert session.undo_stack.undoText().startswith("Auto-split all rows 50/25/25")
    session.undo_stack.undo()
    assert session.project.frame["split"].tolist() == before


def test_auto_split_dialog_collects_its_settings(pane, qtbot):
    pane.auto_split()
    dialog = pane.dialog
    dialog.spins[0].setValue(70)
    assert not dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()  # 110 %
    dialog.spins[1].setValue(10)
    dialog.stratify.setCurrentText("slices")
    settings = dialog.settings()
    assert settings.fractions == (0.7, 0.1, 0.2) and settings.stratify == "slices"
    dialog.reject()


def test_leakage_banner_appears_and_disappears_after_the_fix(pane, session, qtbot):
    assert pane.leak_banner.isHidden()
    assert session.can_compile
    with qtbot.waitSignal(session.leaks_changed):
        make_leak(session, pane)
    assert len(session.leaks) == 1 and not session.can_compile
    assert pane.leak_banner.isVisible()
    ids = session.project.frame["id"].tolist()[:2]
    assert f"{ids[0]} ({session.project.frame['split'].iat[0]})" in pane.leak_banner.text.text()
    assert "have the same inputs" in pane.leak_banner.text.text()

    pane.show_leak_rows()
    assert pane.model.rowCount() == 2
    assert pane.clear_filter_button.isVisible()
    assert pane.model.index(0, 0).data(Qt.ItemDataRole.BackgroundRole) is not None

    pane.select_view_rows(1, 1)  # move the second row into the first row's split
    with qtbot.waitSignal(session.leaks_changed):
        pane.assign_selected(session.project.frame["split"].iat[0])
    assert session.leaks == [] and session.can_compile
    assert pane.leak_banner.isHidden()


def test_dropping_a_data_file_opens_the_import_dialog(pane, tmp_path, qtbot):
    from PySide6.QtCore import QMimeData, QPoint, QUrl
    from PySide6.QtGui import QDropEvent

    file = tmp_path / "more.csv"
    file.write_text("ticket_text,policy_context,urgency\nhi,p,low\n", encoding="utf-8")
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(file))])
    event = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, data, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    pane.dropEvent(event)
    assert pane.dialog is not None and pane.dialog.path == str(file)
    qtbot.waitUntil(lambda: pane.dialog.raw is not None)
    pane.dialog.reject()


def test_big_table_paths_run_off_the_gui_thread(pane, session, qtbot, monkeypatch):
    """With the threshold lowered, filtering, counts, leakage checks and auto-split use the pool."""
    import threading

    from desktop import background, leak_watch

    monkeypatch.setattr(background, "ASYNC_ROWS", 10)
    threads = set()
    real_check = leak_watch._check

    def check(*args):
        threads.add(threading.current_thread() is threading.main_thread())
        return real_check(*args)

    monkeypatch.setattr(leak_watch, "_check", check)
    with qtbot.waitSignal(pane.model.filtering_changed, check_params_cb=lambda busy: not busy):
        pane.model.set_filter(pane.model.row_filter.__class__(split="test"))
    assert pane.model.rowCount() == 90
    with qtbot.waitSignal(pane.leak_watcher.checked, timeout=10_000):
        make_leak(session, pane)
    assert threads == {False} and len(session.leaks) == 1
    pane.clear_filter()
    pane.auto_split(AutoSplitSettings(fractions=(0.6, 0.2, 0.2), seed=1, stratify=None, only_unassigned=False))
    qtbot.waitUntil(lambda: session.undo_stack.undoText().startswith("Auto-split"), timeout=10_000)
    qtbot.waitUntil(lambda: not pane.is_busy() and not pane.leak_watcher.checking, timeout=10_000)
    pane.refresh_counts()
    qtbot.waitUntil(lambda: counts_cell(pane, "all rows", "train") == 180, timeout=10_000)


def test_the_delete_key_in_the_table_deletes_the_selected_rows(qtbot, pane, session):
    pane.select_view_rows(0, 2)
    pane.table.setFocus()
    qtbot.waitUntil(pane.table.hasFocus, timeout=5_000)
    qtbot.keyClick(pane.table, Qt.Key.Key_Delete)
    assert len(session.project.frame) == 297
    session.undo_stack.undo()
    assert len(session.project.frame) == 300
