"""Widgets and formatting for text that comes from a bundle (anyone may have written it).

Labels are created with Qt.PlainText: a manifest field holding "<img src=...>" or a link is shown as
those characters, never interpreted. One-line values also go through engine's `printable`, which
escapes control and bidi characters so no field can hide or fake another line.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTableWidgetItem


def one_line(value) -> str:
    from engine.artifacts import printable

    return printable("" if value is None else value)


def plain_label(text: str = "", *, wrap: bool = True) -> QLabel:
    """A QLabel that never interprets its text as HTML, selectable so a reviewer can copy it."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def plain_heading(text: str) -> QLabel:
    from desktop.panes.common import heading

    label = heading(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def item(text, *, tooltip: bool = True, right: bool = False, lines: bool = False) -> QTableWidgetItem:
    """A read-only table cell (table items are plain text) holding `text` made printable (line by
    line with `lines`, for cells whose line breaks are ours)."""
    shown = "\n".join(one_line(line) for line in str(text).split("\n")) if lines else one_line(text)
    cell = QTableWidgetItem(shown)
    cell.setFlags(cell.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if tooltip:
        cell.setToolTip(shown)
    if right:
        cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return cell


def score_text(figures) -> str:
    """'0.833 [0.436, 0.970]' from {score, ci95}; a figure that is not a number is shown as text."""
    if not isinstance(figures, dict) or figures.get("score") is None:
        return "—"
    try:
        score = f"{float(figures['score']):.3f}"
    except (TypeError, ValueError):
        return one_line(figures.get("score"))
    ci = figures.get("ci95")
    try:
        low, high = (float(v) for v in ci[:2])
        return f"{score} [{low:.3f}, {high:.3f}]"
    except (TypeError, ValueError, IndexError):
        return score
