"""engine.platform_check finds what a real shared library cannot load, with the real ldd."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from engine import platform_check

needs_gcc = pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("ldd")) or sys.platform != "linux",
                               reason="needs gcc and ldd (Linux) to build a plugin-like library")


@needs_gcc
def test_a_library_the_plugin_links_against_but_that_is_gone_is_named_with_its_package(tmp_path):
    # A stand-in for libqxcb.so that links against a library which then disappears.
    (tmp_path / "icccm.c").write_text("int icccm(void) { return 1; }\n")
    (tmp_path / "plugin.c").write_text("int icccm(void);\nint plugin(void) { return icccm(); }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,-soname,libwbtest-gone.so.1", "-o",
                    str(tmp_path / "libwbtest-gone.so.1"), str(tmp_path / "icccm.c")], check=True)
    folder = tmp_path / "platforms"
    folder.mkdir()
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(folder / "libqxcb.so"), str(tmp_path / "plugin.c"),
                    str(tmp_path / "libwbtest-gone.so.1")], check=True)
    (tmp_path / "libwbtest-gone.so.1").unlink()

    missing, note = platform_check.missing_libraries("xcb", folder)
    assert note == ""
    assert "libwbtest-gone.so.1" in missing
    # Known libraries are named by their Debian package.
    report = platform_check.PlatformReport(display="x11 :0", plugin="xcb",
                                           missing_libraries=[*missing, "libxcb-icccm.so.4"])
    assert not report.can_open_window
    assert "libxcb-icccm4" in report.packages
    assert "sudo apt-get install" in report.install_command() and "libxcb-icccm4" in report.install_command()


def test_no_display_is_reported_as_such_not_as_a_missing_library():
    report = platform_check.check({}, plugin="offscreen")
    assert report.display is None and report.libraries_ok and not report.can_open_window
    assert "no display" in report.summary()


def test_qt_picks_wayland_on_a_wayland_only_session_and_honours_qt_qpa_platform():
    assert platform_check._chosen_plugin({"WAYLAND_DISPLAY": "wayland-0"}) == "wayland"
    assert platform_check._chosen_plugin({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}) == "xcb"
    assert platform_check._chosen_plugin({"QT_QPA_PLATFORM": "offscreen"}) == "offscreen"
