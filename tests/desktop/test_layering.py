"""The layering rule, checked: the engine never imports Qt, and the app's cold start never imports
DSPy or LiteLLM (the engine imports them lazily, when a compile or an evaluation needs them)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QT_PACKAGES = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "qtpy")


def _run(code: str, **env) -> dict:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **env}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_no_engine_source_imports_qt():
    offenders = []
    for path in sorted((REPO / "engine").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(REPO)}:{node.lineno} {n}" for n in names
                          if n.split(".")[0] in QT_PACKAGES]
    assert offenders == []


def test_importing_every_engine_module_leaves_qt_out_of_sys_modules():
    found = _run(
        "import importlib, json, pkgutil, sys, engine\n"
        "names = [m.name for m in pkgutil.walk_packages(engine.__path__, 'engine.')]\n"
        "for name in names: importlib.import_module(name)\n"
        f"qt = sorted(m for m in sys.modules if m.split('.')[0] in {QT_PACKAGES!r})\n"
        "print(json.dumps({'modules': len(names), 'qt': qt}))"
    )
    assert found["modules"] > 20
    assert found["qt"] == []


def test_cold_start_to_a_painted_window_imports_neither_dspy_nor_litellm(tmp_path):
    from engine.project import Project

    project = Project.create(tmp_path / "p", sample="support-triage")
    found = _run(
        "import json, sys\n"
        "from PySide6.QtCore import QTimer\n"
        "from desktop import app\n"
        "application = app.make_application()\n"
        f"window = app.make_window([{str(project.root)!r}])\n"
        "seen = {}\n"
        "def check():\n"
        "    if window.session.is_open and not seen:\n"
        "        window.grab()\n"
        "        heavy = ('dspy', 'litellm', 'llama_cpp', 'optuna')\n"
        "        seen['heavy'] = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "        seen['title'] = window.windowTitle()\n"
        "    if seen and not any(p.is_busy() for p in window.panes):  # let background renders end\n"
        "        print(json.dumps(seen))\n"
        "        timer.stop()\n"
        "        application.quit()\n"
        "timer = QTimer(interval=20, timeout=check)\n"
        "timer.start()\n"
        "QTimer.singleShot(60_000, lambda: application.exit(3))\n"
        "sys.exit(application.exec())\n",
        DSPY_WORKBENCH_HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "xdg"),
    )
    assert found["title"] == "support-triage — DSPy Workbench"
    assert found["heavy"] == []
