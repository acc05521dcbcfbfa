"""A project is a folder people can read, diff and commit.

    project.toml     program, metric, model profiles (no secrets), compile defaults, gates
    data/examples.csv  the example table (id, split, slices, one column per field)
    runs.sqlite      run history (engine.store)
    artifacts/       exported bundles
    .cache/          DSPy's LM cache for this project (ignored by git)
"""

from __future__ import annotations

import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from engine.atomic import GITIGNORE_PATTERN, atomic_write_text, remove_stale_temp_files
from engine.errors import ProgramError, ProjectError, WorkbenchError
from engine.lms.profiles import EMBEDDED, ModelProfile, profiles_from_toml
from engine.programs import ProgramSpec, load_program_spec

PROJECT_FILE = "project.toml"
DATA_FILE = "data/examples.csv"
RUNS_FILE = "runs.sqlite"
SCHEMA_VERSION = 1
SAMPLES_DIR = Path(__file__).resolve().parent.parent / "resources" / "samples"
# Folders where the project's own atomic writes put their temp files.
_WRITTEN_FOLDERS = (".", "data")
GITIGNORE_LINES = (".cache/", "runs.sqlite-wal", "runs.sqlite-shm", GITIGNORE_PATTERN)


class CompileDefaults(BaseModel):
    optimizer: str = "bootstrap-fewshot"
    model: str = EMBEDDED
    seed: int = 0
    params: dict[str, Any] = Field(default_factory=dict)


class Gate(BaseModel):
    slice: str
    min_score: float = Field(ge=0.0, le=1.0)


class ProjectConfig(BaseModel):
    """The validated content of project.toml."""

    name: str
    description: str = ""
    schema_version: int = SCHEMA_VERSION
    program: dict[str, Any]
    metric: dict[str, Any] = Field(default_factory=dict)
    compile: CompileDefaults = Field(default_factory=CompileDefaults)
    gates: list[Gate] = Field(default_factory=list)
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)


@dataclass
class ProgramChange:
    """What setting the program changed beyond the program itself (both faces report it)."""

    columns_added: list[str] = field(default_factory=list)
    metric_reset: bool = False
    notes: list[str] = field(default_factory=list)

    def messages(self) -> list[str]:
        out = list(self.notes)
        if self.columns_added:
            out.append(f"the data has no column for {', '.join(self.columns_added)}: added it empty; "
                       "fill it in (or import the data again) before compiling")
        if self.metric_reset:
            out.append("the metric used fields the program no longer has: reset it to the default")
        return out


class Project:
    """An open project. Reads lazily; every write replaces its file atomically."""

    def __init__(self, root: Path, config: ProjectConfig):
        self.root = root
        self.config = config
        # A builder ProgramSpec or the user's ModuleProgram (engine.user_module): same interface.
        self.program: ProgramSpec = load_program_spec(config.program, root)
        self._frame = None
        self._store = None

    # -- opening and creating ------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path) -> Project:
        root = Path(path).expanduser().resolve()
        file = root / PROJECT_FILE
        if not file.is_file():
            raise ProjectError(
                f"{root} is not a DSPy Workbench project (no {PROJECT_FILE}); create one with "
                f"`dspy-workbench init {path}`"
            )
        # A write killed half way (kill -9, power loss) leaves its temp file; the rename never
        # happened, so the leftover is only clutter.
        remove_stale_temp_files(root / folder for folder in _WRITTEN_FOLDERS)
        try:
            data = tomllib.loads(file.read_text("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ProjectError(f"{file} is not valid TOML ({exc}); fix the file or restore it from git") from None
        except RecursionError:
            raise ProjectError(f"{file} nests arrays or tables too deeply to read; fix the file or "
                               "restore it from git") from None
        try:
            config = ProjectConfig.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ProjectError(f"{file}: {where}: {err['msg']}; fix that entry") from None
        if config.schema_version > SCHEMA_VERSION:
            raise ProjectError(
                f"{file} was written by a newer DSPy Workbench (schema {config.schema_version}); upgrade the app"
            )
        return cls(root, config)

    @classmethod
    def create(cls, path: str | Path, *, sample: str | None = None, name: str | None = None) -> Project:
        root = Path(path).expanduser().resolve()
        if (root / PROJECT_FILE).exists():
            raise ProjectError(f"{root} already holds a project; open it instead, or choose another folder")
        if root.exists() and any(root.iterdir()):
            raise ProjectError(f"{root} is not empty; choose a new or empty folder for the project")
        source = sample_folder(sample) if sample is not None else None
        existed = root.exists()
        try:
            if source is not None:
                _copy_files(source, root)
                project = cls.open(root)
            else:
                root.mkdir(parents=True, exist_ok=True)
                config = ProjectConfig(name=name or root.name, program=_starter_program())
                project = cls(root, config)
                project.save()
                from engine import datasets

                datasets.save_frame(datasets.empty_frame(project.field_names), project.data_path)
            (root / "artifacts").mkdir(exist_ok=True)
            project._update_gitignore(GITIGNORE_LINES, create=True)
        except BaseException:
            # A full disk or a Ctrl-C half way: leave no half project (it would "already hold a
            # project" that does not open). The folder was new or empty, so nothing else is in it.
            _remove_contents(root, remove_folder=not existed)
            raise
        return project

    # -- what it holds ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def data_path(self) -> Path:
        return self.root / DATA_FILE

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"

    @property
    def lm_cache_dir(self) -> Path:
        return self.root / ".cache" / "dspy"

    @property
    def field_names(self) -> list[str]:
        return self.program.input_names + self.program.output_names

    @property
    def profiles(self) -> dict[str, ModelProfile]:
        """`embedded`, the user's own profiles (models.toml) and this project's `[models.NAME]`.

        The project wins a name clash: what a project's compile means must not depend on whose
        laptop runs it (engine.lms.profiles).
        """
        from engine.lms.profiles import merged_profiles

        return merged_profiles(self.config.models, project_file=str(self.root / PROJECT_FILE))

    def profile(self, name: str) -> ModelProfile:
        from engine.errors import ModelError

        profiles = self.profiles
        if name not in profiles:
            raise ModelError(
                f"there is no model profile named {name!r}; this project has: {', '.join(profiles)} "
                f"(add one with `dspy-workbench models add {name} --provider ... --model ...`)"
            )
        return profiles[name]

    def metric_spec(self):
        from engine import metrics

        spec = metrics.parse_metric(self.config.metric) if self.config.metric else \
            metrics.default_metric_for(self.program.output_names)
        metrics.validate_metric(spec, self.program.output_names)
        return spec

    @property
    def frame(self):
        """The example table (pandas), loaded on first use."""
        if self._frame is None:
            from engine import datasets

            if self.data_path.exists():
                self._frame = self._load_frame_with_program_columns()
            else:
                self._frame = datasets.empty_frame(self.field_names)
        return self._frame

    def replace_frame(self, frame, *, save: bool = True) -> None:
        self._frame = frame
        if save:
            self.save_frame()

    def save_frame(self) -> None:
        from engine import datasets

        datasets.save_frame(self.frame, self.data_path)

    @property
    def store(self):
        if self._store is None:
            from engine.store import RunStore

            self._store = RunStore(self.root / "runs.sqlite", mark_interrupted=True)
        return self._store

    # -- changing it --------------------------------------------------------------------------------

    def _load_frame_with_program_columns(self):
        """The saved table; a field of the program that the file has no column for (project.toml
        edited by hand, or written before `set_program` added columns) comes back as an empty
        column, so the project always opens; the next save writes it."""
        import pandas as pd

        from engine import datasets

        header = set(pd.read_csv(self.data_path, nrows=0).columns)
        present = [n for n in self.field_names if n in header]
        frame = datasets.load_frame(self.data_path, present)
        for name in self.field_names:
            if name not in frame.columns:
                frame[name] = ""
        return frame

    def set_program(self, spec) -> ProgramChange:
        """THE rule for changing the program, for every face: the data gets an empty column for
        each new field (a program field without a column would leave a project that does not
        open), and a metric on fields the program no longer has is reset to the default. The
        caller saves (`save()` and `save_frame()`, or the window's autosave)."""
        from engine import metrics

        frame = self.frame if self.data_path.exists() or self._frame is not None else None  # old program's columns
        self.program = spec
        self.config.program = spec.model_dump(mode="json", exclude_none=True)
        change = ProgramChange()
        if frame is not None:
            for name in dict.fromkeys(spec.input_names + spec.output_names):
                if name not in frame.columns:
                    frame[name] = ""
                    if len(frame):  # an empty table has nothing to fill in
                        change.columns_added.append(name)
        if self.config.metric:
            try:
                metrics.validate_metric(metrics.parse_metric(self.config.metric), spec.output_names)
            except WorkbenchError:
                self.config.metric = metrics.default_metric_for(spec.output_names).model_dump(mode="json")
                change.metric_reset = True
        return change

    def program_of_run(self, record):
        """The program a run was compiled for, ready to build: the recorded builder spec; for a
        module program, the project's module when the run's predictors are the same (the state
        loads into it by predictor name), else a ProgramError."""
        recorded = load_program_spec(record.program_spec, self.root)
        if getattr(recorded, "kind", None) != "python" or recorded.sha256 == getattr(self.program, "sha256", None):
            return recorded
        current = self.program
        if getattr(current, "kind", None) == "python" and current.predictor_names() == recorded.predictor_names():
            return current
        raise ProgramError(
            f"run {record.run_id} was compiled for an earlier version of the program whose predictors "
            f"({', '.join(recorded.predictor_names())}) the current one does not have; compile it again")

    def set_metric(self, data: dict) -> None:
        from engine import metrics

        spec = metrics.parse_metric(data)
        metrics.validate_metric(spec, self.program.output_names)
        self.config.metric = spec.model_dump(mode="json")

    def save(self) -> None:
        import tomli_w

        data = self.config.model_dump(mode="json", exclude_none=True)
        atomic_write_text(self.root / PROJECT_FILE, tomli_w.dumps(data))
        # Projects from before temp files were ignored get the pattern on their next save.
        self._update_gitignore((GITIGNORE_PATTERN,), create=False)

    def _update_gitignore(self, lines: tuple[str, ...], *, create: bool) -> None:
        """Append those of `lines` the project's .gitignore lacks; the user's own lines stay."""
        gitignore = self.root / ".gitignore"
        try:
            text = gitignore.read_text("utf-8")
        except FileNotFoundError:
            if not create:
                return  # a folder without a .gitignore is the user's choice
            text = ""
        except (OSError, UnicodeDecodeError):
            return  # not ours to repair
        present = {line.strip() for line in text.splitlines()}
        missing = [line for line in lines if line not in present]
        if missing:
            separator = "\n" if text and not text.endswith("\n") else ""
            atomic_write_text(gitignore, text + separator + "".join(line + "\n" for line in missing))

    def examples(self, split: str, limit: int | None = None) -> list:
        """The split as `dspy.Example`s, output values typed like the program's fields."""
        from engine import datasets

        program = self.program
        coerce = {f.name: _coercer(f.type) for f in program.input_fields + program.output_fields
                  if f.type not in ("str", "literal")}
        found = datasets.examples(self.frame, split, program.input_names, program.output_names, coerce)
        if not limit or len(found) <= limit:
            return found
        # A quick run should still see every slice: a spread chosen by a hash of the id (stable
        # across runs and row order), not the first rows, which are often one topic.
        import hashlib

        ranked = sorted(range(len(found)), key=lambda i: hashlib.sha256(found[i].example_id.encode()).hexdigest())
        keep = set(ranked[:limit])
        return [example for i, example in enumerate(found) if i in keep]

    def check_ready_to_compile(self) -> None:
        """Raise when something would make a compile meaningless: leaks, empty splits."""
        from engine import datasets
        from engine.user_module import check_runnable

        check_runnable(self.program)  # a module not trusted in this version: refused before a run starts
        frame = self.frame
        datasets.check_no_leaks(frame, self.program.input_names)
        counts = frame["split"].value_counts()
        for split in datasets.SPLITS:
            if int(counts.get(split, 0)) == 0:
                raise WorkbenchError(
                    f"the {split} split is empty; assign examples to it (`dspy-workbench split "
                    f"{self.root}`) before compiling"
                )


def _coercer(field_type: str):
    """str (as stored in the table) -> the field's Python type."""
    import json

    def to_bool(text: str) -> bool:
        value = str(text).strip().lower()
        if value in ("true", "yes", "1"):
            return True
        if value in ("false", "no", "0"):
            return False
        raise ValueError(f"{text!r} is not true or false")

    def to_list(text: str) -> list[str]:
        text = str(text).strip()
        if text.startswith("["):
            return [str(v) for v in json.loads(text)]
        return [part.strip() for part in text.split(";") if part.strip()]

    return {"int": int, "float": float, "bool": to_bool, "list[str]": to_list}[field_type]


def _copy_files(source: Path, root: Path) -> None:
    """Copy a folder's files one by one: an error is the OSError itself (copytree would gather
    them into one shutil.Error without an errno)."""
    root.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.rglob("*")):
        target = root / path.relative_to(source)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        else:
            shutil.copy2(path, target)


def _remove_contents(root: Path, *, remove_folder: bool) -> None:
    if not root.exists():
        return
    if remove_folder:
        shutil.rmtree(root, ignore_errors=True)
        return
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def sample_folder(name: str) -> Path:
    """The bundled sample called `name`: a name from `list_samples()`, never a path."""
    samples = list_samples()
    if name not in samples:
        raise ProjectError(f"there is no sample named {name!r}; the samples are: {', '.join(samples)}")
    return SAMPLES_DIR / name


def list_samples() -> list[str]:
    return sorted(p.name for p in SAMPLES_DIR.iterdir() if (p / PROJECT_FILE).is_file()) if SAMPLES_DIR.is_dir() else []


def _starter_program() -> dict:
    """An empty project's program until the user sets one: text in, label out."""
    return {
        "name": "program",
        "stages": [{
            "name": "predict",
            "module": "predict",
            "instructions": "Read the text and give its label.",
            "inputs": [{"name": "text", "type": "str"}],
            "outputs": [{"name": "label", "type": "str"}],
        }],
    }
