"""Programs as data: stages of typed signatures, built into a real `dspy.Module`.

A `ProgramSpec` is what `project.toml` holds and what the GUI edits. It has a stable
fingerprint (sha256 of its canonical JSON) and builds into `SpecProgram` (a `dspy.Module` whose
predictors are named after the stages). The exported artifact's `program.py`, which builds the
same module with plain `dspy`, is written by engine/artifacts/program_source.py.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import re
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from engine.errors import ProgramError

FieldType = Literal["str", "int", "float", "bool", "list[str]", "literal"]
ModuleKind = Literal["predict", "cot"]

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")  # fullmatch: "$" would let a trailing newline through
# Names a stage cannot take: attributes of dspy.Module and of our own module class.
_RESERVED_STAGE_NAMES = {
    "forward", "predictors", "named_predictors", "parameters", "named_parameters", "history",
    "callbacks", "load", "save", "dump_state", "load_state", "reset_copy", "deepcopy", "set_lm",
    "get_lm", "map_named_predictors", "batch", "inspect_history", "named_sub_modules", "spec",
}
# ChainOfThought adds this output field itself.
REASONING_FIELD = "reasoning"


class FieldSpec(BaseModel):
    """One typed input or output field of a stage."""

    name: str
    type: FieldType = "str"
    description: str = ""
    choices: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, name: str) -> str:
        if not _IDENTIFIER.fullmatch(name) or keyword.iskeyword(name):
            raise ValueError(
                f"field name {name!r} must start with a letter and use only letters, digits and _"
            )
        return name

    @model_validator(mode="after")
    def _choices_match_type(self) -> FieldSpec:
        if self.type == "literal" and not self.choices:
            raise ValueError(f"field {self.name!r} is a Literal but has no choices")
        if self.type != "literal" and self.choices:
            raise ValueError(f"field {self.name!r} has choices but its type is {self.type}, not literal")
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"field {self.name!r} lists a choice twice")
        return self

    def annotation(self) -> Any:
        """The Python type DSPy sees for this field."""
        if self.type == "literal":
            return Literal[tuple(self.choices)]  # type: ignore[valid-type]
        return {"str": str, "int": int, "float": float, "bool": bool, "list[str]": list[str]}[self.type]

    def type_label(self) -> str:
        if self.type == "literal":
            return "Literal[" + ", ".join(repr(c) for c in self.choices) + "]"
        return self.type


class StageSpec(BaseModel):
    """One signature, run as `dspy.Predict` or `dspy.ChainOfThought`."""

    name: str
    module: ModuleKind = "predict"
    instructions: str = ""
    inputs: list[FieldSpec]
    outputs: list[FieldSpec]

    @field_validator("name")
    @classmethod
    def _stage_name_is_usable(cls, name: str) -> str:
        if not _IDENTIFIER.fullmatch(name) or keyword.iskeyword(name) or name in _RESERVED_STAGE_NAMES:
            raise ValueError(f"stage name {name!r} must be an identifier and not a reserved name")
        return name

    @model_validator(mode="after")
    def _fields_are_distinct(self) -> StageSpec:
        if not self.inputs:
            raise ValueError(f"stage {self.name!r} needs at least one input field")
        if not self.outputs:
            raise ValueError(f"stage {self.name!r} needs at least one output field")
        names = [f.name for f in self.inputs + self.outputs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"stage {self.name!r} uses the field name(s) {duplicates} more than once")
        if self.module == "cot" and REASONING_FIELD in names:
            raise ValueError(f"stage {self.name!r} is ChainOfThought, which adds its own 'reasoning' field")
        return self

    @property
    def input_names(self) -> list[str]:
        return [f.name for f in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [f.name for f in self.outputs]

    def predictor_name(self) -> str:
        """The name under which DSPy saves this stage's predictor state."""
        return f"{self.name}.predict" if self.module == "cot" else self.name


class ProgramFields:
    """Names and look-up derived from `input_fields` / `output_fields`: what every kind of program
    (a builder ProgramSpec, the user's own engine.user_module.ModuleProgram) answers the same way."""

    @property
    def input_names(self) -> list[str]:
        return [f.name for f in self.input_fields]

    @property
    def output_names(self) -> list[str]:
        return [f.name for f in self.output_fields]

    def field(self, name: str) -> FieldSpec:
        for f in self.input_fields + self.output_fields:
            if f.name == name:
                return f
        raise ProgramError(f"the program has no field named {name!r}")


class ProgramSpec(ProgramFields, BaseModel):
    """A whole program: stages run in order; a stage may read any earlier stage's outputs."""

    name: str = "program"
    stages: list[StageSpec]

    @model_validator(mode="after")
    def _stages_connect(self) -> ProgramSpec:
        if not self.stages:
            raise ValueError("a program needs at least one stage")
        stage_names = [s.name for s in self.stages]
        if len(set(stage_names)) != len(stage_names):
            raise ValueError("two stages have the same name")
        produced: dict[str, str] = {}
        for stage in self.stages:
            for out in stage.outputs:
                if out.name in produced:
                    raise ValueError(
                        f"field {out.name!r} is produced by both {produced[out.name]!r} and {stage.name!r}"
                    )
            for field in stage.inputs:
                later = next((s.name for s in self.stages[self.stages.index(stage):]
                              if field.name in s.output_names), None)
                if later is not None:
                    raise ValueError(
                        f"stage {stage.name!r} reads {field.name!r}, which stage {later!r} produces "
                        "at or after it; reorder the stages"
                    )
            produced.update({out.name: stage.name for out in stage.outputs})
        return self

    # -- what the program reads and writes -------------------------------------------------

    @property
    def input_fields(self) -> list[FieldSpec]:
        """Fields the program takes from the data: stage inputs no earlier stage produces."""
        produced = {f.name for s in self.stages for f in s.outputs}
        seen: dict[str, FieldSpec] = {}
        for stage in self.stages:
            for field in stage.inputs:
                if field.name not in produced and field.name not in seen:
                    seen[field.name] = field
        return list(seen.values())

    @property
    def output_fields(self) -> list[FieldSpec]:
        return [f for s in self.stages for f in s.outputs]

    # -- identity -----------------------------------------------------------------------------

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def fingerprint(self) -> str:
        return "sha256:" + hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    def predictor_names(self) -> list[str]:
        return [s.predictor_name() for s in self.stages]


def parse_program(data: dict) -> ProgramSpec:
    """Validate a program dict (from project.toml or the GUI) into a spec, with readable errors."""
    try:
        return ProgramSpec.model_validate(data)
    except ValidationError as exc:
        raise ProgramError(f"the program is invalid: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
    message = err.get("msg", "invalid").removeprefix("Value error, ")
    return f"{message} (at {where})" if where else message


# -- DSPy signature syntax ------------------------------------------------------------------------

def stage_from_signature(
    text: str, *, name: str = "predict", instructions: str = "", module: ModuleKind = "predict"
) -> StageSpec:
    """Parse DSPy's signature syntax ("text -> label: Literal['a', 'b']") into a stage."""
    import dspy

    try:
        signature = dspy.Signature(text)
    except Exception as exc:  # DSPy raises ValueError, SyntaxError or TypeError on bad syntax
        raise ProgramError(
            f"the signature {text!r} does not parse ({exc}); write it as "
            "\"input1, input2: int -> output: Literal['a', 'b']\""
        ) from None

    def to_field(field_name: str, info) -> FieldSpec:
        return FieldSpec(name=field_name, **_field_type_of(info.annotation, field_name))

    try:
        return StageSpec(
            name=name,
            module=module,
            instructions=instructions,
            inputs=[to_field(n, f) for n, f in signature.input_fields.items()],
            outputs=[to_field(n, f) for n, f in signature.output_fields.items()],
        )
    except ValidationError as exc:
        raise ProgramError(f"the signature {text!r} is invalid: {_first_error(exc)}") from None


def _field_type_of(annotation: Any, field_name: str) -> dict:
    import typing

    if typing.get_origin(annotation) is Literal:
        return {"type": "literal", "choices": [str(c) for c in typing.get_args(annotation)]}
    simple = {str: "str", int: "int", float: "float", bool: "bool"}
    if annotation in simple:
        return {"type": simple[annotation]}
    if typing.get_origin(annotation) is list and typing.get_args(annotation) in ((str,), ()):
        return {"type": "list[str]"}
    raise ProgramError(
        f"field {field_name!r} has type {annotation!r}; the Workbench supports str, int, float, "
        "bool, list[str] and Literal[...] choices"
    )


# -- building the DSPy module -------------------------------------------------------------------

def _desc(field: FieldSpec) -> dict:
    return {"desc": field.description} if field.description else {}


def build_signature(stage: StageSpec):
    """The `dspy.Signature` class for a stage. Field order matters: DSPy restores state by position."""
    import dspy

    fields: dict[str, tuple] = {}
    for f in stage.inputs:
        fields[f.name] = (f.annotation(), dspy.InputField(**_desc(f)))
    for f in stage.outputs:
        fields[f.name] = (f.annotation(), dspy.OutputField(**_desc(f)))
    return dspy.Signature(fields, stage.instructions or None, signature_name=class_name(stage.name))


def class_name(stage_name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in stage_name.split("_") if part) or "Stage"


def load_program_spec(data: dict, root=None):
    """The program a `[program]` table (or a run's record of it) describes: a builder
    `ProgramSpec`, or a `ModuleProgram` (engine.user_module) when `kind = "python"`. Both offer
    input/output fields, predictors, stages, a fingerprint and `build_program`."""
    from engine.user_module import is_module_program, parse_module_program

    if is_module_program(data):
        return parse_module_program(data, root)
    return parse_program(data)


def build_program(spec):
    """A `dspy.Module` that runs the spec's stages in order (or the user's module, built)."""
    import dspy

    if getattr(spec, "kind", None) == "python":
        return spec.build()

    class SpecProgram(dspy.Module):
        """Runs the stages in order; each stage's outputs become inputs for later stages."""

        def __init__(self, spec: ProgramSpec):
            super().__init__()
            self._plan = [(s.name, tuple(s.input_names), tuple(s.output_names)) for s in spec.stages]
            for stage in spec.stages:
                module_class = dspy.ChainOfThought if stage.module == "cot" else dspy.Predict
                setattr(self, stage.name, module_class(build_signature(stage)))

        def forward(self, **inputs):
            values = dict(inputs)
            outputs = {}
            for stage_name, input_names, output_names in self._plan:
                prediction = getattr(self, stage_name)(**{n: values[n] for n in input_names})
                for name in output_names:
                    values[name] = outputs[name] = prediction[name]
            return dspy.Prediction(**outputs)

    return SpecProgram(spec)
