"""A small score-over-trials chart drawn with QPainter (no QtCharts dependency).

Each trial is a dot (filled: scored on the full validation split; hollow: on a minibatch) and
the best full score so far is a step line. Scores are in [0, 1].
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop.panes.common import good_color


class ScoreChart(QWidget):
    """Trial scores of the running (or a finished) compile."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.trials: list[tuple[int, float, float, str]] = []  # index, score, best so far, kind
        self.empty_text = "Trial scores appear here while an optimizer searches."
        self.setMinimumSize(220, 140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(360, 200)

    def clear(self) -> None:
        self.trials = []
        self.update()

    def add_trial(self, index: int, score: float, best: float, kind: str = "validation") -> None:
        self.trials.append((index, float(score), float(best), kind))
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.WindowText)
        grid = QColor(text)
        grid.setAlpha(40)
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        metrics = painter.fontMetrics()
        left = metrics.horizontalAdvance("1.00") + 10
        area = QRectF(left, 8, max(10, self.width() - left - 12), max(10, self.height() - 8 - metrics.height() - 10))
        painter.setPen(QPen(grid, 1))
        for i in range(5):
            y = area.bottom() - area.height() * i / 4
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            painter.setPen(text)
            painter.drawText(QRectF(0, y - metrics.height() / 2, left - 6, metrics.height()),
                             int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), f"{i / 4:.2f}")
            painter.setPen(QPen(grid, 1))
        if not self.trials:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(area, int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self.empty_text)
            painter.end()
            return
        n = max(t[0] for t in self.trials)
        painter.setPen(text)
        painter.drawText(QRectF(area.left(), area.bottom() + 4, area.width(), metrics.height()),
                         int(Qt.AlignmentFlag.AlignLeft), "trial 1")
        painter.drawText(QRectF(area.left(), area.bottom() + 4, area.width(), metrics.height()),
                         int(Qt.AlignmentFlag.AlignRight), f"trial {n}")

        def point(index: int, score: float) -> QPointF:
            x = area.left() + (area.width() * (index - 1) / (n - 1) if n > 1 else area.width() / 2)
            y = area.bottom() - area.height() * min(1.0, max(0.0, score))
            return QPointF(x, y)

        best_color = good_color(self)
        path = QPainterPath()
        for i, (index, _score, best, _kind) in enumerate(self.trials):
            p = point(index, best)
            if i == 0:
                path.moveTo(p)
            else:
                path.lineTo(QPointF(p.x(), path.currentPosition().y()))
                path.lineTo(p)
        painter.setPen(QPen(best_color, 2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        dot = palette.color(QPalette.ColorRole.Highlight)
        for index, score, _best, kind in self.trials:
            painter.setPen(QPen(dot, 1.5))
            painter.setBrush(dot if kind == "validation" else Qt.BrushStyle.NoBrush)
            painter.drawEllipse(point(index, score), 3.5, 3.5)
        painter.end()
