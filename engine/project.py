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
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from engine.atomic import GITIGNORE_PATTERN, remove_stale_temp_files
from engine.atomic import atomic_write_text
from engine.errors import ProjectError, WorkbenchError
from engine.lms.profiles import EMBEDDED, ModelProfile, profiles_from_toml
from engine.programs import ProgramSpec, parse_program

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


class Project:
    """An open project. Reads lazily; every write replaces its file atomically."""

    def __init__(self, root: Path, config: ProjectConfig):
        self.root = root
        self.config = config
        self.program: ProgramSpec = parse_program(config.program)
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
                self._frame = datasets.load_frame(self.data_path, self.field_names)
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

    def set_program(self, spec: ProgramSpec) -> None:
        self.program = spec
        self.config.program = spec.model_dump(mode="json")
        self._frame = None if self._frame is None else self._with_columns_for(spec)

    def _with_columns_for(self, spec: ProgramSpec):
        frame = self._frame
        for name in spec.input_names + spec.output_names:
            if name not in frame.columns:
                frame[name] = ""
        return frame

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
