"""The exact prompt a bundle sends, rendered offline from the bundle's own files, running none of them.

The program comes from program.py's PROGRAM_JSON literal, read with `ast` (never executed), and
from state.json; the prompt format is this Workbench's adapter, used only when the bundle's
compact_adapter.py is byte for byte the file this Workbench renders with (otherwise the bundle's
adapter is someone's code: it is not run, and the prompt is not rendered).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from engine.artifacts.names import ADAPTER, PROGRAM, STATE
from engine.errors import ArtifactError


def bundle_program_data(bundle: str | Path) -> dict:
    """program.py's PROGRAM_JSON, parsed as data."""
    path = Path(bundle).expanduser() / PROGRAM
    try:
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError) as exc:
        raise ArtifactError(f"{path} cannot be read as a Workbench program ({exc})") from None
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["PROGRAM_JSON"]:
            try:
                data = json.loads(ast.literal_eval(node.value))
            except (ValueError, TypeError, SyntaxError):
                break
            if isinstance(data, dict) and data.get("stages"):
                return data
            break
    raise ArtifactError(f"{path} is not a program the Workbench exported (no PROGRAM_JSON data); "
                        "its prompt cannot be rendered without running it")


def bundle_program(bundle: str | Path):
    """The bundle's program as a ProgramSpec (the fields a reviewer fills in: `spec.input_names`)."""
    from engine.programs import parse_program

    data = bundle_program_data(bundle)
    stage_keys = ("name", "module", "instructions", "inputs", "outputs")
    return parse_program({"name": data.get("name", ""),
                          "stages": [{k: s[k] for k in stage_keys if k in s} for s in data["stages"]]})


def bundle_prompts(bundle: str | Path, inputs: dict):
    """Per predictor, the messages the bundle's program sends for `inputs` (engine.prompts.RenderedPrompt)."""
    from engine.adapters import format_revision
    from engine.artifacts.bundle import sha256_file
    from engine.prompts import render_program_prompts

    folder = Path(bundle).expanduser()
    data = bundle_program_data(folder)
    spec = bundle_program(folder)
    prompt_format = data.get("prompt_format", "chat")
    if prompt_format == "compact":
        if not (folder / ADAPTER).is_file() or sha256_file(folder / ADAPTER) != format_revision("compact"):
            raise ArtifactError(f"this bundle's {ADAPTER} is another version of the compact prompt format than this "
                                "Workbench's; its prompt cannot be rendered here without running its code")
    try:
        state = json.loads((folder / STATE).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{folder / STATE} cannot be read ({exc})") from None
    try:
        return render_program_prompts(spec, inputs, state=state, prompt_format=prompt_format)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise ArtifactError(f"{folder / STATE} does not fit the bundle's program ({exc})") from None
