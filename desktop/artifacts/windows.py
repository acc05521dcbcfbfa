"""How the main window opens the artifact windows (its menu entries and `open_artifact(path)` hook).

The windows are children of the main window (Qt owns them, they close with it) and are deleted
when closed. The open project, when there is one, is what can vouch for a bundle's origin and is
where the matrix looks first (its artifacts/ folder).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt


def choose_artifact(parent) -> str:
    from desktop import messages

    return messages.choose_folder(parent, "Open an artifact bundle (its folder)")


def open_artifact_window(main_window, path: str | Path | None = None):
    from desktop.artifacts.view import ArtifactWindow

    if path is None:
        path = choose_artifact(main_window)
        if not path:
            return None
    window = ArtifactWindow(path, project=main_window.session.project, parent=main_window)
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    window.show()
    return window


def show_matrix_window(main_window):
    from desktop.artifacts.matrix import MatrixWindow

    existing = main_window.findChild(MatrixWindow)
    project = main_window.session.project
    if existing is not None:
        if project is not None:
            existing.add_path(project.root / "artifacts")
        existing.show()
        existing.activateWindow()
        return existing
    paths = [project.root / "artifacts"] if project is not None else []
    window = MatrixWindow(paths, open_artifact=lambda p: open_artifact_window(main_window, p), parent=main_window)
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    window.show()
    return window
