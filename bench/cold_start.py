"""Cold start: from process start to the first paint of the main window on the sample project.

    python bench/cold_start.py [--runs N]

Starts a fresh Python process per run (offscreen, throw-away settings and app folders) that does
exactly what `dspy-workbench-gui PROJECT` does, and reports, measured from before the process was
spawned:

* first paint:     the main window's first paint event                      goal <= 1.5 s
* project shown:   the sample's table painted in the Dataset pane
* heavy imports:   whether dspy / litellm were imported by then (they must not be)

Prints the median of the runs (a benchmark, not a timed test).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
t0 = float(sys.argv[1])
from PySide6.QtCore import QEvent, QObject, QTimer
from desktop import app

marks = {}

class Watch(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            now = time.time() - t0
            marks.setdefault("first_paint", now)
            if obj is getattr(self, "table_viewport", None) and window.session.is_open:
                if "project_shown" not in marks:
                    marks["project_shown"] = now
                    marks["heavy"] = sorted(m for m in ("dspy", "litellm") if m in sys.modules)
        return False

application = app.make_application()
watch = Watch()
application.installEventFilter(watch)
window = app.make_window([sys.argv[2]])
watch.table_viewport = window.pane("Dataset").table.viewport()

def done():
    if "project_shown" in marks and not any(p.is_busy() for p in window.panes):
        print(json.dumps(marks))
        timer.stop()
        application.quit()

timer = QTimer(interval=10, timeout=done)
timer.start()
QTimer.singleShot(60_000, application.quit)
application.exec()
"""


def run_once(project: Path, scratch: Path) -> dict:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "DSPY_WORKBENCH_HOME": str(scratch / "home"),
           "XDG_CONFIG_HOME": str(scratch / "xdg"), "PYTHONPATH": str(REPO)}
    started = time.time()
    result = subprocess.run([sys.executable, "-c", CHILD, repr(started), str(project)], capture_output=True,
                            text=True, env=env, cwd=REPO, timeout=120)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"the app did not start: {result.stderr[-2000:]}")
    return json.loads(lines[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description="cold start of the desktop app")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="dspy-workbench-coldstart-"))
    sys.path.insert(0, str(REPO))
    from engine.project import Project

    project = Project.create(scratch / "support-triage", sample="support-triage").root
    run_once(project, scratch)  # warm the OS file cache, as a second launch would be
    runs = [run_once(project, scratch) for _ in range(args.runs)]
    first = statistics.median(r["first_paint"] for r in runs)
    shown = statistics.median(r["project_shown"] for r in runs)
    heavy = sorted({m for r in runs for m in r["heavy"]})
    print(f"cold start, median of {args.runs} (process start -> ...):")
    print(f"  first paint of the main window:   {first:5.2f} s   (goal <= 1.5 s)")
    print(f"  sample table painted in Dataset:  {shown:5.2f} s")
    print(f"  dspy/litellm imported by then:    {', '.join(heavy) or 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
