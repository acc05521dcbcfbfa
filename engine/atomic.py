"""Atomic file replacement: write beside the target, fsync, rename.

A crash or a full disk leaves either the old file or the new one, never half of either. The
temporary file is `.NAME.RANDOM.tmp` in the target's folder (`TEMP_GLOB` matches it). While it is
being written its writer holds an exclusive `flock` on it, so `remove_stale_temp_files` can tell
the leftover of a killed writer (no lock) from a write still under way in another process.

The new file keeps the mode of the file it replaces; a new file gets the umask's default mode,
as `open()` would give it (mkstemp's 0600 would hide a shared project's data from its group).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: an open file cannot be deleted there anyway
    fcntl = None

TEMP_GLOB = ".*.*.tmp"
# What a project's .gitignore lists for these temp files.
GITIGNORE_PATTERN = ".*.tmp"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    atomic_write_with(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_with(path: str | os.PathLike, write: Callable, *,
                      before_replace: Callable[[], None] | None = None) -> None:
    """Call `write(binary_file_handle)` on a temporary file, then move it over `path`.

    `before_replace()` runs once the new content is on disk and before the rename: raising there
    (a cancelled command) leaves the old file untouched and removes the temporary one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(target)
    fd, tmp_name = _create_temp(target)
    try:
        with os.fdopen(fd, "wb") as handle:
            # fchmod, not the open's mode argument: the umask must not narrow a kept mode.
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), mode)
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
            if before_replace is not None:
                before_replace()
            if fcntl is not None:
                # Renamed while still open and locked: a cleaner in another process never sees an
                # unlocked temp file that is about to be renamed.
                os.replace(tmp_name, target)
        if fcntl is None:  # Windows cannot rename an open file
            os.replace(tmp_name, target)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.errno and not exc.filename:
            # A writer such as pyarrow's CSV writer reports ENOSPC without a file: name the target.
            raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(target)) from exc
        raise
    _fsync_dir(target.parent)


def remove_stale_temp_files(folders: Iterable[str | os.PathLike]) -> list[Path]:
    """Delete the temp files that killed writers left in `folders`; return what was removed.

    A temp file whose lock can be taken has no writer any more. It is unlinked while the lock is
    held, and a writer checks after taking its lock that its name is still its own (see
    `_create_temp`), so the two never race. Errors (a read-only folder, a file another user owns)
    are ignored: a leftover is untidy, never harmful, as its rename never happens.
    """
    removed: list[Path] = []
    for folder in folders:
        try:
            candidates = sorted(Path(folder).glob(TEMP_GLOB))
        except OSError:
            continue
        for candidate in candidates:
            if _remove_if_unlocked(candidate):
                removed.append(candidate)
    return removed


def _remove_if_unlocked(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.unlink(path)
    except OSError:
        return False
    finally:
        os.close(fd)  # also releases the lock
    return True


def _mode_for(target: Path) -> int | None:
    """The permission bits to give the new file: the old file's, or None for the umask's default."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        return None


def _create_temp(target: Path) -> tuple[int, str]:
    """A new, locked temp file beside `target`: like mkstemp (O_EXCL, a random name), but mode
    0666 so the umask decides a new file's mode."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    while True:
        name = str(target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(name, flags, 0o666)
        except FileExistsError:
            continue
        if fcntl is None:
            return fd, name
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            # A cleaner may have taken the lock between our open and our flock, and unlinked the name.
            if os.stat(name).st_ino == os.fstat(fd).st_ino:
                return fd, name
        except FileNotFoundError:
            pass
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the directory entry is on disk (POSIX); Windows has no such call.
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
