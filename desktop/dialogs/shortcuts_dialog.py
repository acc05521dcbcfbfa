"""Help -> Keyboard shortcuts: every shortcut the window has, read from its own actions.

The menu actions are listed as the window holds them (so the list cannot go stale); keys that
work inside one pane (no menu action carries them) are listed beside them.
"""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHeaderView, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

# Keys handled inside a pane or a table, not by a menu action.
PANE_KEYS = (
    ("Dataset", "Del", "Delete the selected rows"),
    ("Tables", "F2 / typing", "Edit the selected cell (Esc cancels the edit)"),
)


def window_shortcuts(window) -> list[tuple[str, str, str]]:
    """(where, keys, what) for every menu action with a shortcut, in menu order."""
    rows = []
    for menu_action in window.menuBar().actions():
        menu = menu_action.menu()
        if menu is None:
            continue
        where = menu_action.text().replace("&", "")
        for action in menu.actions():
            keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts() if not k.isEmpty()]
            if keys:
                rows.append((where, " / ".join(keys), action.text().replace("&", "").rstrip("…")))
    return rows


class ShortcutsDialog(QDialog):
    def __init__(self, window, parent: QWidget | None = None):
        super().__init__(parent or window)
        self.setWindowTitle("Keyboard shortcuts")
        rows = window_shortcuts(window) + list(PANE_KEYS)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Where", "Keys", "What"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(560, 520)

