"""A stand-in page for a pane whose module is not in this build, or failed to load."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from desktop.panes.base import Pane
from desktop.session import ProjectSession


class MissingPane(Pane):
    """Says which pane is missing and why, instead of leaving a hole in the window."""

    def __init__(self, session: ProjectSession, title: str, icon_name: str, reason: str,
                 parent: QWidget | None = None):
        super().__init__(session, parent)
        self.title = title
        self.icon_name = icon_name
        self.reason = reason
        layout = QVBoxLayout(self)
        label = QLabel(f"<h3>The {title} pane is not available</h3><p>{reason}</p>",
                       alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        layout.addStretch(1)
        layout.addWidget(label)
        layout.addStretch(2)
