"""The one window: navigation on the left, the panes in a stack, menus, and a status bar.

It owns the session, autosave and the leakage watcher, opens and creates projects off the GUI
thread, remembers geometry / recent projects / the last pane (desktop.settings), and closes
cleanly: busy panes are asked to stop, the pending save is flushed, and no thread outlives it.

Panes other than Start and Dataset are imported defensively: if a module is absent from this
build (or fails to import) its page says so instead of taking the window down.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from desktop import background, icons, messages
from desktop.autosave import LABELS, AutoSaver
from desktop.leak_watch import watch
from desktop.panes.base import Pane
from desktop.session import ProjectSession
from desktop.settings import AppSettings

DEFAULT_SAMPLE = "support-triage"
log = logging.getLogger(__name__)

APP_TITLE = "DSPy Workbench"
# (module, class, title, icon): the panes in navigation order.
PANES = (
    ("desktop.panes.start", "StartPane", "Start", "start"),
    ("desktop.panes.dataset", "DatasetPane", "Dataset", "dataset"),
    ("desktop.panes.program", "ProgramPane", "Program", "program"),
    ("desktop.panes.metric", "MetricPane", "Metric", "metric"),
    ("desktop.panes.models", "ModelsPane", "Models", "models"),
    ("desktop.panes.runs", "RunsPane", "Runs", "runs"),
    ("desktop.panes.review", "ReviewPane", "Review", "review"),
)


def _load_project(path: str):
    """Open a project and read its table (on a pool thread: the table may be big)."""
    from engine.project import Project

    project = Project.open(path)
    project.frame  # noqa: B018 - load now, not later on the GUI thread
    return project


def _create_project(path: str, sample: str | None):
    from engine.project import Project

    project = Project.create(path, sample=sample)
    project.frame  # noqa: B018
    return project


def new_project_folder(chosen: str | Path, name: str) -> Path:
    """The chosen folder when it is empty, else a new sub-folder named after the project."""
    chosen = Path(chosen)
    if not chosen.exists() or (chosen.is_dir() and not any(chosen.iterdir())):
        return chosen
    candidate, number = chosen / name, 2
    while candidate.exists():
        candidate, number = chosen / f"{name}-{number}", number + 1
    return candidate


class MainWindow(QMainWindow):
    """The DSPy Workbench window.

    Signals: none; state lives in `self.session` (see desktop.session for its signals).
    """

    def __init__(self, settings: AppSettings | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings or AppSettings()
        self.session = ProjectSession(self)
        self.autosaver = AutoSaver(self.session)
        self.leak_watcher = watch(self.session)
        self.opening: str | None = None  # the folder being opened or created
        self._closing = False
        self.setWindowIcon(icons.app_icon())
        self.panes: list[Pane] = []
        self._build_panes()
        self._build_menus()
        self._build_status_bar()
        self.session.opened.connect(self._project_changed)
        self.session.closed.connect(self._project_changed)
        self.session.program_changed.connect(self._update_title)
        self.session.error.connect(lambda text: messages.error(self, APP_TITLE, text))
        self.session.leaks_changed.connect(self._show_leak_state)
        self.autosaver.state_changed.connect(self._show_save_state)
        self.start_pane.new_requested.connect(lambda sample: self.new_project(sample))
        self.start_pane.open_requested.connect(lambda: self.open_project())
        self.start_pane.open_path_requested.connect(lambda path: self.open_project(path))
        self._project_changed()
        geometry = self.settings.geometry
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 800)

    # -- panes ---------------------------------------------------------------------------------------

    def _build_panes(self) -> None:
        self.nav = QListWidget()
        self.nav.setIconSize(QSize(20, 20))
        self.nav.setSpacing(1)
        self.nav.setFixedWidth(172)
        self.nav.setFrameShape(QListWidget.Shape.NoFrame)
        self.nav.setStyleSheet(
            "QListWidget { padding-top: 8px; background: palette(base); outline: 0; }"
            "QListWidget::item { padding: 7px 8px; border: none; }"
            "QListWidget::item:selected { background: palette(highlight); color: palette(highlighted-text); }")
        self.nav.setAutoFillBackground(True)
        self.stack = QStackedWidget()
        for module, class_name, title, icon_name in PANES:
            pane = self._make_pane(module, class_name, title, icon_name)
            self.panes.append(pane)
            self.stack.addWidget(pane)
            item = QListWidgetItem(icons.icon(pane.icon_name or icon_name), pane.title or title)
            item.setToolTip(f"{pane.title or title} (Ctrl+{len(self.panes)})")
            self.nav.addItem(item)
        self.nav.currentRowChanged.connect(self._pane_chosen)
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.nav)
        line = QFrame(frameShape=QFrame.Shape.VLine, frameShadow=QFrame.Shadow.Sunken)
        row.addWidget(line)
        row.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.start_pane = self.panes[0]
        self.nav.setCurrentRow(0)

    def _make_pane(self, module_name: str, class_name: str, title: str, icon_name: str) -> Pane:
        from desktop.panes.missing import MissingPane

        try:
            module = importlib.import_module(module_name)
            return getattr(module, class_name)(self.session, self)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                log.exception("the %s pane failed to import", title)
                return MissingPane(self.session, title, icon_name, _broken(exc), self)
            file = module_name.replace(".", "/") + ".py"
            return MissingPane(self.session, title, icon_name, f"{file} is not part of this build yet.", self)
        except Exception as exc:  # noqa: BLE001 - one broken pane must not stop the app
            log.exception("the %s pane failed to load", title)
            return MissingPane(self.session, title, icon_name, _broken(exc), self)

    def pane(self, title: str) -> Pane:
        return next(p for p in self.panes if p.title == title)

    def show_pane(self, title: str) -> None:
        self.nav.setCurrentRow(self.panes.index(self.pane(title)))

    @property
    def current_pane(self) -> Pane:
        return self.panes[self.stack.currentIndex()]

    def _pane_chosen(self, row: int) -> None:
        if row < 0:
            return
        self.stack.setCurrentIndex(row)
        if self.session.is_open:
            self.settings.last_pane = self.panes[row].title
            self.settings.last_pane_project = str(self.session.project.root)

    # -- menus -----------------------------------------------------------------------------------------

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        file.addAction("New from &sample…", lambda: self.new_project(self._default_sample()))
        file.addAction("&New empty project…", lambda: self.new_project(None), QKeySequence.StandardKey.New)
        file.addAction("&Open…", lambda: self.open_project(), QKeySequence.StandardKey.Open)
        self.recent_menu = file.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file.addAction("Open &artifact…", lambda: self.open_artifact())
        file.addAction("Artifact&s…", lambda: self.show_artifacts())
        file.addSeparator()
        self.save_action = file.addAction("&Save", self.save_now, QKeySequence.StandardKey.Save)
        self.save_action.setToolTip("Changes are saved automatically; this saves right now")
        self.close_action = file.addAction("&Close project", self.close_project)
        file.addSeparator()
        quit_action = file.addAction("&Quit", self.close)
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        edit = bar.addMenu("&Edit")
        self.undo_action = self.session.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
        self.redo_action = self.session.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        edit.addAction(self.undo_action)
        edit.addAction(self.redo_action)

        view = bar.addMenu("&View")
        self.view_actions = []
        for number, pane in enumerate(self.panes, 1):
            action = view.addAction(icons.icon(pane.icon_name), pane.title,
                                    lambda row=number - 1: self.nav.setCurrentRow(row))
            action.setShortcut(QKeySequence(f"Ctrl+{number}"))
            self.view_actions.append(action)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction("&Keyboard shortcuts", self.show_shortcuts, QKeySequence("Ctrl+/"))
        about = help_menu.addAction("&About DSPy Workbench", self.show_about)
        about.setMenuRole(QAction.MenuRole.AboutRole)

    def _default_sample(self) -> str | None:
        # The sample the README opens; others (support-resolution, ticket-facts) are a choice away.
        samples = getattr(self.start_pane, "samples", [])
        return DEFAULT_SAMPLE if DEFAULT_SAMPLE in samples else (samples[0] if samples else None)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_projects()
        for project in recent:
            action = self.recent_menu.addAction(f"{project.name} — {project.path}",
                                                lambda path=project.path: self.open_project(path))
            action.setEnabled(project.exists)
        if not recent:
            self.recent_menu.addAction("No recent projects").setEnabled(False)

    def show_shortcuts(self) -> None:
        from desktop.dialogs.shortcuts_dialog import ShortcutsDialog

        self.shortcuts_dialog = ShortcutsDialog(self)
        self.shortcuts_dialog.show()

    def show_about(self) -> None:
        from engine import __version__
        from engine.paths import log_dir

        messages.about(self, "About DSPy Workbench",
                       f"<h3>DSPy Workbench {__version__}</h3><p>Define a DSPy program, curate its examples, "
                       "compile it against a local or hosted model, compare it with the baseline on a "
                       "held-out test split, review it and export a state-only artifact.</p>"
                       f"<p>Log file: {log_dir() / 'desktop.log'}</p>")

    # -- status bar ------------------------------------------------------------------------------------

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        bar.setStyleSheet("QStatusBar::item { border: none; } QStatusBar QLabel { padding: 0 8px; }")
        self.path_label = QLabel()
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.leak_label = QLabel()
        self.leak_label.linkActivated.connect(self._leak_link)
        self.save_label = QLabel()
        bar.addWidget(self.path_label, 1)
        bar.addPermanentWidget(self.leak_label)
        bar.addPermanentWidget(self.save_label)

    def _show_save_state(self, state: str) -> None:
        self.save_label.setText(LABELS[state] if self.session.is_open else "")
        self.save_label.setToolTip("The project is saved automatically about a second after each change")

    def _show_leak_state(self, leaks: list) -> None:
        if not self.session.is_open:
            self.leak_label.clear()
        elif leaks:
            from desktop.theme import banner_colors

            color = banner_colors("error")[2]
            self.leak_label.setText(f"<a href='leaks' style='color:{color}; font-weight:bold'>"
                                    f"⚠ {len(leaks)} leak{'s' if len(leaks) != 1 else ''}: compiling blocked</a>")
        else:
            self.leak_label.setText("No leakage between splits")

    def _leak_link(self, _link: str) -> None:
        self.show_pane("Dataset")
        dataset = self.pane("Dataset")
        if hasattr(dataset, "show_leak_rows"):
            dataset.show_leak_rows()

    # -- projects --------------------------------------------------------------------------------------

    def _project_changed(self) -> None:
        project = self.session.project
        self._update_title()
        for row in range(1, self.nav.count()):
            item = self.nav.item(row)
            flags = item.flags()
            item.setFlags(flags | Qt.ItemFlag.ItemIsEnabled if project else flags & ~Qt.ItemFlag.ItemIsEnabled)
        for action in self.view_actions[1:]:
            action.setEnabled(project is not None)
        self.close_action.setEnabled(project is not None)
        self.save_action.setEnabled(project is not None)
        self.path_label.setText(str(project.root) if project else "No project open")
        self._show_save_state(self.autosaver.state)
        self._show_leak_state(self.session.leaks)
        self.start_pane.set_recent(self.settings.recent_projects())
        if project is None:
            self.nav.setCurrentRow(0)

    def _update_title(self) -> None:
        project = self.session.project
        self.setWindowTitle(f"{project.name} — {APP_TITLE}" if project else APP_TITLE)

    def open_project(self, path: str | Path | None = None) -> None:
        """Open a project folder (asks for one when `path` is None); the table loads off the GUI thread."""
        if path is None:
            current = self.session.project
            path = messages.choose_folder(self, "Open a project folder",
                                          str(current.root.parent) if current else str(Path.home()))
            if not path:
                return
        if not (Path(path) / "project.toml").is_file():
            messages.error(self, "Cannot open the project",
                           f"{path} is not a DSPy Workbench project: it has no project.toml. Choose the "
                           "project's own folder, or create a new project from the Start pane.")
            self.start_pane.set_recent(self.settings.recent_projects())
            return
        self._start_loading(str(path), lambda: _load_project(str(path)))

    def open_artifact(self, path: str | Path | None = None):
        """Open an exported bundle (or a DSPy save) in its own window; no project or network needed.
        Asks for the folder when `path` is None. Returns the window (None when the user cancelled)."""
        from desktop.artifacts.windows import open_artifact_window

        return open_artifact_window(self, path)

    def show_artifacts(self):
        """The compilation matrix of the open project's artifacts/ and the folders the user adds."""
        from desktop.artifacts.windows import show_matrix_window

        return show_matrix_window(self)

    def new_project(self, sample: str | None, folder: str | Path | None = None) -> None:
        """Create a project from a sample (or empty) in `folder` (asks when None) and open it."""
        if folder is None:
            folder = messages.choose_folder(self, f"Choose a folder for the new {sample or 'empty'} project")
            if not folder:
                return
        target = new_project_folder(folder, sample or "dspy-project")
        self._start_loading(str(target), lambda: _create_project(str(target), sample))

    def _start_loading(self, path: str, load) -> None:
        if self.opening is not None:
            return
        if not self._leave_project():
            return
        self.opening = path
        self.statusBar().showMessage(f"Opening {path}…")
        self.setCursor(Qt.CursorShape.BusyCursor)
        background.run(load, self._loaded, lambda exc: self._load_failed(path, exc))

    def _loaded(self, project) -> None:
        self.opening = None
        self.unsetCursor()
        self.statusBar().clearMessage()
        if self._closing:
            return
        self.settings.add_recent(project.root, project.name)
        self.settings.last_project = str(project.root)
        same_project = self.settings.last_pane_project == str(project.root)
        self.session.open(project)
        # Reopening the project you left returns to its pane; any other project starts on Dataset.
        last = self.settings.last_pane if same_project else ""
        titles = [p.title for p in self.panes]
        self.nav.setCurrentRow(titles.index(last) if last in titles and last != "Start" else 1)

    def _load_failed(self, path: str, exc: BaseException) -> None:
        from engine.errors import WorkbenchError

        self.opening = None
        self.unsetCursor()
        self.statusBar().clearMessage()
        self.start_pane.set_recent(self.settings.recent_projects())
        if isinstance(exc, WorkbenchError):
            text = str(exc)
        elif isinstance(exc, OSError):
            text = (f"Cannot open {path}: {exc.strerror or exc}. Check that the folder exists and that you "
                    "may write to it.")
        else:
            from engine.paths import log_dir

            text = (f"Opening {path} failed unexpectedly ({type(exc).__name__}). The details are in "
                    f"{log_dir() / 'desktop.log'}.")
        messages.error(self, "Cannot open the project", text)

    def save_now(self) -> None:
        if self.session.is_open:
            self.autosaver.start_save()

    def close_project(self) -> bool:
        if not self._leave_project():
            return False
        self.session.close()
        return True

    def _leave_project(self) -> bool:
        """Before the project goes away: stop busy panes (asking first) and flush the save."""
        if not self.session.is_open:
            return True
        busy = [pane for pane in self.panes if pane.is_busy()]
        if busy and not messages.confirm(self, "A run is in progress",
                                         "A run is in progress. Cancel it and continue?",
                                         yes="Cancel the run", no="Keep running"):
            return False
        for pane in busy:
            _shutdown(pane)
        return self.autosaver.flush() or messages.confirm(
            self, "Not saved", "The latest changes could not be saved (see the previous message). "
            "Close the project anyway and lose them?", yes="Close without saving", no="Stay")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if self.opening is not None:
            background.wait_all()
        if any(pane.is_busy() for pane in self.panes) and not messages.confirm(
                self, "Quit DSPy Workbench", "A run is in progress. Cancel it and quit?",
                yes="Cancel the run and quit", no="Keep running"):
            event.ignore()
            return
        self._closing = True
        for pane in self.panes:
            _shutdown(pane)
        if self.session.is_open and not self.autosaver.flush() and not messages.confirm(
                self, "Not saved", "The latest changes could not be saved (see the previous message). "
                "Quit anyway and lose them?", yes="Quit without saving", no="Stay"):
            self._closing = False
            event.ignore()
            return
        self.settings.geometry = self.saveGeometry()
        self.settings.sync()
        background.wait_all()
        event.accept()


def _shutdown(pane: Pane) -> None:
    try:
        pane.shutdown()
    except Exception:  # noqa: BLE001 - closing must go on; the log keeps the details
        log.exception("shutting down the %s pane failed", pane.title)


def _broken(exc: BaseException) -> str:
    from engine.paths import log_dir

    return (f"It failed to load ({type(exc).__name__}: {exc}). The details are in "
            f"{log_dir() / 'desktop.log'}.")
