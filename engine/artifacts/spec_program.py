"""A DSPy program exported by DSPy Workbench: plain DSPy, nothing from the Workbench.

    build_program()               the module, uncompiled
    load_program(lm=...)          the module with the compiled state beside this file (state.json,
                                  state only, never a pickle); with `lm`, first `check_model(lm)`
    check_model(lm)               ValueError unless `lm` is the exact model revision this program
                                  was compiled and evaluated for (MODEL below)
    make_adapter()                the adapter it was compiled with; run it with
                                  `dspy.context(lm=lm, adapter=make_adapter())`

It loads from any working directory and by file path (importlib.util.spec_from_file_location):
the files it ships with are found beside it. Everything that came from the project (names,
instructions, descriptions, choices) is in PROGRAM_JSON below, a JSON text parsed at import, so
none of it is ever Python code.
"""

import json
import sys
import types
from pathlib import Path
from typing import Literal

import dspy

HERE = Path(__file__).resolve().parent
PROGRAM_JSON = "{}"  # replaced at export by the program's JSON (name, fingerprint, stages, format, model)

PROGRAM = json.loads(PROGRAM_JSON)
PROGRAM_NAME = PROGRAM.get("name", "")
PROGRAM_FINGERPRINT = PROGRAM.get("fingerprint", "")
PROMPT_FORMAT = PROGRAM.get("prompt_format", "chat")
MODEL = PROGRAM.get("model", {})
_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "list[str]": list[str]}


def _annotation(field):
    if field["type"] == "literal":
        return Literal[tuple(field["choices"])]
    return _TYPES[field["type"]]


def _signature(stage):
    fields = {}
    for role, maker in (("inputs", dspy.InputField), ("outputs", dspy.OutputField)):
        for field in stage[role]:
            if not field["name"].isidentifier():
                raise ValueError(f"field name {field['name']!r} is not an identifier")
            options = {"desc": field["description"]} if field.get("description") else {}
            fields[field["name"]] = (_annotation(field), maker(**options))
    return dspy.Signature(fields, stage.get("instructions") or None, signature_name=stage["class_name"])


class Program(dspy.Module):
    """Runs the stages in order; each stage's outputs become inputs for later stages."""

    def __init__(self):
        super().__init__()
        self._plan = []
        for stage in PROGRAM["stages"]:
            if not stage["name"].isidentifier():
                raise ValueError(f"stage name {stage['name']!r} is not an identifier")
            module = dspy.ChainOfThought if stage["module"] == "cot" else dspy.Predict
            setattr(self, stage["name"], module(_signature(stage)))
            self._plan.append((stage["name"], [f["name"] for f in stage["inputs"]],
                               [f["name"] for f in stage["outputs"]]))

    def forward(self, **inputs):
        values = dict(inputs)
        outputs = {}
        for stage_name, input_names, output_names in self._plan:
            prediction = getattr(self, stage_name)(**{name: values[name] for name in input_names})
            for name in output_names:
                values[name] = outputs[name] = prediction[name]
        return dspy.Prediction(**outputs)


def build_program() -> Program:
    return Program()


def load_program(state_path=None, *, lm=None, check_model=True) -> Program:
    """The compiled program. With `lm`, checks first that it is the model revision in MODEL
    (`check_model=False` skips that check: you then serve a model it was not evaluated on)."""
    if lm is not None and check_model:
        _check_model(lm)
    program = build_program()
    program.load(str(state_path or HERE / "state.json"), allow_pickle=False)
    return program


def check_model(lm, *, timeout_s=10.0, model_file=None) -> None:
    """Raise ValueError naming both revisions unless `lm` (a dspy.LM) is MODEL's exact revision.

    `model_file`: the GGUF file a llama.cpp server serves, when the server does not say where it is."""
    _sibling("model_check").check_model(lm, MODEL, timeout_s=timeout_s, model_file=model_file)


_check_model = check_model  # load_program's `check_model` flag hides the function's name there


def make_adapter():
    if PROMPT_FORMAT == "compact":
        return _sibling("compact_adapter").CompactAdapter()
    if PROMPT_FORMAT == "json":
        return dspy.JSONAdapter()
    return dspy.ChatAdapter(use_json_adapter_fallback=False)


def _sibling(name):
    """A module shipped beside this file, run from its source (not from sys.path, the cwd or a
    __pycache__, and writing none: compiled files the manifest does not list fail its check)."""
    unique = f"_dspy_bundle_{abs(hash(str(HERE))):x}_{name}"
    if unique not in sys.modules:
        path = HERE / f"{name}.py"
        module = types.ModuleType(unique)
        module.__file__ = str(path)
        sys.modules[unique] = module  # before running it: dataclasses and typing look modules up by name
        try:
            exec(compile(path.read_bytes(), str(path), "exec", dont_inherit=True), module.__dict__)
        except BaseException:
            del sys.modules[unique]
            raise
    return sys.modules[unique]
