"""program.py for a bundle whose program is the user's own module (engine/user_module.py).

The bundle ships the module's source beside program.py; `build_program()` imports that copy by
its file path (so the bundle loads from any working directory, with no Workbench installed) and
builds NAME as the Workbench did. Everything that came from the user or the project (the module's
name, the source's file name, predictor names) reaches the generated code only inside one JSON
string literal, written with `repr()` outside any docstring and parsed at import: text, never code.
"""

from __future__ import annotations

import json

# The bundle's own files: a source of the same name is shipped under another one.
_BUNDLE_NAMES = {"program.py", "compact_adapter.py", "state.json", "manifest.json"}

_ADAPTERS = {
    "compact": '_load_beside("compact_adapter.py", "compact_adapter").CompactAdapter()',
    "chat": "dspy.ChatAdapter(use_json_adapter_fallback=False)",
    "json": "dspy.JSONAdapter()",
}

_TEMPLATE = '''"""A DSPy program exported by DSPy Workbench: the user's own module, shipped beside this file.

Plain DSPy: build_program() builds the module from the shipped source (loaded by its file path);
load_program() also loads the compiled state saved beside this file (state only, no pickle).
make_adapter() returns the adapter the program was compiled with; run it with
`dspy.context(lm=..., adapter=make_adapter())`. PROGRAM (below) names the module and its source.
"""

import importlib.util
import json
import sys
from pathlib import Path

import dspy

PROGRAM = json.loads({meta})
PROGRAM_FINGERPRINT = PROGRAM["fingerprint"]
_HERE = Path(__file__).resolve().parent


def _load_beside(file_name, module_name):
    """Import a file shipped in this folder by its path (its siblings importable while it runs)."""
    if module_name in sys.modules and getattr(sys.modules[module_name], "__file__", None) == str(_HERE / file_name):
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, _HERE / file_name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(_HERE))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    finally:
        sys.path.remove(str(_HERE))
    return module


def build_program() -> dspy.Module:
    module = _load_beside(PROGRAM["source"], PROGRAM["module_name"])
    target = getattr(module, PROGRAM["name"])
    program = target()
    names = [name for name, _ in program.named_predictors()]
    if names != PROGRAM["predictors"]:
        raise RuntimeError(f"{{PROGRAM['name']}} has the predictors {{names}}, not {{PROGRAM['predictors']}}")
    return program


def load_program(state_path=_HERE / "state.json") -> dspy.Module:
    program = build_program()
    program.load(str(state_path), allow_pickle=False)
    return program


def make_adapter():
    return {adapter}
'''


def bundled_source_name(file_name: str) -> str:
    """The file name the module's source gets in the bundle (never one of the bundle's own)."""
    return f"user_{file_name}" if file_name in _BUNDLE_NAMES else file_name


def module_program_source(program, *, fingerprint: str, source_name: str, prompt_format: str = "chat") -> str:
    """program.py for a ModuleProgram whose source is shipped as `source_name`."""
    meta = {
        "name": program.name,
        "source": source_name,
        "module_name": "workbench_bundle_" + program.sha256[:16],
        "sha256": program.sha256,
        "fingerprint": fingerprint,
        "predictors": program.predictor_names(),
        "inputs": program.input_names,
        "outputs": program.output_names,
    }
    return _TEMPLATE.format(meta=repr(json.dumps(meta, sort_keys=True)), adapter=_ADAPTERS[prompt_format])


def module_program_for_export(project, record):
    """The project's module program, when it is exactly the version the run was compiled for;
    an earlier version's source is no longer in the project, so such a run is refused."""
    from engine.errors import WorkbenchError

    current = project.program
    if getattr(current, "kind", None) != "python" or record.program_fingerprint != current.fingerprint():
        raise WorkbenchError(
            f"run {record.run_id} was compiled for an earlier version of the program, whose module source "
            "the project no longer holds; compile the current program and export that run")
    return current


def write_module_files(program, record, folder) -> dict:
    """Write program.py and the module's source into `folder`; the manifest's extra program entries."""
    import shutil
    from pathlib import Path

    from engine.atomic import atomic_write_text
    from engine.trust import code_file

    code = code_file(program.source_path)
    if code.sha256 != program.sha256:
        from engine.errors import WorkbenchError

        raise WorkbenchError(f"{code.path} changed while exporting; export again")
    source_name = bundled_source_name(Path(program.source).name)
    shutil.copyfile(code.path, Path(folder) / source_name)
    atomic_write_text(Path(folder) / "program.py", module_program_source(
        program, fingerprint=record.program_fingerprint, source_name=source_name,
        prompt_format=record.adapter_format))
    return {"kind": "python", "module": program.name, "source": source_name, "source_sha256": code.sha256}
