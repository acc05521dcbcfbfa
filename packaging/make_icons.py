"""Render the app icon (resources/icons/dspy-workbench.svg) into the hicolor PNG sizes.

    .venv/bin/python packaging/make_icons.py

Writes resources/icons/hicolor/NxN/apps/<app id>.png (committed, so installs need no renderer) and
a scalable copy of the SVG. Uses Qt's own SVG renderer, offscreen.
"""

import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QRectF, Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
APP_ID = "io.github.dspy_workbench.Workbench"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
SOURCE = ROOT / "resources" / "icons" / "dspy-workbench.svg"
TARGET = ROOT / "resources" / "icons" / "hicolor"


def main() -> int:
    app = QGuiApplication(sys.argv[:1])  # noqa: F841 - Qt's painting needs an application
    renderer = QSvgRenderer(str(SOURCE))
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(0, 0, size, size))
        painter.end()
        out = TARGET / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        image.save(str(out))
    scalable = TARGET / "scalable" / "apps" / f"{APP_ID}.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOURCE, scalable)
    print(f"wrote {len(SIZES)} PNG sizes and the scalable SVG under {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
