"""The shape every pane shares, so the main window can host, save and close them uniformly."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from desktop.session import ProjectSession


class Pane(QWidget):
    """A page of the main window.

    Subclasses set `title` and `icon_name` (a file in resources/icons/, without extension) and
    build their widgets in `__init__(session, parent=None)`, connecting to the session's signals.
    """

    title = "Pane"
    icon_name = ""

    def __init__(self, session: ProjectSession, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session

    def is_busy(self) -> bool:
        """True while the pane runs background work (a compile, an import, an export)."""
        return False

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Cancel background work and wait (up to timeout_ms) until its thread has stopped."""
