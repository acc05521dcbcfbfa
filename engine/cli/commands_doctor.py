"""`dspy-workbench doctor`: check that this machine can run the Workbench, with one real model call."""

from __future__ import annotations

import time


def register(sub) -> None:
    from engine.cli.main import add_json_flag

    p = sub.add_parser("doctor", help="check the installation: libraries, the embedded model, one real call")
    add_json_flag(p)
    p.set_defaults(handler=cmd_doctor)


def cmd_doctor(args) -> int:
    from engine.cli.main import print_json
    from engine.errors import ModelError

    checks: list[dict] = []

    def check(name: str, fn, *, required: bool = True):
        started = time.monotonic()
        try:
            detail, ok = fn(), True
        except Exception as exc:  # every failure becomes one line of the report
            detail, ok = str(exc), False
        checks.append({"check": name, "ok": ok, "required": required, "detail": detail,
                       "seconds": round(time.monotonic() - started, 2)})
        return ok

    check("libraries", _libraries)
    if check("embedded model file", _model_file):
        check("embedded model answers (schema-constrained)", _model_call)
    check("keyring backend", _keyring, required=False)
    check("window on this display", _window, required=False)
    if args.json:
        print_json({"ok": all(c["ok"] for c in checks if c["required"]), "checks": checks})
    else:
        for c in checks:
            print(f"{'ok ' if c['ok'] else 'FAIL' if c['required'] else 'WARN'} {c['check']}: {c['detail']}")
    if not all(c["ok"] for c in checks if c["required"]):
        raise ModelError("the installation is incomplete (see the FAIL lines above); run ./setup.sh again")
    return 0


def _libraries() -> str:
    from engine.jobs.compile import library_versions

    return ", ".join(f"{k} {v}" for k, v in library_versions().items())


def _model_file() -> str:
    from engine.lms.embedded import file_sha256, model_path

    path = model_path()
    return f"{path} sha256:{file_sha256(path)}"


def _model_call() -> str:
    import dspy

    from engine.lms.connect import connect
    from engine.lms.profiles import embedded_profile
    from engine.programs import build_program, stage_from_signature, ProgramSpec

    conn = connect(embedded_profile())
    stage = stage_from_signature("ticket -> urgency: Literal['low', 'medium', 'high']", name="triage",
                                 instructions="How urgent is this support ticket?")
    program = build_program(ProgramSpec(stages=[stage]))
    started = time.monotonic()
    with dspy.context(lm=conn.lm.copy(cache=False), adapter=conn.adapter):
        answer = program(ticket="The charger I bought is sparking and smells of smoke.").urgency
    return f"answered {answer!r} in {time.monotonic() - started:.1f}s"


def _keyring() -> str:
    import keyring

    return type(keyring.get_keyring()).__name__


def _window() -> str:
    """Whether Qt's platform plugin can load here (without opening a window: doctor runs headless)."""
    from engine.platform_check import check

    report = check()
    if not report.libraries_ok:
        raise RuntimeError(report.summary())
    return report.summary()
