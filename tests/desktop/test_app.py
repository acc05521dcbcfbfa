"""desktop.app: the application's identity, theme, logging, and what the user sees when something breaks."""

from __future__ import annotations

import logging
import sys

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette

from desktop import app, theme

pytestmark = pytest.mark.qt_log_level_fail("WARNING")


@pytest.fixture
def app_setup(qapp, monkeypatch):
    """make_application() on the test's QApplication, undoing its global hooks afterwards."""
    from PySide6.QtCore import qInstallMessageHandler

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    root = logging.getLogger()
    handlers, level, palette, style = list(root.handlers), root.level, qapp.palette(), qapp.style().name()
    application = app.make_application()
    qInstallMessageHandler(None)  # give Qt messages back to pytest-qt
    yield application
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    application.setPalette(palette)
    application.setStyle(style)


def test_application_identity_and_style(app_setup):
    assert app_setup.applicationName() == "DSPy Workbench"
    assert app_setup.organizationName() == "dspy-workbench"
    assert app_setup.style().name().lower() == "fusion"
    assert not app_setup.windowIcon().isNull()
    assert sys.excepthook is app.excepthook


def test_the_palette_follows_the_scheme(app_setup, monkeypatch):
    monkeypatch.setenv(theme.THEME_ENV, "dark")
    app_setup.workbench_theme.apply()
    assert theme.is_dark()
    window, text = (app_setup.palette().color(r) for r in (QPalette.ColorRole.Window, QPalette.ColorRole.WindowText))
    assert window.lightness() < 80 and text.lightness() > 200
    monkeypatch.setenv(theme.THEME_ENV, "light")
    app_setup.workbench_theme.apply()
    assert not theme.is_dark()


def test_icons_render_from_svg_in_the_palette_colour(app_setup):
    from desktop import icons

    for name in ("start", "dataset", "program", "metric", "models", "runs", "review"):
        image = icons.icon(name).pixmap(24, 24).toImage()
        assert not image.isNull()
        opaque = [image.pixelColor(x, y) for x in range(image.width()) for y in range(image.height())
                  if image.pixelColor(x, y).alpha() > 200]
        assert opaque, name
    assert not icons.app_icon().isNull()


def test_uncaught_errors_are_logged_in_full_and_shown_briefly(app_setup, answers, workbench_home):
    try:
        raise KeyError("the missing thing")
    except KeyError:
        app.excepthook(*sys.exc_info())
    logged = app.log_path().read_text("utf-8")
    assert "Traceback" in logged and "the missing thing" in logged
    (title, text), = answers.errors
    assert "Traceback" not in text and "KeyError" in text and str(app.log_path()) in text


def test_workbench_errors_show_their_own_message(app_setup, answers):
    from engine.errors import DatasetError

    app.excepthook(DatasetError, DatasetError("data.csv: line 3 is bad; fix it"), None)
    assert answers.errors == [("DSPy Workbench", "data.csv: line 3 is bad; fix it")]


def test_make_window_opens_the_last_project_when_none_is_given(qtbot, app_setup, sample_project):
    from desktop.settings import AppSettings

    AppSettings().last_project = str(sample_project.root)
    window = app.make_window([])
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.session.is_open, timeout=10_000)
    assert window.session.project.root == sample_project.root
    window.close()


def test_make_window_shows_start_when_the_last_project_is_gone(qtbot, app_setup, tmp_path):
    from desktop.settings import AppSettings

    AppSettings().last_project = str(tmp_path / "deleted")
    window = app.make_window([])
    qtbot.addWidget(window)
    assert window.opening is None and window.current_pane.title == "Start"
    assert window.nav.currentItem().text() == "Start"
    assert window.nav.item(0).flags() & Qt.ItemFlag.ItemIsEnabled


def test_void_qt_calls_cannot_use_up_none():
    """PySide6 6.12.0 on Python 3.11 drops a reference to None per void call until CPython aborts;
    pyproject.toml keeps PySide6 below 6.12. This fails if a release with that bug gets installed."""
    import subprocess

    code = ("import desktop.session\n"
            "from PySide6.QtCore import QObject\n"
            "probe = QObject()\n"
            "for _ in range(300_000):\n"
            "    probe.setObjectName('x')\n"
            "print('alive')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "alive", result.stderr[-500:]
