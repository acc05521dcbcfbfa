"""Icons from resources/icons/*.svg, recoloured for the current palette.

The SVGs are monochrome line drawings that use `currentColor`; each icon is rendered for the
palette's text colour (normal), its highlighted-text colour (selected) and its disabled text
colour, at the screen's device pixel ratio, so they stay crisp and readable in dark and light mode.
Call `clear_cache()` when the palette changes.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

ICON_DIR = Path(__file__).resolve().parent.parent / "resources" / "icons"
APP_ICON = ICON_DIR / "dspy-workbench.svg"
SIZES = (16, 20, 24, 32, 48)


def _svg(name: str) -> str | None:
    path = ICON_DIR / f"{name}.svg"
    return path.read_text("utf-8") if path.is_file() else None


def _pixmap(svg: str, color: QColor, size: int, ratio: float) -> QPixmap:
    renderer = QSvgRenderer(QByteArray(svg.replace("currentColor", color.name()).encode("utf-8")))
    pixmap = QPixmap(round(size * ratio), round(size * ratio))
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, pixmap.width(), pixmap.height()))
    painter.end()
    pixmap.setDevicePixelRatio(ratio)
    return pixmap


@lru_cache(maxsize=64)
def _icon(name: str, normal: str, selected: str, disabled: str, ratio: float) -> QIcon:
    svg = _svg(name)
    if svg is None:
        return QIcon()
    icon = QIcon()
    for size in SIZES:
        icon.addPixmap(_pixmap(svg, QColor(normal), size, ratio), QIcon.Mode.Normal)
        icon.addPixmap(_pixmap(svg, QColor(selected), size, ratio), QIcon.Mode.Selected)
        icon.addPixmap(_pixmap(svg, QColor(disabled), size, ratio), QIcon.Mode.Disabled)
    return icon


def icon(name: str, color: QColor | None = None) -> QIcon:
    """The named icon in the palette's colours (or in `color`); an empty icon if there is no such file."""
    palette = QGuiApplication.palette()
    normal = color or palette.color(QPalette.ColorRole.WindowText)
    selected = palette.color(QPalette.ColorRole.HighlightedText)
    disabled = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText)
    screen = QGuiApplication.primaryScreen()
    ratio = max(1.0, screen.devicePixelRatio() if screen else 1.0)
    return _icon(name, normal.name(), selected.name(), disabled.name(), ratio)


def app_icon() -> QIcon:
    """The coloured application icon (not recoloured)."""
    return QIcon(str(APP_ICON))


def clear_cache() -> None:
    _icon.cache_clear()
