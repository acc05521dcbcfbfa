"""`dspy-workbench`: argument parsing, dispatch, and the one place errors become exit codes.

Exit codes: 0 done; 1 a run failed or an internal error; 2 a user error or an environment the
user must fix (a full disk, a read-only folder; the message says what to do; nothing was
written); 130 cancelled by Ctrl-C (what finished is kept); 143 the same after SIGTERM, which
takes Ctrl-C's path; 141 stdout was closed early (`| head`), silently.
"""

from __future__ import annotations

import argparse
import errno
import importlib.abc
import importlib.util
import json
import logging
import os
import signal
import sqlite3
import sys
import threading
import warnings
from pathlib import Path

from engine.errors import WorkbenchError

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process that SIGTERM killed
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what `set -o pipefail` sees from `yes | head`
_terminated = threading.Event()
_owns_process = threading.Event()


def build_parser() -> argparse.ArgumentParser:
    from engine.cli import commands_artifacts as artifact_cmds
    from engine.cli import commands_desktop as desktop_cmds
    from engine.cli import commands_doctor as doctor_cmds
    from engine.cli import commands_metric as metric_cmds
    from engine.cli import commands_gates as gates_cmds
    from engine.cli import commands_models as models_cmds
    from engine.cli import commands_project as project_cmds
    from engine.cli import commands_runs as run_cmds

    parser = argparse.ArgumentParser(
        prog="dspy-workbench",
        description="Optimize DSPy prompt programs on your own laptop.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in (project_cmds, metric_cmds, run_cmds, gates_cmds, artifact_cmds, doctor_cmds, models_cmds,
                   desktop_cmds):
        module.register(sub)
    return parser


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON object on stdout")


def terminal_text(text) -> str:
    """Text from a project, a dataset or a server, safe on a terminal: in each line, control, format
    (bidi) and separator characters are escaped (no name can clear a line, retitle the terminal or
    fake output); line breaks are kept."""
    from engine.artifacts.bundle import printable

    return "\n".join(printable(line) for line in str(text).split("\n"))


def terminal_print(*parts, **kwargs) -> None:
    """`print`, with every part made safe by `terminal_text`."""
    print(*(terminal_text(part) for part in parts), **kwargs)


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def mark_terminated() -> None:
    """SIGTERM arrived: the interruption exits 143, not 130."""
    _terminated.set()


def interrupted_exit_code() -> int:
    """130 after Ctrl-C, 143 when SIGTERM started the interruption."""
    return EXIT_TERMINATED if _terminated.is_set() else EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    # Offline laptops must never wait on LiteLLM's price-map download (DSPY-NOTES.md).
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("TQDM_DISABLE", "1")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.debug)
    _owns_process.clear()
    if argv is None:
        _owns_process.set()
    previous = _handle_sigterm_like_ctrl_c()
    try:
        return _run(args)
    finally:
        if owns_process():
            ignore_late_interrupts()
        elif previous is not None:
            signal.signal(signal.SIGTERM, previous)
        _terminated.clear()


def owns_process() -> bool:
    """Whether this run of `main` is the process's own command (not a call from a test or a script)."""
    return _owns_process.is_set()


def ignore_late_interrupts() -> None:
    """The command's outcome is decided and the process is about to exit: a Ctrl-C now (during
    the interpreter's shutdown) must not turn a finished command into one killed by SIGINT."""
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)


def _run(args) -> int:
    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # inside the try: a closed pipe must fail here, not at interpreter exit
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except WorkbenchError as exc:
        if args.debug:
            raise
        _tell(f"error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        _tell("interrupted" + (" (SIGTERM)" if _terminated.is_set() else ""))
        return interrupted_exit_code()
    except (OSError, sqlite3.Error) as exc:
        explained = _environment_problem(exc)
        if explained is None:
            return _internal_error(exc, args.debug)
        logging.getLogger("engine").warning("%s", explained, exc_info=True)
        if args.debug:
            raise
        _tell(f"error: {explained}")
        return 2
    except Exception as exc:
        return _internal_error(exc, args.debug)
    if code == EXIT_INTERRUPTED and _terminated.is_set():
        return EXIT_TERMINATED
    return code


def _internal_error(exc: BaseException, debug: bool) -> int:
    if debug:
        raise exc
    logging.getLogger("engine").error("internal error", exc_info=exc)
    _tell(f"internal error: {type(exc).__name__}: {_one_line(str(exc))} "
          f"(run again with --debug for the traceback; details are in {log_file()})")
    return 1


def _environment_problem(exc: OSError | sqlite3.Error) -> str | None:
    """One sentence for a full disk or a read-only folder, wherever it struck; None for anything else.

    Every file the engine replaces is written beside and renamed (engine.atomic), and the run
    history commits whole transactions, so what was saved before is intact.
    """
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", "")
        text = str(exc).lower()
        if name == "SQLITE_FULL" or "disk is full" in text:
            return ("the disk is full, so a database of the project (its run history or LM cache) could not be "
                    "written; free some space and run the command again (what was saved before is intact)")
        if name == "SQLITE_READONLY" or "readonly" in text:
            return ("a database of the project (its run history or LM cache) is read-only, so nothing could be "
                    "recorded; make the project folder writable (or copy it somewhere writable) and run the command again")
        return None
    place = _place(exc.filename2 or exc.filename)  # a copy or a rename: where it was writing
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return (f"the disk is full (writing in {place}); free some space and run the command again "
                "(what was saved before is intact)")
    if exc.errno == errno.EROFS:
        return f"{place} is on a read-only file system; copy the project somewhere writable, or remount it read-write"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied in {place}; make the project folder writable for your user, or copy it somewhere writable"
    return None


def _place(filename) -> str:
    """The folder an OSError struck (an atomic write's temp file says nothing to a user)."""
    if not filename:
        return "a folder of the project or the app"
    path = Path(os.fsdecode(filename))
    return str(path.parent) if path.name.startswith(".") and path.name.endswith(".tmp") else str(path)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _tell(line: str) -> None:
    """A line for the user on stderr; a closed stderr (`2>&1 | head`) is no reason to fail."""
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _discard_stdout() -> None:
    # Python flushes stdout again at exit; pointing it at /dev/null keeps that flush quiet
    # (the recipe in the `signal` module's documentation on SIGPIPE).
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _handle_sigterm_like_ctrl_c():
    """SIGTERM raises KeyboardInterrupt in the main thread: the same cancel path as Ctrl-C runs.

    Returns the handler it replaced (None off the main thread, where Python cannot set one).
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_sigterm(signum, frame):
        mark_terminated()
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, on_sigterm)


def log_file() -> str:
    from engine.paths import log_dir

    return str(log_dir() / "cli.log")


def _configure_logging(debug: bool) -> None:
    # Full detail goes to a log file; stderr gets only the lines the CLI writes itself (and,
    # with --debug, every log record too).
    logging.raiseExceptions = False  # a log file on a full disk must not print tracebacks
    handlers: list[logging.Handler] = []
    try:
        handlers.append(logging.FileHandler(log_file(), encoding="utf-8"))
    except OSError:
        handlers.append(logging.NullHandler())  # not logging's last resort, which prints to stderr
    if debug:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.DEBUG)
        handlers.append(console)
    logging.basicConfig(level=logging.INFO, handlers=handlers,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    # Optimizers log every trial at INFO; the CLI prints its own trial lines instead.
    for noisy in ("LiteLLM", "litellm", "httpx", "optuna", "dspy"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.WARNING)
    _after_import("dspy", lambda: _route_dspy_logs(debug))
    _progress_bars["shown"] = debug
    _after_import("tqdm", _quiet_progress_bars)


# Whether third-party tqdm bars may draw (only with --debug); read at each bar's creation.
_progress_bars = {"shown": False, "patched": False}


def _quiet_progress_bars() -> None:
    """No tqdm bar on stderr without --debug: the CLI draws its own progress line.

    TQDM_DISABLE only changes tqdm's default, and DSPy's Evaluate passes `disable=` explicitly
    (MIPROv2 asks for its bar, DSPY-NOTES.md), so the flag is set on every bar here instead.
    """
    import tqdm.std

    if _progress_bars["patched"]:
        return
    _progress_bars["patched"] = True
    original = tqdm.std.tqdm.__init__

    def __init__(self, *args, **kwargs):
        if not _progress_bars["shown"]:
            kwargs["disable"] = True
        original(self, *args, **kwargs)

    tqdm.std.tqdm.__init__ = __init__


def _route_dspy_logs(debug: bool) -> None:
    """DSPy gives its logger its own stderr handler at import (dspy.utils.logging_utils); send its
    records to ours instead, i.e. the log file."""
    logger = logging.getLogger("dspy")
    for handler in logger.handlers[:]:
        if handler.get_name() == "dspy_handler":
            logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)


def _after_import(module: str, then) -> None:
    """Call `then()` once `module` is imported (now, if it already is); the CLI imports DSPy lazily."""
    if module in sys.modules:
        then()
        return
    if any(isinstance(f, _AfterImport) and f.module == module for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _AfterImport(module, then))


class _AfterImport(importlib.abc.MetaPathFinder):
    def __init__(self, module: str, then):
        self.module = module
        self.then = then

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.module:
            return None
        sys.meta_path.remove(self)  # one shot; lets the real finders answer below
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        load, then = spec.loader.exec_module, self.then

        def exec_module(module):
            load(module)
            then()

        spec.loader.exec_module = exec_module
        return spec


if __name__ == "__main__":
    sys.exit(main())
