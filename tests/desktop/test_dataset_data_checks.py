"""The Dataset pane shows the data checked against the program (a warning, not a block), with its rows."""

from __future__ import annotations

import threading

import pytest

from desktop.dataset_commands import EditCell, push
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


def test_findings_banner_names_the_rows_and_goes_after_undo(pane, session, qtbot):
    assert pane.findings_banner.isHidden() and pane.leak_watcher.findings == []
    frame = session.project.frame
    with qtbot.waitSignal(pane.leak_watcher.findings_changed, check_params_cb=bool):
        assert push(session, EditCell(session, 2, "urgency", "High"))
    with qtbot.waitSignal(pane.leak_watcher.findings_changed, check_params_cb=lambda f: len(f) == 2):
        assert push(session, EditCell(session, 5, "ticket_text", "  "))
    text = pane.findings_banner.text.text()
    assert pane.findings_banner.isVisible() and session.can_compile  # shown, never blocking
    assert f"1 row has `urgency` 'High' (ids {frame['id'].iat[2]})" in text and "the choice is 'high'" in text
    assert f"1 row has an empty `ticket_text` (ids {frame['id'].iat[5]})" in text

    pane.show_finding_rows()
    assert pane.model.rowCount() == 2
    assert pane.model.frame_rows([0, 1]).tolist() == [2, 5]

    session.undo_stack.undo()
    session.undo_stack.undo()
    qtbot.waitUntil(lambda: pane.findings_banner.isHidden())
    assert pane.leak_watcher.findings == []


def test_big_tables_are_checked_against_the_program_on_a_pool_thread(pane, session, qtbot, monkeypatch):
    from desktop import leak_watch
    from engine import data_checks

    monkeypatch.setattr(leak_watch, "DATA_CHECK_SYNC_ROWS", 10)
    threads = set()
    real = data_checks.check_table

    def check_table(*args, **kwargs):
        threads.add(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(data_checks, "check_table", check_table)
    with qtbot.waitSignal(pane.leak_watcher.findings_changed, check_params_cb=bool, timeout=10_000):
        assert push(session, EditCell(session, 0, "urgency", "urgent"))
    assert threads == {False}
    assert "`urgency` 'urgent'" in pane.findings_banner.text.text()


def test_runs_pane_shows_a_line_that_opens_the_dataset_pane(qtbot, sample_project):
    from desktop.main_window import MainWindow
    from desktop.panes.runs import RunsPane

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.open_project(sample_project.root)
    qtbot.waitUntil(lambda: window.session.is_open and window.opening is None, timeout=10_000)
    runs = window.findChild(RunsPane)
    window.show_pane(runs.title)
    assert runs.data_checks.isHidden()
    with qtbot.waitSignal(window.leak_watcher.findings_changed, check_params_cb=bool):
        assert push(window.session, EditCell(window.session, 0, "urgency", "Low"))
    assert runs.data_checks.isVisible() and "labels in another case" in runs.data_checks.text.text()
    assert window.session.can_compile  # a finding does not block
    runs.data_checks.button.click()
    assert window.current_pane.title == "Dataset"
