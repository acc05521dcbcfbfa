"""The real app on a real X display (Xvfb), as a user starts it: the README's second command.

Offscreen rendering needs none of the xcb libraries, so it once hid a window that aborted on every
real machine. This test starts `dspy-workbench app --sample support-triage` in a subprocess on a
virtual X server with the xcb platform plugin, waits for the window titled "DSPy Workbench" with
xdotool, takes a screenshot of the screen and checks that something was painted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    not (shutil.which("Xvfb") and shutil.which("xdotool")),
    reason="needs Debian's xvfb and xdotool (./setup.sh installs them when run as root)",
)

SCREENSHOT = """
import sys
from PySide6.QtGui import QGuiApplication
app = QGuiApplication([])
shot = QGuiApplication.primaryScreen().grabWindow(0)
image = shot.toImage()
colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
shot.save(sys.argv[1])
print(len(colours))
"""


@pytest.fixture
def xvfb_display():
    """A fresh Xvfb server on a free display number (Xvfb picks it: -displayfd)."""
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as handle:
        number = handle.readline().strip()
    try:
        assert number, "Xvfb did not start"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _display_env(display: str, home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
    env.update(DISPLAY=display, DSPY_WORKBENCH_HOME=str(home), PYTHONPATH=str(REPO))
    return env


def test_app_opens_a_real_window_on_an_x_display(xvfb_display, tmp_path):
    env = _display_env(xvfb_display, tmp_path / "home")
    app = subprocess.Popen([sys.executable, "-m", "engine.cli", "app", "--sample", "support-triage"],
                           cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        found = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--name", "DSPy Workbench$"],
                               env=env, capture_output=True, text=True, timeout=90)
        assert app.poll() is None, f"the app exited with {app.returncode}: {app.stderr.read()[-2000:]}"
        assert found.returncode == 0 and found.stdout.strip(), found.stderr
        time.sleep(2)  # the project's table is read after the first paint
        shot = tmp_path / "real-window.png"
        colours = subprocess.run([sys.executable, "-c", SCREENSHOT, str(shot)], env=env,
                                 capture_output=True, text=True, timeout=60, check=True)
        assert shot.stat().st_size > 10_000
        assert int(colours.stdout.strip()) > 20, "the screen is blank: nothing was painted"
    finally:
        app.send_signal(signal.SIGTERM)
        try:
            _, stderr = app.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            app.kill()
            _, stderr = app.communicate()
    assert app.returncode == 0, stderr[-2000:]
    assert "Could not load the Qt platform plugin" not in stderr
    assert "Traceback" not in stderr


def test_doctor_says_the_window_can_open_on_the_display(xvfb_display, tmp_path):
    env = _display_env(xvfb_display, tmp_path / "home")
    result = subprocess.run([sys.executable, "-m", "engine.platform_check"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"the window can open on x11 {xvfb_display}" in result.stdout
