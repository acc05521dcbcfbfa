"""Fixtures for the GUI tests: offscreen Qt, throw-away settings and app folders, a sample project,
answers for modal questions, and a check that no test leaves a thread running."""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QSettings, QStandardPaths, QThread, QThreadPool  # noqa: E402

SAMPLE = "support-triage"
# The offscreen platform cannot pass size hints to a window manager; harmless, and not ours.
OFFSCREEN_NOISE = "This plugin does not support propagateSizeHints"


def pytest_collection_modifyitems(items):
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOISE))


@pytest.fixture(scope="session", autouse=True)
def _app_identity(qapp, tmp_path_factory):
    """The app's names (QSettings keys off them) and QSettings/QStandardPaths in temporary places."""
    qapp.setApplicationName("DSPy Workbench")
    qapp.setOrganizationName("dspy-workbench")
    QStandardPaths.setTestModeEnabled(True)
    folder = str(tmp_path_factory.mktemp("qsettings"))
    for kind in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(kind, QSettings.Scope.UserScope, folder)
        QSettings.setPath(kind, QSettings.Scope.SystemScope, folder)
    yield


@pytest.fixture(autouse=True)
def _fresh_settings():
    QSettings().clear()
    yield
    QSettings().clear()


@pytest.fixture(autouse=True)
def workbench_home(tmp_path, monkeypatch):
    """DSPY_WORKBENCH_HOME in a temporary folder: logs, config and user data never touch the real ones."""
    home = tmp_path / "workbench-home"
    monkeypatch.setenv("DSPY_WORKBENCH_HOME", str(home))
    return home


@pytest.fixture
def sample_project(tmp_path):
    """A fresh copy of the support-triage sample, with its table loaded."""
    from engine.project import Project

    project = Project.create(tmp_path / SAMPLE, sample=SAMPLE)
    project.frame  # noqa: B018
    return project


@pytest.fixture
def session(qapp, sample_project):
    from desktop.session import ProjectSession

    session = ProjectSession()
    session.open(sample_project)
    yield session
    session.close()
    session.deleteLater()


@dataclass
class Answers:
    """What the user "answers" to modal questions; what the app said to them."""

    confirm: bool = True
    folder: str = ""
    file: str = ""
    text: str | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)
    infos: list[tuple[str, str]] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)


@pytest.fixture(autouse=True)
def answers(monkeypatch):
    """Replace desktop.messages so no modal dialog ever blocks a test."""
    from desktop import messages

    given = Answers()
    monkeypatch.setattr(messages, "error", lambda parent, title, text: given.errors.append((title, text)))
    monkeypatch.setattr(messages, "info", lambda parent, title, text: given.infos.append((title, text)))
    monkeypatch.setattr(messages, "about", lambda parent, title, text: given.infos.append((title, text)))

    def confirm(parent, title, text, yes="Yes", no="No"):
        given.questions.append(text)
        return given.confirm

    monkeypatch.setattr(messages, "confirm", confirm)
    monkeypatch.setattr(messages, "open_file", lambda parent, title, filters="", start="": given.file)
    monkeypatch.setattr(messages, "choose_folder", lambda parent, title, start="": given.folder)
    monkeypatch.setattr(messages, "ask_text", lambda parent, title, label, text="", choices=None: given.text)
    return given


@pytest.fixture(autouse=True)
def _dangling_threads(monkeypatch, request):
    """Fail a test that leaves a QThread or a pool task running (it would leak into the next test)."""
    started: WeakKeyDictionary = WeakKeyDictionary()
    original = QThread.start

    def start(self, *args, **kwargs):
        caller = inspect.stack()[1]
        started[self] = f"{caller.filename}:{caller.lineno}"
        return original(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", start)
    yield
    running = []
    for thread, where in list(started.items()):
        try:
            if thread.isRunning():
                running.append(where)
        except RuntimeError:  # the C++ object is already gone: not running
            pass
    pool = QThreadPool.globalInstance()
    # A task that has just delivered its result may still be returning: allow it a moment.
    busy = 0 if pool.waitForDone(1_000) else pool.activeThreadCount()
    if busy:
        pool.waitForDone(30_000)
    if running or busy:
        pytest.fail(f"{request.node.name} left threads running: QThreads started at {running}, "
                    f"{busy} pool task(s)")
