"""The project's LM cache: how big it is, and clearing it.

Every compile and evaluation points DSPy's process-wide cache at the project's own folder
(`project.lm_cache_dir`, see `engine.jobs.compile._use_project_cache`). DSPy keys an entry on the
model string, the messages and the call's settings (temperature, rollout id, ...), and optimizers
draw their "random" samples deterministically from the seed. So re-running an identical compile
(same program, data, optimizer settings, seed and model revision) makes **zero** real LM calls:
every answer comes from this cache, and the run reproduces the same program in seconds.

Only answers the prompt format could parse stay in it (engine.lms.answer_cache evicts a reply whose
parse failed, so the next run asks again), and an OpenAI-compatible reply is read only up to what the
profile's max_tokens allows (engine.lms.openai_compat), so one answer cannot put megabytes here.

Clearing the cache deletes that folder's contents. The next identical compile then calls the model
again for every prompt (slower, costs tokens on paid APIs, and on a sampling model may choose
differently). Clearing also drops this process's handle on the old cache
(`engine.jobs.compile._active_cache = None`), so the next compile configures a fresh DSPy cache
instead of answering from the in-memory copy.

Clearing is refused while a run is in progress in this process (`busy=True`): the run would be
writing into the folder being deleted. The desktop disables its button while a compile runs.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from engine.errors import WorkbenchError


def _folder(project) -> Path:
    return Path(project.lm_cache_dir)


def cache_size(project) -> int:
    """Bytes used by the files in the project's LM cache folder (0 when it does not exist).

    Symbolic links are counted as links, never followed."""
    folder = _folder(project)
    if not folder.is_dir() or folder.is_symlink():
        return 0
    total = 0
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            try:
                info = os.lstat(os.path.join(root, name))
            except OSError:  # removed while we walked
                continue
            if stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode):
                total += info.st_size
    return total


def _check_inside_project(project, folder: Path) -> None:
    root = Path(project.root).resolve()
    if folder.is_symlink():
        raise WorkbenchError(f"the LM cache folder {folder} is a symbolic link; remove it by hand")
    resolved = folder.resolve()
    if resolved == root or root not in resolved.parents:
        raise WorkbenchError(f"the LM cache folder {resolved} is not inside the project folder {root}; "
                             "refusing to delete it")


def clear_cache(project, *, busy: bool = False) -> int:
    """Delete everything in the project's LM cache folder; returns the bytes freed.

    `busy`: the caller has a run in progress in this process; clearing is then refused with a
    WorkbenchError (nothing is deleted). The folder itself is kept (empty)."""
    if busy:
        raise WorkbenchError("a run is in progress; clear the LM cache after it finishes or is cancelled")
    folder = _folder(project)
    _release_dspy_cache(folder)
    if not folder.exists():
        return 0
    _check_inside_project(project, folder)
    freed = cache_size(project)
    errors = []
    for child in list(folder.iterdir()):
        try:
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        except OSError as exc:
            errors.append(f"{child.name}: {exc.strerror or exc}")
    if errors:
        left = cache_size(project)
        raise WorkbenchError(f"could not delete every file of the LM cache ({freed - left:,} bytes freed): "
                             + "; ".join(errors[:3]))
    return freed


def _release_dspy_cache(folder: Path) -> None:
    """Forget (and close, when it is this folder's) the DSPy cache this process configured, so the
    next compile makes a fresh one rather than answering from memory or a deleted database."""
    from engine.jobs import compile as compile_job

    active = compile_job._active_cache
    compile_job._active_cache = None
    if active is None:
        return
    active_folder, cache = active
    try:
        same = Path(active_folder).resolve() == folder.resolve()
    except OSError:
        same = False
    if not same:
        return
    try:
        cache.reset_memory_cache()
    except Exception:  # noqa: BLE001 - a cache without a memory tier
        pass
    disk = getattr(cache, "disk_cache", None)
    close = getattr(disk, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # noqa: BLE001 - closing is best effort; the files go anyway
            pass
    import dspy

    if dspy.cache is cache:  # nothing in this process may answer from the closed, deleted cache
        dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)


def human_size(n: int) -> str:
    """1536 -> '1.5 KB'; sizes in decimal units as file managers show them."""
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"
