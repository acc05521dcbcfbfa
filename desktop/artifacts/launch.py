"""`dspy-workbench app --artifact PATH`: the window with no project, showing one artifact."""

from __future__ import annotations


def main(path: str) -> int:
    from PySide6.QtWidgets import QApplication

    from desktop.app import make_application, quit_on_signals
    from desktop.main_window import MainWindow

    app = make_application()
    quit_on_signals(app)
    window = MainWindow()
    QApplication.instance().aboutToQuit.connect(window.close)
    window.show()
    window.open_artifact(path)  # noqa: F841 - the window keeps it
    return app.exec()
