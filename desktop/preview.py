"""Preview one pane alone on a copy of the sample project: `python -m desktop.panes.dataset`."""

from __future__ import annotations

import sys
import tempfile


def preview(pane_class, sample: str = "support-triage") -> int:
    """Open `pane_class` in its own window on a fresh copy of `sample` (in a temporary folder)."""
    from PySide6.QtWidgets import QApplication

    from desktop import theme
    from desktop.session import ProjectSession
    from engine.project import Project

    app = QApplication.instance() or QApplication(sys.argv)
    theme.install(app)
    folder = tempfile.mkdtemp(prefix="dspy-workbench-preview-")
    session = ProjectSession()
    pane = pane_class(session)
    project = Project.create(f"{folder}/{sample}", sample=sample)
    project.frame  # noqa: B018 - load it before the panes see it
    session.open(project)
    pane.resize(1100, 700)
    pane.setWindowTitle(f"{pane.title} — preview")
    pane.show()
    return app.exec()
