"""Install the app into the user's desktop: the .desktop entry, the icons and the AppStream file.

Everything goes under the XDG data folder (`$XDG_DATA_HOME`, default `~/.local/share`) for the
current user only, so no root is needed and `uninstall` removes exactly what `install` wrote:

    applications/io.github.dspy_workbench.Workbench.desktop   Exec = this installation's launcher
    icons/hicolor/NxN/apps/io.github.dspy_workbench.Workbench.png (and scalable/.svg)
    metainfo/io.github.dspy_workbench.Workbench.metainfo.xml

The entry's Exec line names this installation's own window launcher by absolute path (the venv's
`dspy-workbench-gui`, or the frozen app's), with `%f`: the file manager hands it a project folder
or an artifact bundle, and the app opens what it is given.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from engine.atomic import atomic_write_text
from engine.errors import WorkbenchError

APP_ID = "io.github.dspy_workbench.Workbench"
RESOURCES = Path(__file__).resolve().parent.parent / "resources"
DESKTOP_FILE = RESOURCES / f"{APP_ID}.desktop"
METAINFO_FILE = RESOURCES / f"{APP_ID}.metainfo.xml"
ICONS = RESOURCES / "icons" / "hicolor"


@dataclass(frozen=True)
class DesktopInstall:
    """What install or uninstall wrote or removed, and the launcher the entry runs."""

    action: str
    launcher: str
    files: list[str] = field(default_factory=list)


def data_home() -> Path:
    value = os.environ.get("XDG_DATA_HOME")
    return Path(value).expanduser() if value else Path.home() / ".local" / "share"


def gui_launcher() -> Path:
    """This installation's window launcher: beside the running interpreter or frozen executable."""
    here = Path(sys.executable).resolve().parent if getattr(sys, "frozen", False) else Path(sys.argv[0]).resolve().parent
    for folder in (here, Path(sys.executable).parent):
        for name in ("dspy-workbench-gui", "dspy-workbench-gui.exe"):
            if (folder / name).exists():
                return folder / name
    found = shutil.which("dspy-workbench-gui")
    if found:
        return Path(found)
    raise WorkbenchError("cannot find this installation's dspy-workbench-gui launcher; run "
                         "`dspy-workbench install-desktop` from the installed app (e.g. .venv/bin/dspy-workbench)")


def _targets(root: Path) -> list[tuple[Path, Path]]:
    pairs = [(DESKTOP_FILE, root / "applications" / DESKTOP_FILE.name),
             (METAINFO_FILE, root / "metainfo" / METAINFO_FILE.name)]
    for icon in sorted(ICONS.rglob(f"{APP_ID}.*")):
        pairs.append((icon, root / "icons" / "hicolor" / icon.relative_to(ICONS)))
    return pairs


def desktop_entry_text(launcher: Path) -> str:
    """The shipped entry with Exec/TryExec pointing at `launcher` (quoted as the spec says)."""
    exec_path = _exec_quote(str(launcher))
    lines = []
    for line in DESKTOP_FILE.read_text("utf-8").splitlines():
        if line.startswith("Exec="):
            line = f"Exec={exec_path} %f"
        elif line.startswith("TryExec="):
            line = f"TryExec={launcher}"
        lines.append(line)
    return "\n".join(lines) + "\n"


_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def _exec_quote(argument: str) -> str:
    """Quote one Exec argument as the Desktop Entry spec says: double quotes around an argument
    with a reserved character, a backslash before `"`, `` ` ``, `$` and `\\` inside them, then the
    string-level escape of every backslash; `%` is doubled (field codes)."""
    argument = argument.replace("%", "%%")
    if not (set(argument) & _RESERVED):
        return argument
    quoted = "".join("\\" + c if c in '"`$\\' else c for c in argument)
    return '"' + quoted.replace("\\", "\\\\") + '"'


def install(root: Path | None = None) -> DesktopInstall:
    root = root or data_home()
    launcher = gui_launcher()
    written = []
    try:
        for source, target in _targets(root):
            if source == DESKTOP_FILE:
                atomic_write_text(target, desktop_entry_text(launcher))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
            written.append(str(target))
    except OSError as exc:
        raise WorkbenchError(f"cannot write the desktop entry under {root} ({exc.strerror or exc}); "
                             "check that folder's permissions") from None
    _refresh_caches(root)
    return DesktopInstall("installed", str(launcher), written)


def uninstall(root: Path | None = None) -> DesktopInstall:
    root = root or data_home()
    removed = []
    for _, target in _targets(root):
        if target.exists():
            target.unlink()
            removed.append(str(target))
    _refresh_caches(root)
    return DesktopInstall("removed", "", removed)


def _refresh_caches(root: Path) -> None:
    # Best effort: menus and icon themes pick the change up sooner when these tools exist.
    for command in (["update-desktop-database", "-q", str(root / "applications")],
                    ["gtk-update-icon-cache", "-q", "-t", str(root / "icons" / "hicolor")]):
        if shutil.which(command[0]) and Path(command[-1]).is_dir():
            subprocess.run(command, capture_output=True, timeout=30, check=False)
