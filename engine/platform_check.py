"""Can the window open here? What Qt's platform plugins need, checked without importing Qt.

Qt loads its X11 (`xcb`) or Wayland platform plugin at start-up and aborts the process when a
library the plugin links against is missing ("Could not load the Qt platform plugin "xcb" ...").
The offscreen plugin needs none of those libraries, so a check made offscreen proves nothing. This
module runs `ldd` on the plugin files PySide6 ships (found without importing PySide6, which would
break the engine's no-Qt rule) and maps each missing library to the Debian/Ubuntu package that
provides it, so `setup.sh` can install them and `dspy-workbench doctor` can say what to install.

    python -m engine.platform_check            # a report, exit 0 when the window can open
    python -m engine.platform_check --packages # only the missing Debian packages, one line
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

# The Debian package of each shared library Qt's xcb and wayland plugins link against.
DEBIAN_PACKAGE_OF = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}
# Qt 6.5+ opens libxcb-cursor at run time (dlopen), so ldd never lists it: check it by name.
DLOPENED = {"xcb": ["libxcb-cursor.so.0"]}
PLUGINS = {"xcb": "libqxcb.so", "wayland": "libqwayland.so"}
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


@dataclass(frozen=True)
class PlatformReport:
    """What the window needs here and what is missing."""

    display: str | None                  # "x11 :0", "wayland wayland-0", or None (no display)
    plugin: str                          # the platform plugin the app will load
    missing_libraries: list[str] = field(default_factory=list)
    detail: str = ""

    @property
    def packages(self) -> list[str]:
        return sorted({DEBIAN_PACKAGE_OF.get(lib, lib) for lib in self.missing_libraries})

    @property
    def libraries_ok(self) -> bool:
        return not self.missing_libraries

    @property
    def can_open_window(self) -> bool:
        return self.display is not None and self.libraries_ok

    def install_command(self) -> str:
        return "sudo apt-get install " + " ".join(self.packages) if self.packages else ""

    def summary(self) -> str:
        if self.missing_libraries:
            return (f"the {self.plugin} platform plugin cannot load: {', '.join(self.missing_libraries)} "
                    f"missing; install them with `{self.install_command()}`")
        if self.display is None:
            return (f"the {self.plugin} platform plugin's libraries are present, but there is no display "
                    "here (DISPLAY and WAYLAND_DISPLAY are unset): the window opens on a desktop session; "
                    "the CLI works anywhere")
        return f"the window can open on {self.display} ({self.plugin} platform plugin, all libraries present)"


def plugin_dir() -> Path | None:
    """PySide6's platform plugin folder, located without importing PySide6."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    for candidate in (root / "Qt" / "plugins" / "platforms", root / "plugins" / "platforms"):
        if candidate.is_dir():
            return candidate
    return None


def _display(environ) -> str | None:
    if environ.get("WAYLAND_DISPLAY"):
        return f"wayland {environ['WAYLAND_DISPLAY']}"
    if environ.get("DISPLAY"):
        return f"x11 {environ['DISPLAY']}"
    return None


def _chosen_plugin(environ) -> str:
    # Qt's own choice: QT_QPA_PLATFORM if set, else wayland on a Wayland session, else xcb.
    requested = (environ.get("QT_QPA_PLATFORM") or "").split(":")[0].split(";")[0].strip()
    if requested:
        return requested
    if environ.get("WAYLAND_DISPLAY") and not environ.get("DISPLAY"):
        return "wayland"
    return "xcb"


def missing_libraries(plugin: str, folder: Path | None = None) -> tuple[list[str], str]:
    """Libraries the plugin cannot find here, and a note when the check itself could not run."""
    if sys.platform != "linux" or plugin not in PLUGINS:
        return [], ""
    folder = folder or plugin_dir()
    if folder is None:
        return [], "PySide6 is not installed"
    path = folder / PLUGINS[plugin]
    if not path.is_file():
        return [], f"{path} is not there"
    ldd = shutil.which("ldd")
    if ldd is None:
        return [], "ldd is not available to check the plugin's libraries"
    try:
        out = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return [], f"ldd failed ({exc})"
    missing = list(dict.fromkeys(_NOT_FOUND.findall(out)))
    for library in DLOPENED.get(plugin, []):
        if library not in missing and not _library_present(library):
            missing.append(library)
    return missing, ""


def _library_present(soname: str) -> bool:
    ldconfig = shutil.which("ldconfig") or ("/sbin/ldconfig" if os.path.exists("/sbin/ldconfig") else None)
    if ldconfig is not None:
        try:
            out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=30).stdout
            return f"{soname} " in out
        except (OSError, subprocess.SubprocessError):
            pass
    return any(Path(d, soname).exists() for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                                                  "/usr/lib64", "/usr/lib", "/lib"))


def check(environ=None, *, plugin: str | None = None) -> PlatformReport:
    environ = os.environ if environ is None else environ
    chosen = plugin or _chosen_plugin(environ)
    missing, detail = missing_libraries(chosen)
    return PlatformReport(display=_display(environ), plugin=chosen, missing_libraries=missing, detail=detail)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--packages" in args:
        # Both desktop plugins, whatever this shell's session: setup.sh prepares for either.
        packages = sorted({p for name in PLUGINS for p in check(plugin=name).packages})
        print(" ".join(packages))
        return 0
    report = check()
    print(report.summary() + (f" ({report.detail})" if report.detail else ""))
    return 0 if report.libraries_ok else 1


if __name__ == "__main__":
    sys.exit(main())
