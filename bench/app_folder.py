"""The built app folder: its size, and its cold start to a visible window beside the venv's.

    packaging/build-linux.sh            # builds dist/dspy-workbench/ first
    python bench/app_folder.py [--runs N]

Both starts are measured the same way, on a fresh Xvfb display with the real xcb platform plugin:
from spawning the process (`dspy-workbench-gui PROJECT` from the venv, then from dist/) until
xdotool finds the main window mapped and titled "... — DSPy Workbench" (the project is open).
Goal: the frozen app within 1.5 s too. Prints medians (a benchmark, not a timed test).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DIST = REPO / "dist" / "dspy-workbench"


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def start_xvfb() -> tuple[subprocess.Popen, str]:
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as handle:
        return server, ":" + handle.readline().strip()


def time_to_window(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    app = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < 60:
            found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", " — DSPy Workbench$"],
                                   env=env, capture_output=True, text=True)
            if found.stdout.strip():
                return time.perf_counter() - started
            if app.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {app.returncode}")
            time.sleep(0.02)
        raise RuntimeError("no window within 60 s")
    finally:
        app.terminate()
        app.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description="the built app folder: size and cold start")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not (DIST / "dspy-workbench").is_file():
        print(f"no app folder at {DIST}: run packaging/build-linux.sh first", file=sys.stderr)
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="dspy-workbench-appfolder-"))
    sys.path.insert(0, str(REPO))
    from engine.project import Project

    project = str(Project.create(scratch / "support-triage", sample="support-triage").root)
    server, display = start_xvfb()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
        env.update(DISPLAY=display, DSPY_WORKBENCH_HOME=str(scratch / "home"))
        venv_gui = Path(sys.executable).with_name("dspy-workbench-gui")
        commands = {"venv": [str(venv_gui), project], "app folder": [str(DIST / "dspy-workbench-gui"), project]}
        for command in commands.values():
            time_to_window(command, env)  # warm the OS file cache, as a second launch would be
        times = {name: [] for name in commands}
        for _ in range(args.runs):  # interleaved, so a busy machine slows both alike
            for name, command in commands.items():
                times[name].append(time_to_window(command, env))
    finally:
        server.terminate()
        shutil.rmtree(scratch, ignore_errors=True)
    size = folder_size(DIST)
    print(f"app folder {DIST}: {size / 2**20:,.0f} MiB ({size / 2**30:.2f} GiB)")
    print(f"cold start to a visible window on the sample, median of {args.runs}:")
    for name, values in times.items():
        print(f"  {name:<11} {statistics.median(values):5.2f} s   (min {min(values):.2f}, max {max(values):.2f})")
    ratio = statistics.median(times["app folder"]) / statistics.median(times["venv"])
    print(f"  app folder / venv: {ratio:.2f}x   (goal: app folder <= 1.5 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
