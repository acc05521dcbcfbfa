"""The main window: opening projects, panes and navigation, settings, closing cleanly."""

from __future__ import annotations

import logging

import pytest
from PySide6.QtCore import Qt

from desktop import main_window as mw
from desktop.main_window import MainWindow
from desktop.panes.base import Pane
from desktop.settings import AppSettings

pytestmark = pytest.mark.qt_log_level_fail("WARNING")


@pytest.fixture
def window(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def open_in(qtbot, window, path):
    window.open_project(path)
    qtbot.waitUntil(lambda: window.session.is_open and window.opening is None, timeout=10_000)


def test_window_opens_the_sample_with_its_title_and_seven_panes(qtbot, window, sample_project):
    assert window.windowTitle() == "DSPy Workbench"
    assert window.current_pane.title == "Start"
    assert not window.nav.item(1).flags() & Qt.ItemFlag.ItemIsEnabled  # nothing to show without a project
    open_in(qtbot, window, sample_project.root)
    assert window.windowTitle() == "support-triage — DSPy Workbench"
    assert [p.title for p in window.panes] == ["Start", "Dataset", "Program", "Metric", "Models", "Runs", "Review"]
    assert window.stack.count() == window.nav.count() == 7
    assert all(isinstance(p, Pane) for p in window.panes)
    assert window.current_pane.title == "Dataset"
    assert window.nav.item(1).flags() & Qt.ItemFlag.ItemIsEnabled
    assert window.path_label.text() == str(sample_project.root)
    assert window.save_label.text() == "All changes saved"
    assert window.leak_label.text() == "No leakage between splits"


def test_view_shortcuts_and_menus_drive_the_panes(qtbot, window, sample_project):
    open_in(qtbot, window, sample_project.root)
    window.view_actions[6].trigger()
    assert window.current_pane.title == "Review"
    assert window.view_actions[6].shortcut().toString() == "Ctrl+7"
    menus = [a.text() for a in window.menuBar().actions()]
    assert menus == ["&File", "&Edit", "&View", "&Help"]
    assert window.undo_action.shortcut().toString() == "Ctrl+Z"
    assert window.redo_action.shortcut().toString() == "Ctrl+Shift+Z"


def test_a_pane_module_that_is_missing_gets_a_placeholder(qtbot, monkeypatch):
    panes = (*mw.PANES[:2], ("desktop.panes.not_built_yet", "NopePane", "Program", "program"), *mw.PANES[3:])
    monkeypatch.setattr(mw, "PANES", panes)
    window = MainWindow()
    qtbot.addWidget(window)
    placeholder = window.pane("Program")
    assert type(placeholder).__name__ == "MissingPane"
    assert "desktop/panes/not_built_yet.py is not part of this build" in placeholder.reason


def test_a_pane_that_fails_to_load_is_logged_and_replaced(qtbot, monkeypatch, caplog):
    class Broken(Pane):
        def __init__(self, session, parent=None):
            raise RuntimeError("boom")

    import desktop.panes.missing as missing

    monkeypatch.setattr(missing, "Broken", Broken, raising=False)
    panes = (*mw.PANES[:2], ("desktop.panes.missing", "Broken", "Program", "program"), *mw.PANES[3:])
    monkeypatch.setattr(mw, "PANES", panes)
    with caplog.at_level(logging.ERROR):
        window = MainWindow()
    qtbot.addWidget(window)
    assert "RuntimeError: boom" in window.pane("Program").reason
    assert "failed to load" in caplog.text


def test_recent_projects_are_remembered_and_missing_ones_greyed(qtbot, window, sample_project, tmp_path):
    settings = AppSettings()
    settings.add_recent(tmp_path / "gone", "gone")
    open_in(qtbot, window, sample_project.root)
    recent = settings.recent_projects()
    assert [r.name for r in recent] == ["support-triage", "gone"]
    assert settings.last_project == str(sample_project.root)
    window.close_project()
    assert window.windowTitle() == "DSPy Workbench" and window.current_pane.title == "Start"
    items = [window.start_pane.recent.item(i) for i in range(window.start_pane.recent.count())]
    assert "folder not found" in items[1].text()
    assert not items[1].flags() & Qt.ItemFlag.ItemIsEnabled
    window.start_pane.recent.itemActivated.emit(items[0])
    qtbot.waitUntil(lambda: window.session.is_open, timeout=10_000)


def test_recent_list_keeps_at_most_ten(tmp_path):
    settings = AppSettings()
    for n in range(12):
        settings.add_recent(tmp_path / f"p{n}", f"p{n}")
    recent = settings.recent_projects()
    assert len(recent) == 10 and recent[0].name == "p11"


def test_new_project_from_the_sample_in_a_chosen_folder(qtbot, window, tmp_path, answers):
    (tmp_path / "projects").mkdir()
    (tmp_path / "projects" / "something-else").mkdir()
    answers.folder = str(tmp_path / "projects")
    window.start_pane.sample_button.click()
    qtbot.waitUntil(lambda: window.session.is_open, timeout=10_000)
    assert window.session.project.root == (tmp_path / "projects" / "support-triage").resolve()
    assert len(window.session.project.frame) == 300


def test_new_empty_project(qtbot, window, tmp_path, answers):
    answers.folder = str(tmp_path / "empty-one")
    window.start_pane.empty_button.click()
    qtbot.waitUntil(lambda: window.session.is_open, timeout=10_000)
    assert len(window.session.project.frame) == 0
    dataset = window.pane("Dataset")
    assert dataset.table_stack.currentWidget() is dataset.empty


def test_opening_a_folder_that_is_not_a_project_says_what_to_do(qtbot, window, tmp_path, answers):
    window.open_project(tmp_path)
    qtbot.waitUntil(lambda: window.opening is None and bool(answers.errors), timeout=10_000)
    assert "is not a DSPy Workbench project" in answers.errors[0][1]
    assert "Start" in answers.errors[0][1]
    assert not window.session.is_open


def test_geometry_and_last_pane_come_back(qtbot, sample_project, monkeypatch):
    # Placeholders for the other panes keep the window's minimum size below the offscreen screen's.
    monkeypatch.setattr(mw, "PANES", mw.PANES[:2] + tuple((f"desktop.panes.absent_{t}", "X", t, i)
                                                          for _, _, t, i in mw.PANES[2:]))
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    open_in(qtbot, first, sample_project.root)
    first.resize(720, 520)
    first.show_pane("Metric")
    first.close()
    second = MainWindow()
    qtbot.addWidget(second)
    assert (second.width(), second.height()) == (720, 520)
    open_in(qtbot, second, sample_project.root)
    assert second.current_pane.title == "Metric"


class BusyPane(Pane):
    title = "Busy"

    def __init__(self, session, parent=None):
        super().__init__(session, parent)
        self.busy, self.stopped = True, 0

    def is_busy(self):
        return self.busy

    def shutdown(self, timeout_ms=10_000):
        self.stopped += 1
        self.busy = False


def test_closing_while_a_run_is_busy_asks_and_shuts_every_pane_down(qtbot, window, sample_project, answers):
    open_in(qtbot, window, sample_project.root)
    busy = BusyPane(window.session, window)
    window.panes.append(busy)
    answers.confirm = False
    assert not window.close()
    assert answers.questions == ["A run is in progress. Cancel it and quit?"]
    assert window.isVisible() and busy.stopped == 0
    answers.confirm = True
    assert window.close()
    assert busy.stopped == 1


def test_the_leak_state_shows_in_the_status_bar(qtbot, window, sample_project):
    from desktop.dataset_commands import EditCell, push

    open_in(qtbot, window, sample_project.root)
    session = window.session
    frame = session.project.frame
    for field in session.project.program.input_names:
        push(session, EditCell(session, 1, field, frame[field].iat[0]))
    qtbot.waitUntil(lambda: "1 leak: compiling blocked" in window.leak_label.text())
    window._leak_link("leaks")
    assert window.current_pane.title == "Dataset"
    assert window.pane("Dataset").model.rowCount() == 2


def test_another_project_opens_on_dataset_and_the_one_you_left_on_its_pane(qtbot, window, sample_project, tmp_path):
    from engine.project import Project

    other = Project.create(tmp_path / "other", sample="support-triage")
    open_in(qtbot, window, sample_project.root)
    window.show_pane("Runs")
    open_in(qtbot, window, other.root)
    qtbot.waitUntil(lambda: window.session.project.root == other.root, timeout=10_000)
    assert window.current_pane.title == "Dataset"
    window.show_pane("Metric")
    open_in(qtbot, window, other.root)
    assert window.current_pane.title == "Metric"


def test_switching_project_clears_the_last_projects_current_run(qtbot, window, sample_project, tmp_path):
    from engine.jobs.events import TrialFinished
    from engine.project import Project

    other = Project.create(tmp_path / "other", sample="support-triage")
    open_in(qtbot, window, sample_project.root)
    runs = window.pane("Runs")
    runs._on_event(TrialFinished(index=1, score=0.5, best_so_far=0.5, kind="validation"))
    runs._last_run_id = "20260101-000000-abcd"
    runs.open_btn.setVisible(True)
    runs.stage_label.setText("Finished.")
    open_in(qtbot, window, other.root)
    qtbot.waitUntil(lambda: window.session.project.root == other.root, timeout=10_000)
    assert runs.trials_table.rowCount() == 0 and runs.chart.trials == []
    assert runs._last_run_id is None and not runs.open_btn.isVisibleTo(runs)
    assert runs.stage_label.text().startswith("No run in progress")


def test_help_lists_the_keyboard_shortcuts_the_window_really_has(qtbot, window, sample_project):
    open_in(qtbot, window, sample_project.root)
    help_menu = window.menuBar().actions()[-1].menu()
    entries = [a.text() for a in help_menu.actions()]
    assert "&Keyboard shortcuts" in entries
    window.show_shortcuts()
    table = window.shortcuts_dialog.table
    rows = [tuple(table.item(r, c).text() for c in range(3)) for r in range(table.rowCount())]
    keys = {row[1] for row in rows}
    assert {"Ctrl+Z", "Ctrl+1", "Ctrl+7", "Ctrl+Q", "Del"} <= keys
    assert ("Edit", "Ctrl+Shift+Z / Ctrl+Y", "Redo") in rows or any(r[1].startswith("Ctrl+Shift+Z") for r in rows)
    window.shortcuts_dialog.close()
