"""Light and dark appearance that follows the operating system.

Fusion style everywhere (it looks the same on every platform and honours any palette) with a
palette chosen from Qt's `QStyleHints.colorScheme()`; when the OS switches between dark and
light while the app runs, the palette and the recoloured icons follow. DSPY_WORKBENCH_THEME=dark
or =light overrides the OS (screenshots, and systems that report no scheme).

Also holds the few semantic colours panes share (the leakage banner, split markers), each with a
light and a dark variant that keep their contrast.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

THEME_ENV = "DSPY_WORKBENCH_THEME"

SPLIT_COLORS = {  # (light, dark)
    "train": ("#2f6fd0", "#79a9f5"),
    "validation": ("#9a5ab8", "#c99be0"),
    "test": ("#1d8a5a", "#62d09b"),
    "": ("#8a8f98", "#8a8f98"),
}
BANNER = {  # (background, border, text) for light / dark
    "error": (("#fde8e8", "#e0a3a3", "#8a1c1c"), ("#4a1d1f", "#8c3a3d", "#ffd9d9")),
    "warning": (("#fff4dc", "#e6c77a", "#6b4a00"), ("#43381a", "#8a7331", "#ffe8b0")),
}


def is_dark(palette: QPalette | None = None) -> bool:
    palette = palette or QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def split_color(split: str) -> QColor:
    light, dark = SPLIT_COLORS.get(split, SPLIT_COLORS[""])
    return QColor(dark if is_dark() else light)


def banner_colors(kind: str) -> tuple[str, str, str]:
    light, dark = BANNER[kind]
    return dark if is_dark() else light


def _scheme_is_dark(app: QApplication) -> bool:
    forced = os.environ.get(THEME_ENV, "").strip().lower()
    if forced in ("dark", "light"):
        return forced == "dark"
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def dark_palette() -> QPalette:
    p = QPalette()
    window, base, alt, text = QColor("#2b2d31"), QColor("#1f2023"), QColor("#26282c"), QColor("#e6e6e6")
    highlight = QColor("#3d6fd6")
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        p.setColor(group, QPalette.ColorRole.Window, window)
        p.setColor(group, QPalette.ColorRole.WindowText, text)
        p.setColor(group, QPalette.ColorRole.Base, base)
        p.setColor(group, QPalette.ColorRole.AlternateBase, alt)
        p.setColor(group, QPalette.ColorRole.ToolTipBase, QColor("#3a3d42"))
        p.setColor(group, QPalette.ColorRole.ToolTipText, text)
        p.setColor(group, QPalette.ColorRole.PlaceholderText, QColor("#8d9096"))
        p.setColor(group, QPalette.ColorRole.Text, text)
        p.setColor(group, QPalette.ColorRole.Button, QColor("#34363b"))
        p.setColor(group, QPalette.ColorRole.ButtonText, text)
        p.setColor(group, QPalette.ColorRole.BrightText, QColor("#ff6b6b"))
        p.setColor(group, QPalette.ColorRole.Highlight, highlight)
        p.setColor(group, QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
        p.setColor(group, QPalette.ColorRole.Link, QColor("#7aa7ff"))
        p.setColor(group, QPalette.ColorRole.Light, QColor("#45484e"))
        p.setColor(group, QPalette.ColorRole.Midlight, QColor("#3a3c41"))
        p.setColor(group, QPalette.ColorRole.Mid, QColor("#2f3135"))
        p.setColor(group, QPalette.ColorRole.Dark, QColor("#18191b"))
        p.setColor(group, QPalette.ColorRole.Shadow, QColor("#000000"))
    disabled = QPalette.ColorGroup.Disabled
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(disabled, role, QColor("#767a80"))
    p.setColor(disabled, QPalette.ColorRole.Window, window)
    p.setColor(disabled, QPalette.ColorRole.Base, window)
    p.setColor(disabled, QPalette.ColorRole.Button, QColor("#2f3135"))
    p.setColor(disabled, QPalette.ColorRole.Highlight, QColor("#4a4d52"))
    p.setColor(disabled, QPalette.ColorRole.HighlightedText, QColor("#c0c0c0"))
    return p


def light_palette(app: QApplication) -> QPalette:
    p = app.style().standardPalette()
    p.setColor(QPalette.ColorRole.Highlight, QColor("#2f6fd0"))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    p.setColor(QPalette.ColorRole.PlaceholderText, QColor("#7d828a"))
    return p


class Theme(QObject):
    """Applies the palette now and again whenever the OS scheme changes.

    Signals:
        changed(bool)   the palette was re-applied; True when it is dark
    """

    changed = Signal(bool)

    def __init__(self, app: QApplication):
        super().__init__(app)
        self.app = app
        app.setStyle("Fusion")
        app.styleHints().colorSchemeChanged.connect(lambda _scheme: self.apply())
        self.apply()

    def apply(self) -> None:
        from desktop import icons

        dark = _scheme_is_dark(self.app)
        self.app.setPalette(dark_palette() if dark else light_palette(self.app))
        icons.clear_cache()
        self.changed.emit(dark)


def install(app: QApplication) -> Theme:
    return Theme(app)
