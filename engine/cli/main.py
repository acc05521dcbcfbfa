"""`dspy-workbench`: argument parsing, dispatch, and the one place errors become exit codes.

Exit codes: 0 done; 1 a run failed or an internal error; 2 a user error (the message says what to
do; nothing was written); 130 a run was cancelled (what finished is kept).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings

from engine.errors import WorkbenchError


def build_parser() -> argparse.ArgumentParser:
    from engine.cli import commands_doctor as doctor_cmds
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
    for module in (project_cmds, run_cmds, gates_cmds, doctor_cmds, models_cmds):
        module.register(sub)
    return parser


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON object on stdout")


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    # Offline laptops must never wait on LiteLLM's price-map download (DSPY-NOTES.md).
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("TQDM_DISABLE", "1")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.debug)
    try:
        return int(args.handler(args) or 0)
    except WorkbenchError as exc:
        if args.debug:
            raise
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as exc:
        if args.debug:
            raise
        logging.getLogger("engine").exception("internal error")
        sys.stderr.write(
            f"internal error: {type(exc).__name__}: {exc}\n"
            f"(run again with --debug for the traceback; details are in {_log_file()})\n"
        )
        return 1


def _log_file() -> str:
    from engine.paths import log_dir

    return str(log_dir() / "cli.log")


def _configure_logging(debug: bool) -> None:
    # Full detail goes to a log file; stderr gets only what the user must see.
    handlers: list[logging.Handler] = []
    try:
        handlers.append(logging.FileHandler(_log_file(), encoding="utf-8"))
    except OSError:
        pass
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if debug else logging.ERROR)
    handlers.append(console)
    logging.basicConfig(level=logging.INFO, handlers=handlers,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    # Optimizers log every trial at INFO; the CLI prints its own trial lines instead.
    for noisy in ("LiteLLM", "litellm", "httpx", "optuna", "dspy"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
