"""Start the desktop app: `dspy-workbench-gui [PROJECT_DIR]` or `dspy-workbench app [DIR]`.

Creates the QApplication (name and organization give QSettings its place), follows the OS light /
dark scheme (desktop.theme), logs to `<log dir>/desktop.log` with full detail while the user only
ever sees a short, actionable message, then shows the main window and opens the project named on
the command line, else the last one, else the Start pane.

Cold start stays fast: nothing here imports DSPy or LiteLLM (the engine imports them lazily, when
a compile or an evaluation needs them), and the project's table is read off the GUI thread after
the window has painted.

Memory: Arrow (under pandas' string columns) uses the C allocator here rather than its bundled
mimalloc, so the large temporaries of reading, leakage-checking and saving a big table go back to
the OS afterwards (`background.release_memory`) instead of staying pooled in the process.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

# Before anything imports pyarrow (see the module docstring).
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
# LiteLLM would otherwise fetch its price map from the network on first use (seconds offline).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from PySide6.QtCore import Qt, QtMsgType, qInstallMessageHandler  # noqa: E402
from PySide6.QtGui import QGuiApplication  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

APP_NAME = "DSPy Workbench"
ORGANIZATION = "dspy-workbench"
LOG_FILE = "desktop.log"

log = logging.getLogger("desktop")
_showing_error = False


def log_path() -> Path:
    from engine.paths import log_dir

    return log_dir() / LOG_FILE


def setup_logging() -> Path:
    """Everything at INFO and above goes to a rotating log file (and warnings to stderr)."""
    path = log_path()
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    return path


def _qt_message(kind: QtMsgType, context, message: str) -> None:
    level = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
             QtMsgType.QtWarningMsg: logging.WARNING}.get(kind, logging.ERROR)
    logging.getLogger("qt").log(level, "%s (%s:%s)", message, context.file, context.line)


def excepthook(exc_type, exc, tb) -> None:
    """Log any uncaught exception in full; show the user one short message, never a traceback."""
    global _showing_error
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    from engine.errors import WorkbenchError

    if isinstance(exc, WorkbenchError):
        log.warning("%s", exc)
        text = str(exc)
    else:
        log.error("unexpected error", exc_info=(exc_type, exc, tb))
        text = (f"Something went wrong ({exc_type.__name__}: {str(exc)[:200]}). Your work is saved "
                f"automatically. The details are in {log_path()}; please include them if you report this.")
    if _showing_error or QApplication.instance() is None:
        return
    _showing_error = True
    try:
        from desktop import messages

        messages.error(QApplication.activeWindow(), APP_NAME, text)
    finally:
        _showing_error = False


def make_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication with names, icon, theme, logging and the exception hook in place."""
    from desktop import icons, theme

    existing = QApplication.instance()
    if existing is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = existing or QApplication([sys.argv[0] if sys.argv else "dspy-workbench", *(argv or [])])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORGANIZATION)
    app.setDesktopFileName("io.github.dspy_workbench.Workbench")
    app.setWindowIcon(icons.app_icon())
    setup_logging()
    qInstallMessageHandler(_qt_message)
    sys.excepthook = excepthook
    app.workbench_theme = theme.install(app)  # keep it alive with the app
    return app


def make_window(args: list[str]):
    """The main window, shown, opening args[0] (a project or an artifact) or the last project."""
    from desktop.main_window import MainWindow

    window = MainWindow()
    # Quitting without closing the window (a session logout, app.quit()) still stops every pane's
    # threads and flushes the save: Qt aborts the process if a running QThread is destroyed.
    QApplication.instance().aboutToQuit.connect(window.close)
    window.show()
    if args:
        open_path(window, args[0])
    elif window.settings.last_project and (Path(window.settings.last_project) / "project.toml").is_file():
        window.open_project(window.settings.last_project)
    return window


def open_path(window, path: str | Path) -> None:
    """Open what the file manager (the desktop entry's %f) or the command line hands the app: a
    project folder (or its project.toml), or an exported artifact bundle (or its manifest.json)."""
    target = Path(path).expanduser()
    if target.is_file() and target.name in ("project.toml", "manifest.json"):
        target = target.parent
    if (target / "manifest.json").is_file() and not (target / "project.toml").is_file():
        open_artifact = getattr(window, "open_artifact", None)
        if open_artifact is not None:
            open_artifact(str(target))
        else:
            from desktop import messages

            messages.error(window, "Cannot open the artifact",
                           f"{target} is an exported artifact; review it with "
                           f"`dspy-workbench artifact show {target}`.")
        return
    window.open_project(str(target))


def quit_on_signals(app: QApplication) -> None:
    """Ctrl+C in the terminal or SIGTERM (logout, `kill`) close the window properly: busy panes are
    stopped and the pending save is flushed. Python only sees a signal when it runs, so a timer
    wakes it a few times a second while Qt's event loop waits."""
    import signal

    from PySide6.QtCore import QTimer

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: app.quit())
    app.signal_timer = QTimer(app, interval=250)
    app.signal_timer.timeout.connect(lambda: None)
    app.signal_timer.start()


def main(argv: list[str] | None = None) -> int:
    """Run the app; returns the exit code. `argv`: [PROJECT_DIR] or [] (not the program name)."""
    args = list(sys.argv[1:] if argv is None else argv)
    app = make_application()
    quit_on_signals(app)
    window = make_window(args)  # noqa: F841 - alive until exec() returns
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
