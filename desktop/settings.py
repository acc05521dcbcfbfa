"""The app's own preferences (QSettings): window geometry, recent projects, the last pane.

One typed accessor per key, with defaults and a schema version, so a newer layout can migrate an
older one. Nothing secret is ever stored here (keys live in the OS keyring). Values that are not
plain strings are stored as JSON text, which reads the same on every platform's backend.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

SCHEMA_VERSION = 1
MAX_RECENT = 10


@dataclass(frozen=True)
class RecentProject:
    path: str
    name: str

    @property
    def exists(self) -> bool:
        return (Path(self.path) / "project.toml").is_file()


class AppSettings:
    """Typed access to QSettings (organization "dspy-workbench", application "DSPy Workbench")."""

    def __init__(self, settings: QSettings | None = None):
        self._qs = settings or QSettings()
        if self._int("schema_version", 0) < SCHEMA_VERSION:
            self._qs.setValue("schema_version", SCHEMA_VERSION)  # version 1 is the first layout

    def _int(self, key: str, default: int) -> int:
        try:
            return int(self._qs.value(key, default))
        except (TypeError, ValueError):
            return default

    def _str(self, key: str) -> str:
        value = self._qs.value(key, "")
        return value if isinstance(value, str) else ""

    # -- recent projects ------------------------------------------------------------------------

    def recent_projects(self) -> list[RecentProject]:
        try:
            items = json.loads(self._str("recent_projects") or "[]")
            return [RecentProject(str(i["path"]), str(i.get("name") or Path(i["path"]).name)) for i in items]
        except (ValueError, TypeError, KeyError):
            return []

    def add_recent(self, path: str | Path, name: str) -> None:
        path = str(Path(path))
        items = [r for r in self.recent_projects() if r.path != path]
        items.insert(0, RecentProject(path, name))
        self._set_recent(items[:MAX_RECENT])

    def remove_recent(self, path: str | Path) -> None:
        self._set_recent([r for r in self.recent_projects() if r.path != str(Path(path))])

    def _set_recent(self, items: list[RecentProject]) -> None:
        self._qs.setValue("recent_projects", json.dumps([{"path": r.path, "name": r.name} for r in items]))

    # -- last session -----------------------------------------------------------------------------

    @property
    def last_project(self) -> str:
        return self._str("last_project")

    @last_project.setter
    def last_project(self, path: str) -> None:
        self._qs.setValue("last_project", str(path))

    @property
    def last_pane(self) -> str:
        return self._str("last_pane")

    @last_pane.setter
    def last_pane(self, title: str) -> None:
        self._qs.setValue("last_pane", title)

    @property
    def last_pane_project(self) -> str:
        """The project `last_pane` was shown for: another project opens on Dataset."""
        return self._str("last_pane_project")

    @last_pane_project.setter
    def last_pane_project(self, path: str) -> None:
        self._qs.setValue("last_pane_project", str(path))

    @property
    def geometry(self) -> QByteArray | None:
        value = self._qs.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self._qs.setValue("window/geometry", value)

    def sync(self) -> None:
        self._qs.sync()
