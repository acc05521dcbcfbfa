"""Every modal question the app asks goes through here: message boxes, file choosers, text prompts.

One door makes the wording consistent and lets tests answer the questions (they replace these
functions; a real modal dialog would wait forever in an offscreen test run).
"""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

DATA_FILES = "Data files (*.csv *.tsv *.jsonl *.ndjson *.json *.parquet *.pq *.xlsx);;All files (*)"


def error(parent: QWidget | None, title: str, text: str) -> None:
    """Tell the user something failed and what to do about it (never a traceback)."""
    QMessageBox.warning(parent, title, text)


def info(parent: QWidget | None, title: str, text: str) -> None:
    QMessageBox.information(parent, title, text)


def about(parent: QWidget | None, title: str, text: str) -> None:
    QMessageBox.about(parent, title, text)


def confirm(parent: QWidget | None, title: str, text: str, yes: str = "Yes", no: str = "No") -> bool:
    """Ask a yes/no question; the safe answer (no) is the default."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=parent)
    yes_button = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(box.addButton(no, QMessageBox.ButtonRole.RejectRole))
    box.exec()
    return box.clickedButton() is yes_button


def open_file(parent: QWidget | None, title: str, filters: str = DATA_FILES, start: str = "") -> str:
    """A file to open; `start` is the folder the dialog opens in (the current project's, say)."""
    path, _ = QFileDialog.getOpenFileName(parent, title, start, filters)
    return path


def choose_folder(parent: QWidget | None, title: str, start: str = "") -> str:
    return QFileDialog.getExistingDirectory(parent, title, start)


def ask_text(parent: QWidget | None, title: str, label: str, text: str = "",
             choices: list[str] | None = None) -> str | None:
    """A line of text (or one of `choices`, editable); None when cancelled."""
    if choices:
        value, ok = QInputDialog.getItem(parent, title, label, choices, 0, True)
    else:
        value, ok = QInputDialog.getText(parent, title, label, text=text)
    return value if ok else None
