"""The code files of a bundle for a program defined as data (a `ProgramSpec`).

program.py is always the same code, `spec_program.py` of this package: the only thing that
differs from one export to the next is its `PROGRAM_JSON` line, replaced by the program's JSON
text written as Python string literals made by `repr()`. repr() of a str is a complete literal
whatever the text holds (quotes, triple quotes, backslashes, newlines, NUL, escapes), so no name,
instruction, description or choice from a project can end it early and become code. Demos never
reach code at all: they are in state.json, which DSPy loads as JSON.

Other kinds of program (a user's own module, #19) write their own program.py through their own
function with the same shape as `spec_program_files`; `export_run` picks one per kind.
"""

from __future__ import annotations

import json
from pathlib import Path

from engine.artifacts.names import ADAPTER, MODEL_CHECK, PROGRAM

_HERE = Path(__file__).parent
TEMPLATE = _HERE / "spec_program.py"
MODEL_CHECK_SOURCE = _HERE / "model_check.py"
_PLACEHOLDER = 'PROGRAM_JSON = "{}"  # replaced at export by the program\'s JSON (name, fingerprint, stages, format, model)\n'


def program_data(spec, *, prompt_format: str, model: dict | None = None) -> dict:
    """Everything program.py needs to know, as JSON-able data."""
    from engine.programs import class_name

    return {
        "name": spec.name,
        "fingerprint": spec.fingerprint(),
        "prompt_format": prompt_format,
        "model": model or {},
        "stages": [
            {"name": s.name, "class_name": class_name(s.name), "module": s.module, "instructions": s.instructions,
             "inputs": [f.model_dump(mode="json") for f in s.inputs],
             "outputs": [f.model_dump(mode="json") for f in s.outputs]}
            for s in spec.stages
        ],
    }


def program_source(spec, *, prompt_format: str = "chat", model: dict | None = None) -> str:
    """program.py for the spec: plain DSPy, importing nothing from the Workbench."""
    template = TEMPLATE.read_text("utf-8")
    if template.count(_PLACEHOLDER) != 1:
        raise RuntimeError(f"{TEMPLATE} must hold the PROGRAM_JSON placeholder line exactly once")
    text = json.dumps(program_data(spec, prompt_format=prompt_format, model=model), indent=2, ensure_ascii=True)
    # One repr()'d literal per JSON line: readable, and each one is complete on its own.
    pieces = "".join(f"    {line!r}\n" for line in (text + "\n").splitlines(keepends=True))
    return template.replace(_PLACEHOLDER, f"PROGRAM_JSON = (\n{pieces})\n")


def spec_program_files(spec, *, prompt_format: str, model: dict) -> dict[str, bytes]:
    """The code files of the bundle, by name: program.py, model_check.py, and compact_adapter.py for
    the compact format (the very file this Workbench renders prompts with)."""
    files = {PROGRAM: program_source(spec, prompt_format=prompt_format, model=model).encode("utf-8"),
             MODEL_CHECK: MODEL_CHECK_SOURCE.read_bytes()}
    if prompt_format == "compact":
        from engine.adapters import compact as compact_module

        files[ADAPTER] = Path(compact_module.__file__).read_bytes()
    return files
