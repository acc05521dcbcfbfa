"""The real CLI in a process of its own, answered by a scripted DummyLM (tests that send signals).

    python tests/engine/scripted_cli.py CALLS_FILE DELAY_S -- COMMAND ARGS...

Every model profile answers through `tests.conftest.ScriptedLM` (each call takes DELAY_S), and
each call that reaches the model appends a line to CALLS_FILE at once, so a test that kills this
process still knows how many calls were made. Run it with the worktree as the current folder.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path


def main() -> int:
    # Ctrl-C as at a terminal, even when started from a shell that ignores SIGINT in background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    calls_file, delay = Path(sys.argv[1]), float(sys.argv[2])
    argv = sys.argv[sys.argv.index("--") + 1:]
    from engine.adapters import make_adapter
    from engine.cli.main import main as cli_main
    from engine.lms import connect as connect_module
    from engine.lms.connect import ConnectedLM, ModelRevision
    from tests.conftest import ScriptedLM

    scripted = ScriptedLM({"refund": {"urgency": "medium"}, "fire": {"urgency": "high"}}, {"urgency": "low"}, delay)
    engine = scripted.lm._engine_spec
    complete = engine._complete_messages

    def counted(messages):
        answer = complete(messages)
        with calls_file.open("a") as out:  # one line per call, on disk before the next one
            out.write("1\n")
        return answer

    engine._complete_messages = counted

    def scripted_connect(profile):
        return ConnectedLM(profile=profile, lm=scripted.lm, adapter=make_adapter("compact"),
                           revision=ModelRevision("dummy", "scripted", "dummy:1"))

    connect_module.connect = scripted_connect
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
