"""Which response-format shape each OpenAI-compatible server took, remembered between runs.

A profile with `json_mode = "auto"` learns, on its first structured call, whether its server takes
OpenAI's `json_schema`, llama.cpp's `json_object` with an inline schema, or neither
(engine.lms.openai_compat). The answer is kept per profile and server (name, base URL and model)
in `<cache dir>/json_modes.json`, so later runs skip the refused request. It is a cache: deleting
the file only costs one refused request, and a profile that names its json_mode never reads it.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

FILE = "json_modes.json"
MODES = ("json_schema", "json_object", "none")

log = logging.getLogger(__name__)
_lock = threading.Lock()


def _path() -> Path:
    from engine.paths import cache_dir

    return cache_dir() / FILE


def _key(profile) -> str:
    return f"{profile.name} {profile.base_url} {profile.model}"


def _read() -> dict:
    try:
        data = json.loads(_path().read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remembered(profile) -> str | None:
    """The mode this profile's server last took, or None when it was never learned."""
    with _lock:
        mode = _read().get(_key(profile))
    return mode if mode in MODES else None


def remember(profile, mode: str) -> None:
    """Keep `mode` for this profile and server (best effort: a read-only cache folder only costs a retry)."""
    from engine.atomic import atomic_write_text

    with _lock:
        data = _read()
        data[_key(profile)] = mode
        try:
            path = _path()
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
        except OSError as exc:
            log.warning("could not remember the JSON mode of profile %s: %s", profile.name, exc)
