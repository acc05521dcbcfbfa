"""Two artifacts side by side: the Runs pane's Compare dialog, for bundles.

`engine.artifacts.diff_artifacts` gives the same shape as comparing two runs (settings with a
Program and an Answers row, scores per split and slice, instruction and demo diffs, warnings);
it hashes both bundles, so it runs on a pool thread. The header and warnings, which quote the
bundles, are plain text here (the runs dialog renders its own run ids as rich text).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from desktop import background
from desktop.artifacts.plain import one_line
from desktop.dialogs.compare_dialog import CompareDialog
from desktop.panes.common import warn_color


def read_diff(a: str, b: str) -> dict:
    from engine.artifacts import diff_artifacts

    return diff_artifacts(a, b)


class ArtifactDiffDialog(CompareDialog):
    """Artifact A (left) and artifact B (right)."""

    def __init__(self, comparison: dict, parent: QWidget | None = None):
        super().__init__(comparison, parent)
        paths, intact = comparison["paths"], comparison["intact"]
        self.setWindowTitle("Diff artifacts")
        self.layout().itemAt(0).widget().setText("Diff artifacts")  # the runs dialog's heading
        self.header.setTextFormat(Qt.TextFormat.PlainText)
        self.header.setText("\n".join(
            f"{side.upper()}  {one_line(paths[side])}  (run {one_line(comparison['run_' + side])}"
            + ("" if intact[side] else ", does NOT match its manifest") + ")" for side in ("a", "b")))
        self.warnings.setTextFormat(Qt.TextFormat.PlainText)
        self.warnings.setText("\n".join("⚠ " + one_line(w[:1].upper() + w[1:]) + "." for w in comparison["warnings"]))
        self.warnings.setStyleSheet(f"color: {warn_color(self).name()}")


def start_diff(parent: QWidget, a: str, b: str, done) -> None:
    """Diff `a` and `b` off the GUI thread; `done(dialog)` gets the (not yet shown) dialog, or None
    after the error was shown on `parent`'s status label when it has one."""

    def ready(comparison: dict) -> None:
        dialog = ArtifactDiffDialog(comparison, parent)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        done(dialog)

    def failed(exc: BaseException) -> None:
        status = getattr(parent, "status", None)
        if status is not None:
            status.setText(one_line(f"Cannot diff: {exc}"))
        done(None)

    background.run(lambda: read_diff(a, b), ready, failed)
