"""Autosave: debounced background saves of a snapshot, atomic files, a flush on close, failures reported."""

from __future__ import annotations

import threading

import pytest

from desktop import autosave
from desktop.autosave import SAVED, SAVING, UNSAVED, AutoSaver
from desktop.dataset_commands import EditCell, push

pytestmark = pytest.mark.qt_log_level_fail("WARNING")


@pytest.fixture
def saver(session, monkeypatch):
    monkeypatch.setattr(autosave, "DEBOUNCE_MS", 50)
    return AutoSaver(session)


def saved_table(project):
    from engine import datasets

    return datasets.load_frame(project.data_path, project.field_names)


def leftovers(project):
    return sorted(p.name for p in project.root.rglob("*.tmp"))


def test_the_default_debounce_is_about_a_second(session):
    assert AutoSaver(session)._timer.interval() == 1000


def test_an_edit_is_saved_shortly_after_and_atomically(qtbot, session, saver):
    states = []
    saver.state_changed.connect(states.append)
    push(session, EditCell(session, 0, "ticket_text", "autosaved text"))
    assert saver.state == UNSAVED and session.dirty
    qtbot.waitUntil(lambda: saver.state == SAVED, timeout=10_000)
    assert states == [UNSAVED, SAVING, SAVED]
    assert not session.dirty
    assert saved_table(session.project)["ticket_text"].iat[0] == "autosaved text"
    assert leftovers(session.project) == []


def test_a_burst_of_edits_is_saved_once(qtbot, session, saver, monkeypatch):
    calls = []
    real_write = autosave.write
    monkeypatch.setattr(autosave, "write", lambda copy: (calls.append(1), real_write(copy)))
    for n in range(5):
        push(session, EditCell(session, n, "urgency", "high"))
    qtbot.waitUntil(lambda: saver.state == SAVED, timeout=10_000)
    assert len(calls) == 1
    assert (saved_table(session.project)["urgency"].iloc[:5] == "high").all()


def test_edits_during_a_save_are_not_lost_and_the_save_sees_a_stable_snapshot(qtbot, session, saver, monkeypatch):
    release, entered, written = threading.Event(), threading.Event(), []
    real_write = autosave.write

    def slow_write(copy):
        entered.set()
        release.wait(10)
        written.append(copy.frame["ticket_text"].iat[0])
        real_write(copy)

    monkeypatch.setattr(autosave, "write", slow_write)
    push(session, EditCell(session, 0, "ticket_text", "first"))
    qtbot.waitUntil(entered.is_set, timeout=10_000)
    push(session, EditCell(session, 0, "ticket_text", "second"))  # while the first save runs
    release.set()
    qtbot.waitUntil(lambda: len(written) == 2 and saver.state == SAVED, timeout=10_000)
    assert written == ["first", "second"]  # the first save wrote its snapshot, not the later edit
    assert saved_table(session.project)["ticket_text"].iat[0] == "second"


def test_config_changes_are_saved_too(qtbot, session, saver):
    from engine.project import Project

    session.project.config.description = "changed in the GUI"
    session.notify_changed(metric=True)
    qtbot.waitUntil(lambda: saver.state == SAVED, timeout=10_000)
    assert Project.open(session.project.root).config.description == "changed in the GUI"


def test_flush_writes_pending_edits_at_once(session, saver):
    push(session, EditCell(session, 2, "ticket_text", "flushed"))
    assert saver.pending
    assert saver.flush()
    assert saver.state == SAVED and not session.dirty
    assert saved_table(session.project)["ticket_text"].iat[2] == "flushed"


def test_a_failed_save_is_reported_and_keeps_the_changes(qtbot, session, saver, monkeypatch):
    def fail(copy):
        raise OSError(28, "No space left on device")

    real_write = autosave.write
    monkeypatch.setattr(autosave, "write", fail)
    with qtbot.waitSignal(session.error, timeout=10_000) as error:
        push(session, EditCell(session, 0, "ticket_text", "unsaved"))
    assert "No space left on device" in error.args[0] and "Ctrl+S" in error.args[0]
    assert saver.state == autosave.FAILED and session.dirty
    monkeypatch.setattr(autosave, "write", real_write)  # the disk has room again: Ctrl+S / close saves
    assert saver.flush()
    assert saved_table(session.project)["ticket_text"].iat[0] == "unsaved"


def test_closing_the_window_flushes_the_pending_save(qtbot, sample_project):
    from desktop.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    window.open_project(sample_project.root)
    qtbot.waitUntil(lambda: window.session.is_open, timeout=10_000)
    session = window.session
    push(session, EditCell(session, 1, "ticket_text", "written on close"))
    assert window.autosaver.pending
    assert window.close()
    assert saved_table(session.project)["ticket_text"].iat[1] == "written on close"
    assert window.save_label.text() == "All changes saved"
