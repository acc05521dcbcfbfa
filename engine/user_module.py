"""A program from the user's own Python file: a `dspy.Module` subclass, or a function returning one.

project.toml holds what the Workbench read from the module when the user set it (its inputs,
outputs and predictors with their signatures), so a project opens, shows and maps its data
without running a line of the user's code. The source itself is kept in the project
(`programs/FILE.py`), and it is imported only through engine/trust.py: once the user trusts that
exact version of the file. Building it checks that the file is the version that was read;
`trust_program` trusts the current version and reads it again.

What is inferred, from a built module:
- inputs: the parameters of its `forward` (no *args/**kwargs: the names are the data's columns);
- outputs: the output fields of its predictors that the returned `dspy.Prediction` carries, found
  by a dry run that answers every predictor with a placeholder of the right type (no LM call).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import shutil
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr, field_validator

from engine.errors import ProgramError, UntrustedCodeError, WorkbenchError
from engine.programs import REASONING_FIELD, FieldSpec, ProgramFields, _field_type_of

MODULE_KIND = "python"
PROGRAMS_DIR = "programs"
WHAT = "the program module"


class ModulePredictor(BaseModel):
    """One predictor of the module, as DSPy names it (`extract`, `classify.predict`).

    Shaped like a builder stage (name, module, inputs, outputs, predictor_name()) so prompt
    rendering, the manifest and the answer-mode rule treat both kinds of program alike."""

    name: str
    module: Literal["predict", "cot"] = "predict"
    instructions: str = ""
    inputs: list[FieldSpec]
    outputs: list[FieldSpec]

    @property
    def input_names(self) -> list[str]:
        return [f.name for f in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [f.name for f in self.outputs]

    def predictor_name(self) -> str:
        return self.name


class ModuleProgram(ProgramFields, BaseModel):
    """The `[program]` table of a project whose program is the user's module."""

    kind: Literal["python"] = MODULE_KIND
    name: str                          # the class or function in the file
    source: str                        # the file, relative to the project root
    sha256: str                        # the version that was read (and trusted) when set
    outputs_override: list[str] | None = None
    inputs: list[FieldSpec]
    outputs: list[FieldSpec]
    predictors: list[ModulePredictor] = Field(min_length=1)
    _root: Path | None = PrivateAttr(default=None)

    @field_validator("source")
    @classmethod
    def _source_is_in_programs(cls, source: str) -> str:
        parts = source.split("/")
        if len(parts) != 2 or parts[0] != PROGRAMS_DIR or not parts[1].endswith(".py") \
                or parts[1].startswith(".") or "\\" in source:
            raise ValueError(f"source {source!r} must be a .py file in the project's {PROGRAMS_DIR}/ folder")
        return source

    def bind(self, root: str | Path) -> ModuleProgram:
        self._root = Path(root)
        return self

    # -- the interface a builder ProgramSpec has too -----------------------------------------------

    @property
    def stages(self) -> list[ModulePredictor]:
        return self.predictors

    @property
    def input_fields(self) -> list[FieldSpec]:
        return list(self.inputs)

    @property
    def output_fields(self) -> list[FieldSpec]:
        return list(self.outputs)

    def predictor_names(self) -> list[str]:
        return [p.name for p in self.predictors]

    def canonical_json(self) -> str:
        data = self.model_dump(mode="json")
        data["sha256"] = self.current_sha256()  # an edited source is another program
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    def fingerprint(self) -> str:
        return "sha256:" + hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    # -- the source -------------------------------------------------------------------------------

    @property
    def source_path(self) -> Path:
        if self._root is None:
            raise ProgramError("this module program belongs to no project folder")
        return (self._root / self.source).resolve()

    def current_sha256(self) -> str:
        """The sha256 of the source as it is on disk now (the recorded one when it is unreadable)."""
        if self._root is None:
            return self.sha256
        try:
            return hashlib.sha256(self.source_path.read_bytes()).hexdigest()
        except OSError:
            return self.sha256

    def is_current(self) -> bool:
        return self.current_sha256() == self.sha256

    def trust_hint(self) -> str:
        return f"dspy-workbench program trust {self._root}"

    def build(self):
        """The user's module, built from the project's copy: only when that version is trusted
        and is the version the program's fields were read from."""
        path = self.source_path
        if not path.is_file():
            raise ProgramError(f"the program's source {path} is missing; restore it from git or set the program again")
        if not self.is_current():
            raise UntrustedCodeError(
                f"{WHAT} {path} changed since the program was read from it; read it, then run "
                f"`{self.trust_hint()}` to trust this version and read its fields again",
                path=path, sha256=self.current_sha256(), what=WHAT)
        from engine.trust import import_trusted

        module, _ = import_trusted(path, what=WHAT, trust_hint=self.trust_hint())
        program = construct(module, self.name, path)
        names = [name for name, _ in program.named_predictors()]
        if names != self.predictor_names():
            raise ProgramError(
                f"{self.name} in {path} now has the predictors {', '.join(names) or '(none)'}, not "
                f"{', '.join(self.predictor_names())}; run `{self.trust_hint()}` to read it again")
        return program


def is_module_program(data: dict) -> bool:
    return isinstance(data, dict) and data.get("kind") == MODULE_KIND


def parse_module_program(data: dict, root: str | Path | None) -> ModuleProgram:
    from pydantic import ValidationError

    try:
        program = ModuleProgram.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ()))
        raise ProgramError(f"the module program is invalid: {err.get('msg', 'invalid')} (at {where})") from None
    return program.bind(root) if root is not None else program


# -- reading a module ------------------------------------------------------------------------------

def parse_target(text: str) -> tuple[Path, str]:
    """"path/to/file.py:Name" -> (path, Name)."""
    path, sep, name = str(text).rpartition(":")
    if not sep or not path or not name.isidentifier():
        raise ProgramError(f"{text!r} does not name a module; write FILE:NAME, e.g. my_program.py:TicketTriage")
    return Path(path).expanduser(), name


def construct(module, name: str, path: Path):
    """NAME from the imported file, built: a Module subclass with no arguments, or a function's result."""
    import dspy

    from engine.trust import describe_user_error

    target = getattr(module, name, None)
    if target is None:
        found = [n for n, v in vars(module).items() if not n.startswith("_") and
                 ((isinstance(v, type) and issubclass(v, dspy.Module) and v is not dspy.Module)
                  or inspect.isfunction(v))]
        raise ProgramError(f"{path} has no {name!r}; it defines {', '.join(found) or 'no module or function'}")
    if not (isinstance(target, type) and issubclass(target, dspy.Module)) and not inspect.isfunction(target):
        raise ProgramError(f"{name} in {path} is not a dspy.Module subclass or a function that returns one")
    try:
        program = target()
    except Exception as exc:
        how = "built with no arguments" if isinstance(target, type) else "called with no arguments"
        raise ProgramError(f"{name} in {path} cannot be {how}: {describe_user_error(exc, path)}") from None
    if not isinstance(program, dspy.Module):
        raise ProgramError(f"{name}() in {path} returned {type(program).__name__}, not a dspy.Module")
    return program


def read_module(path: str | Path, name: str, *, outputs: list[str] | None = None,
                trust_hint: str = "dspy-workbench program set DIR --python FILE:NAME") -> tuple[ModuleProgram, list[str]]:
    """Import a trusted file, build NAME and infer its fields. Returns the program (not bound to
    a project; `source` is the file's name) and notes for the user."""
    from engine.trust import import_trusted

    module, code = import_trusted(path, what=WHAT, trust_hint=trust_hint)
    program = construct(module, name, code.path)
    inputs, found_outputs, predictors, notes = infer_fields(program, name, outputs)
    return ModuleProgram(name=name, source=f"{PROGRAMS_DIR}/{code.path.name}", sha256=code.sha256,
                         outputs_override=list(outputs) if outputs else None, inputs=inputs,
                         outputs=found_outputs, predictors=predictors), notes


def infer_fields(program, name: str, outputs: list[str] | None = None):
    """(inputs, outputs, predictors, notes) of a built module."""
    inputs = _forward_inputs(program, name)
    predictors = []
    for pred_name, predictor in program.named_predictors():
        signature = predictor.signature
        out_names = list(signature.output_fields)
        predictors.append(ModulePredictor(
            name=pred_name,
            module="cot" if out_names[:1] == [REASONING_FIELD] else "predict",
            instructions=signature.instructions or "",
            inputs=[_field(n, f) for n, f in signature.input_fields.items()],
            outputs=[_field(n, f) for n, f in signature.output_fields.items()],
        ))
    if not predictors:
        raise ProgramError(f"{name} has no predictor (dspy.Predict, dspy.ChainOfThought, ...): there is nothing to optimize")
    produced: dict[str, FieldSpec] = {}
    for p in predictors:
        produced.update({f.name: f for f in p.outputs if f.name != REASONING_FIELD})
    typed_inputs = {f.name: f for p in predictors for f in p.inputs}
    input_fields = [typed_inputs.get(n, FieldSpec(name=n)) for n in inputs]
    notes: list[str] = []
    carried, failure = _dry_run(program, input_fields)
    if outputs:
        unknown = [o for o in outputs if o not in produced and o not in carried]
        if unknown:
            raise ProgramError(
                f"--outputs {', '.join(unknown)}: not an output of {name}'s predictors; choose from "
                f"{', '.join(produced)}")
        output_fields = [produced.get(o, FieldSpec(name=o)) for o in outputs]
    elif failure is None:
        output_fields = [f for n, f in produced.items() if n in carried]
        if not output_fields:
            raise ProgramError(
                f"{name}.forward returns none of its predictors' output fields ({', '.join(produced)}); "
                "return dspy.Prediction(field=...) or name them with --outputs")
    else:
        last = [f for f in predictors[-1].outputs if f.name != REASONING_FIELD]
        output_fields = last
        notes.append(f"a dry run of {name}.forward failed ({failure}), so its outputs are taken from its last "
                     f"predictor: {', '.join(f.name for f in last)}; name them with --outputs if that is wrong")
    clash = sorted(set(inputs) & {f.name for f in output_fields})
    if clash:
        raise ProgramError(f"{name}: {', '.join(clash)} is both an input of forward and an output; rename one")
    return input_fields, output_fields, predictors, notes


def _field(name: str, info) -> FieldSpec:
    try:
        return FieldSpec(name=name, **_field_type_of(info.annotation, name), description=_description(info))
    except (ProgramError, ValueError):
        return FieldSpec(name=name, description=_description(info))  # another type: kept as text


def _description(info) -> str:
    extra = getattr(info, "json_schema_extra", None) or {}
    desc = str(extra.get("desc", "") or "")
    return "" if desc.startswith("${") else desc  # DSPy's default "${name}" says nothing


def _forward_inputs(program, name: str) -> list[str]:
    try:  # read from the class: DSPy warns when an instance's forward is touched directly
        parameters = list(inspect.signature(type(program).forward).parameters.values())[1:]
    except (TypeError, ValueError, IndexError):
        raise ProgramError(f"{name}.forward has no readable signature; define it as def forward(self, text): ...") from None
    named = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if not named:
        raise ProgramError(
            f"{name}.forward names no inputs; define it with one parameter per data column, "
            "e.g. def forward(self, ticket): ...")
    for n in named:
        try:
            FieldSpec(name=n)
        except ValueError:
            raise ProgramError(f"{name}.forward's parameter {n!r} cannot be a data column; "
                               "name it with a letter first and only letters, digits and _") from None
    return named


def _placeholder(annotation: Any, name: str) -> Any:
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)[0]
    if annotation is bool:
        return False
    if annotation is int:
        return 0
    if annotation is float:
        return 0.0
    if typing.get_origin(annotation) is list or annotation is list:
        return []
    if typing.get_origin(annotation) is dict or annotation is dict:
        return {}
    return f"example {name}"


def _dry_run(program, inputs: list[FieldSpec]) -> tuple[set[str], str | None]:
    """The names the returned prediction carries, with every predictor answered by placeholders
    (an adapter that never calls the LM). (set(), reason) when forward fails on them."""
    import dspy
    from dspy.utils import DummyLM

    class PlaceholderAdapter(dspy.Adapter):
        def __call__(self, lm, lm_kwargs, signature, demos, inputs):
            return [{n: _placeholder(f.annotation, n) for n, f in signature.output_fields.items()}]

        async def acall(self, lm, lm_kwargs, signature, demos, inputs):
            return self(lm, lm_kwargs, signature, demos, inputs)

    values = {f.name: _placeholder(f.annotation(), f.name) for f in inputs}
    try:
        with dspy.context(lm=DummyLM([]), adapter=PlaceholderAdapter(), callbacks=[]):
            result = program(**values)  # a throw-away instance: read_module builds its own
    except Exception as exc:
        return set(), f"{type(exc).__name__}: {str(exc).strip()[:160]}"
    if isinstance(result, dspy.Prediction):
        return set(result.keys()), None
    if isinstance(result, dict):
        return set(result), None
    return set(), f"it returned {type(result).__name__}, not a dspy.Prediction"


def predictor_inputs(program, inputs: dict) -> dict[str, dict]:
    """What each predictor of a built module receives for these inputs, by running its forward
    with every predictor answered by a placeholder naming it (no LM call): exact for values that
    come from the data, a placeholder where an earlier predictor's answer would be. A predictor
    that forward did not reach is absent."""
    import dspy
    from dspy.utils import DummyLM

    by_signature = {id(p.signature): name for name, p in program.named_predictors()}
    seen: dict[str, dict] = {}

    class RecordingAdapter(dspy.Adapter):
        def __call__(self, lm, lm_kwargs, signature, demos, inputs):
            name = by_signature.get(id(signature), "?")
            seen.setdefault(name, dict(inputs))
            return [{n: (f"<{n} from {name}>" if f.annotation is str else _placeholder(f.annotation, n))
                     for n, f in signature.output_fields.items()}]

    try:
        with dspy.context(lm=DummyLM([]), adapter=RecordingAdapter(), callbacks=[]):
            program(**inputs)
    except Exception:
        pass  # what ran before the failure is still shown; the rest gets placeholders
    return seen


# -- the use cases both faces call ----------------------------------------------------------------

def use_module(project, path: str | Path, name: str, *, outputs: list[str] | None = None):
    """Set the project's program to NAME from the user's file (see `prepare_module`).
    Returns the ProgramChange; the caller saves the project."""
    program, notes = prepare_module(project, path, name, outputs=outputs)
    change = project.set_program(program)
    change.notes.extend(notes)
    return change


def prepare_module(project, path: str | Path, name: str, *,
                   outputs: list[str] | None = None) -> tuple[ModuleProgram, list[str]]:
    """NAME from the user's file, ready for `project.set_program`: trusts that version (the user
    chose it), reads its fields and copies the source into the project's programs/. Nothing is
    written to the project when the file does not import or NAME is not a usable module."""
    from engine.trust import code_file, trust_file

    chosen = code_file(path)
    if chosen.path.suffix != ".py":
        raise ProgramError(f"{chosen.path} is not a Python file (.py)")
    trust_file(chosen.path)
    program, notes = read_module(chosen.path, name, outputs=outputs)
    target = (project.root / program.source).resolve()
    if target != chosen.path:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(chosen.path, target)
    trust_file(target)
    return program.bind(project.root), notes


def candidate_names(path: str | Path) -> list[str]:
    """Classes and functions a file defines at its top level, read with `ast` (nothing runs), so
    a window can offer them before the user trusts the file."""
    import ast

    try:
        tree = ast.parse(Path(path).read_text("utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return []
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)
               and any("Module" in ast.unparse(b) for b in n.bases)]
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
    return classes + functions


def trust_program(project):
    """Trust the project's module source as it is now and read its fields again (once per file
    version: the CLI's `program trust`, the window's prompt). Returns the ProgramChange."""
    from engine.trust import trust_file

    program = project.program
    if not isinstance(program, ModuleProgram):
        raise ProgramError("this project's program is built in the Workbench, not read from a Python file; "
                           "there is nothing to trust")
    path = program.source_path
    trust_file(path)
    fresh, notes = read_module(path, program.name, outputs=program.outputs_override,
                               trust_hint=program.trust_hint())
    fresh.source = program.source
    change = project.set_program(fresh.bind(project.root))
    change.notes.extend(notes)
    return change


def check_runnable(program) -> None:
    """Raise what `build()` would (missing, changed or untrusted source) without running any code."""
    if not isinstance(program, ModuleProgram):
        return
    path = program.source_path
    if not path.is_file():
        raise ProgramError(f"the program's source {path} is missing; restore it from git or set the program again")
    reason = untrusted_reason(program)
    if reason is not None:
        raise reason


def untrusted_reason(program) -> UntrustedCodeError | None:
    """Why the program cannot run now (for a window's "Trust this file?" prompt), or None."""
    if not isinstance(program, ModuleProgram):
        return None
    from engine.trust import is_trusted

    try:
        path = program.source_path
        if program.is_current() and is_trusted(path):
            return None
    except WorkbenchError:
        return None
    changed = "changed since the program was read from it" if not program.is_current() else "is not trusted in this version"
    return UntrustedCodeError(
        f"{WHAT} {path} {changed}; it is code and runs only once you trust it: read it, then run "
        f"`{program.trust_hint()}`", path=path, sha256=program.current_sha256(), what=WHAT)
