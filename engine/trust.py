"""Trust in code a project brings: a metric from a Python file, the user's own DSPy module.

A project folder can come from anywhere (a cloned repository, a colleague's share), so the
Python files it names are someone else's code until the user says otherwise. A file runs only
once the user trusts that exact version: its resolved path and sha256, kept in the user's own
config folder (`trusted-code.json`), never in the project. Editing the file, or opening a copy of
the project somewhere else, makes it untrusted again until the user trusts it once more.

Both faces ask the same questions here: the CLI's `metric trust` / `program trust` and the
window's "Trust this file?" prompt call `trust_file`; every place that would import user code
calls `import_trusted`, which refuses an untrusted file with `UntrustedCodeError` before
reading a line of it as code.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from engine.atomic import atomic_write_text
from engine.errors import UntrustedCodeError, WorkbenchError

TRUST_FILE = "trusted-code.json"
_LOCK = threading.Lock()
_IMPORT_LOCK = threading.RLock()


@dataclass(frozen=True)
class CodeFile:
    """One version of a code file: where it is and what it holds."""

    path: Path
    sha256: str


def code_file(path: str | Path) -> CodeFile:
    """The file's resolved path and sha256 (a missing or unreadable file is a WorkbenchError)."""
    resolved = Path(path).expanduser().resolve()
    try:
        data = resolved.read_bytes()
    except FileNotFoundError:
        raise WorkbenchError(f"{resolved} does not exist; check the path") from None
    except IsADirectoryError:
        raise WorkbenchError(f"{resolved} is a folder, not a Python file") from None
    except OSError as exc:
        raise WorkbenchError(f"{resolved} cannot be read ({exc.strerror or exc})") from None
    return CodeFile(resolved, hashlib.sha256(data).hexdigest())


def _store_path() -> Path:
    from engine.paths import config_dir

    return config_dir() / TRUST_FILE


def _load() -> dict:
    path = _store_path()
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {"version": 1, "files": []}
    except (OSError, ValueError):
        # A damaged trust file trusts nothing; the next trust rewrites it whole.
        return {"version": 1, "files": []}
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        return {"version": 1, "files": []}
    return data


def is_trusted(path: str | Path) -> bool:
    return _is_trusted(code_file(path))


def _is_trusted(code: CodeFile) -> bool:
    entries = _load()["files"]
    return any(isinstance(e, dict) and e.get("path") == str(code.path) and e.get("sha256") == code.sha256
               for e in entries)


def trust_file(path: str | Path) -> CodeFile:
    """Trust this exact version of the file (its path and sha256) from now on."""
    from engine.store import utc_now

    code = code_file(path)
    with _LOCK:
        data = _load()
        files = [e for e in data["files"] if isinstance(e, dict)
                 and not (e.get("path") == str(code.path) and e.get("sha256") == code.sha256)]
        files.append({"path": str(code.path), "sha256": code.sha256, "trusted_at": utc_now()})
        data["files"] = files
        atomic_write_text(_store_path(), json.dumps(data, indent=2) + "\n")
    return code


def require_trusted(path: str | Path, *, what: str, trust_hint: str) -> CodeFile:
    """The file, when the user trusts this version of it; else `UntrustedCodeError`.

    `what` names the file's role ("the metric file", "the program module"); `trust_hint` is
    the command that trusts it (the GUI offers its own prompt instead).
    """
    code = code_file(path)
    if not _is_trusted(code):
        raise UntrustedCodeError(
            f"{what} {code.path} is not trusted in this version (sha256 {code.sha256[:12]}); it is "
            f"code and runs only once you trust it: read it, then run `{trust_hint}`",
            path=code.path, sha256=code.sha256, what=what,
        )
    return code


def import_trusted(path: str | Path, *, what: str, trust_hint: str) -> tuple[ModuleType, CodeFile]:
    """Import a trusted file by its path as a fresh module; errors become one sentence.

    Only this file's exact version is trusted, so its folder is NOT put on `sys.path`: a sibling
    module it imports (`import helper` beside it) is code nobody trusted, and a project could
    hide anything there. Such an import fails with one sentence; keep the module in one file.
    A file that fails to import is a WorkbenchError naming the file, the line and the exception.
    """
    code = require_trusted(path, what=what, trust_hint=trust_hint)
    name = f"workbench_user_{code.sha256[:16]}"
    with _IMPORT_LOCK:
        existing = sys.modules.get(name)
        if existing is not None and getattr(existing, "__file__", None) == str(code.path):
            return existing, code
        spec = importlib.util.spec_from_file_location(name, code.path)
        if spec is None or spec.loader is None:
            raise WorkbenchError(f"{code.path} cannot be imported as Python (is it a .py file?)")
        module = importlib.util.module_from_spec(spec)
        folder = str(code.path.parent)
        # The folder may be on sys.path already (a cwd of "" or "."): hide it while the file runs.
        hidden = [entry for entry in sys.path if entry in ("", ".") or _same_folder(entry, folder)]
        sys.path[:] = [entry for entry in sys.path if entry not in hidden]
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:
            sys.modules.pop(name, None)
            if not isinstance(exc, (Exception, SystemExit)):
                raise  # Ctrl-C, a cancel: not the file's fault
            hint = ""
            if isinstance(exc, ModuleNotFoundError) and exc.name and (code.path.parent / f"{exc.name}.py").exists():
                hint = (f"; {exc.name}.py beside it is not trusted and is never imported: put what the "
                        "file needs into the file itself")
            raise WorkbenchError(f"{what} {code.path} failed to import: "
                                 f"{describe_user_error(exc, code.path)}{hint}") from None
        finally:
            sys.path[:0] = [entry for entry in hidden if entry not in sys.path]
    return module, code


def _same_folder(entry: str, folder: str) -> bool:
    try:
        return Path(entry).resolve() == Path(folder)
    except (OSError, RuntimeError):
        return False


def describe_user_error(exc: BaseException, path: Path) -> str:
    """"line N: TypeError: message", with the innermost line of `path` that the error passed."""
    line = None
    if isinstance(exc, SyntaxError) and exc.lineno:
        line = exc.lineno
    else:
        for frame in traceback.extract_tb(exc.__traceback__):
            if Path(frame.filename).resolve() == path:
                line = frame.lineno
    message = str(exc).strip() or "(no message)"
    text = f"{type(exc).__name__}: {message}"
    return f"line {line}: {text}" if line else text
