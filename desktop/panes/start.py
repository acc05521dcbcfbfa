"""The Start pane: what the app is for, and the ways into a project (sample, empty, open, recent)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop import icons
from desktop.panes.base import Pane
from desktop.session import ProjectSession
from desktop.settings import RecentProject

WELCOME = (
    "<ol style='margin-left:-20px'>"
    "<li><b>Curate</b> examples in <i>Dataset</i> and split them into train, validation and test.</li>"
    "<li><b>Define</b> the <i>Program</i> and its <i>Metric</i>, pick a local or hosted model in <i>Models</i>.</li>"
    "<li><b>Compile</b> in <i>Runs</i>, compare with the baseline on test, then <i>Review</i> and export.</li>"
    "</ol>"
)
PATH_ROLE = Qt.ItemDataRole.UserRole


class StartPane(Pane):
    """Welcome text, project creation and the recent projects list.

    Signals:
        new_requested(object)     create a project: a sample's name, or None for an empty project
        open_requested()          choose a project folder to open
        open_path_requested(str)  open this project folder (a recent project was double-clicked)
    """

    title = "Start"
    icon_name = "start"
    new_requested = Signal(object)
    open_requested = Signal()
    open_path_requested = Signal(str)

    def __init__(self, session: ProjectSession, parent: QWidget | None = None):
        super().__init__(session, parent)
        from engine.project import list_samples

        self.samples = list_samples()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        outer.addWidget(scroll)
        page = QWidget()
        scroll.setWidget(page)
        centre = QHBoxLayout(page)
        column = QVBoxLayout()
        column.setSpacing(14)
        column.setContentsMargins(32, 28, 32, 28)
        holder = QWidget(maximumWidth=820)
        holder.setLayout(column)
        centre.addStretch(1)
        centre.addWidget(holder, 4)
        centre.addStretch(1)

        heading = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(icons.app_icon().pixmap(QSize(56, 56)))
        heading.addWidget(logo)
        title = QLabel("DSPy Workbench")
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 1.9)
        font.setBold(True)
        title.setFont(font)
        subtitle = QLabel("Optimize DSPy prompt programs on your own laptop.")
        subtitle.setStyleSheet("color: palette(placeholder-text);")
        words = QVBoxLayout()
        words.setSpacing(0)
        words.addWidget(title)
        words.addWidget(subtitle)
        heading.addSpacing(8)
        heading.addLayout(words, 1)
        column.addLayout(heading)

        self.welcome = QLabel(WELCOME, wordWrap=True, textFormat=Qt.TextFormat.RichText)
        column.addWidget(self.welcome)

        column.addSpacing(4)
        column.addWidget(_section("Start a project"))
        sample_row = QHBoxLayout()
        sample_row.addWidget(QLabel("Sample:"))
        self.sample_combo = QComboBox(minimumContentsLength=18)
        self.sample_combo.addItems(self.samples)
        if "support-triage" in self.samples:  # the README's sample comes first to hand
            self.sample_combo.setCurrentText("support-triage")
        self.sample_combo.setEnabled(bool(self.samples))
        sample_row.addWidget(self.sample_combo)
        self.sample_button = QPushButton("New from sample…")
        self.sample_button.setDefault(True)
        self.sample_button.setEnabled(bool(self.samples))
        self.sample_button.setToolTip("Copy the sample project (program, metric, 300 labelled examples) "
                                      "into a folder you choose")
        self.sample_button.clicked.connect(lambda: self.new_requested.emit(self.sample_combo.currentText()))
        sample_row.addWidget(self.sample_button)
        sample_row.addStretch(1)
        column.addLayout(sample_row)
        other_row = QHBoxLayout()
        self.empty_button = QPushButton("New empty project…")
        self.empty_button.setToolTip("A project with a one-stage text → label program and no examples yet")
        self.empty_button.clicked.connect(lambda: self.new_requested.emit(None))
        other_row.addWidget(self.empty_button)
        self.open_button = QPushButton("Open project…")
        self.open_button.setToolTip("Open a folder that contains a project.toml")
        self.open_button.clicked.connect(self.open_requested)
        other_row.addWidget(self.open_button)
        other_row.addStretch(1)
        column.addLayout(other_row)

        column.addSpacing(8)
        column.addWidget(_section("Recent projects"))
        self.recent = QListWidget()
        self.recent.setIconSize(QSize(20, 20))
        self.recent.setSpacing(2)
        self.recent.itemActivated.connect(self._activated)
        column.addWidget(self.recent)
        self.recent_hint = QLabel("Projects you open appear here.")
        self.recent_hint.setStyleSheet("color: palette(placeholder-text);")
        column.addWidget(self.recent_hint)
        column.addStretch(1)

    def set_recent(self, projects: list[RecentProject]) -> None:
        """Show the recent projects; folders that are gone are greyed out with a note."""
        self.recent.clear()
        disabled = self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        for project in projects:
            exists = project.exists
            text = f"{project.name}\n{project.path}" + ("" if exists else "   (folder not found)")
            item = QListWidgetItem(icons.icon("dataset"), text)
            item.setData(PATH_ROLE, project.path)
            item.setToolTip(project.path if exists else f"{project.path} no longer holds a project; "
                                                          "it was moved or deleted")
            if not exists:
                item.setForeground(disabled)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            self.recent.addItem(item)
        self.recent.setVisible(bool(projects))
        rows = max(len(projects), 1)
        self.recent.setFixedHeight(min(rows, 8) * (self.recent.sizeHintForRow(0) + 4) + 8)
        self.recent_hint.setText("Double-click a project to open it." if projects else
                                 "Projects you open appear here.")

    def _activated(self, item: QListWidgetItem) -> None:
        if item.flags() & Qt.ItemFlag.ItemIsEnabled:
            self.open_path_requested.emit(item.data(PATH_ROLE))


def _section(title: str) -> QLabel:
    label = QLabel(title)
    font = QFont(label.font())
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * 1.15)
    label.setFont(font)
    return label


if __name__ == "__main__":
    from desktop.preview import preview

    preview(StartPane)
