"""The exported artifact: a folder that serves without the Workbench and says what made it.

    state.json         DSPy state only (`save_program=False`): instructions and demos per predictor
    program.py         `build_program()` builds the same module with plain `dspy`; `check_model(lm)`
    model_check.py     what program.py's `check_model` runs (standard library only)
    compact_adapter.py the prompt format's code, when the program was compiled with it
    manifest.json      program fingerprint and fields, exact model revision, metric, split hashes,
                       optimizer and settings, scores, gates, usage, library versions, review,
                       and the sha256 of every other file

No pickle is ever written or loaded. A bundle is written into a temporary folder beside the
target and renamed into place, so a failed export leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from engine.adapters import format_outdated, format_revision
from engine.atomic import atomic_write_text
from engine.errors import ArtifactError, WorkbenchError

from engine.artifacts.names import ADAPTER, FORMAT_VERSION, MANIFEST, MODEL_CHECK, REVIEWS, SIGNATURE, STATE


class ReviewRecord(BaseModel):
    status: Literal["approved", "rejected", "unreviewed"]
    note: str = ""
    reviewer: str = ""
    at: str | None = None


class ModelRecord(BaseModel):
    profile: str
    provider: str
    name: str
    revision: str
    details: dict = {}


class Manifest(BaseModel):
    format_version: int = FORMAT_VERSION
    created_at: str
    run_id: str
    project: str
    program: dict          # name, fingerprint, stages (fields in order), predictors
    model: ModelRecord
    adapter_format: str
    adapter_revision: str = ""  # sha256 of the shipped compact_adapter.py (compact format only)
    answers: str = "generated"  # or "scored choices" (engine.adapters.answer_mode): plain DSPy generates
    metric: dict           # spec and description
    splits: dict           # split -> {n, sha256}
    optimizer: dict        # name, dspy_name, params, seed
    run_status: str
    scores: dict
    evaluations: dict
    gates: dict
    lm_calls: int
    cached_calls: int
    tokens: dict
    cost_usd: float | None = None
    elapsed_s: float
    library_versions: dict
    review: ReviewRecord
    files: dict[str, str]  # file name -> sha256


def export_run(project, run_id: str, out: str | Path, *, allow_unreviewed: bool = True, sign: bool = False) -> Manifest:
    """Write the bundle for a run to `out` (a new or empty folder) and record its manifest's sha256 in
    the project's run history (`artifact show --project` then knows where it came from). With `sign`,
    also `manifest.sig`, signed with this user's key from the OS keyring (`signing_public_key()`)."""
    from engine.programs import parse_program
    from engine.reports import run_report

    record = project.store.get_run(run_id)
    if record.program_state is None:
        raise WorkbenchError(
            f"run {run_id} has no compiled program (status {record.status}); export a run that finished compiling"
        )
    if record.review is not None and record.review.decision == "rejected":
        raise WorkbenchError(
            f"run {run_id} was rejected ({record.review.note or 'no note'}); approve it before exporting"
        )
    if record.review is None and not allow_unreviewed:
        raise WorkbenchError(f"run {run_id} is not reviewed; approve it first (`dspy-workbench approve {project.root} --run {run_id}`)")
    target = Path(out).expanduser().resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise WorkbenchError(f"{target} already exists and is not empty; choose a new folder for the artifact")

    if format_outdated(record.adapter_format, record.adapter_revision):
        current = format_revision(record.adapter_format)
        raise WorkbenchError(
            f"run {run_id} was compiled with another version of the {record.adapter_format} prompt format "
            f"(revision {record.adapter_revision[:12]}; this Workbench has {current[:12]}): the exported program "
            "would not send the prompts the run was scored with; compile it again with this version")
    from engine import module_bundle
    from engine.user_module import is_module_program

    module_program = is_module_program(record.program_spec)  # the user's own module: engine/module_bundle.py
    # A builder program's names are identifiers, or one sentence (and nothing written).
    spec = module_bundle.module_program_for_export(project, record) if module_program \
        else parse_program(record.program_spec)
    report = run_report(project, record)
    from engine.review import approval_blocker

    blocker = approval_blocker(report)  # the same rule the Review pane and `approve` follow
    if blocker:
        raise WorkbenchError(f"run {run_id} cannot be exported: {blocker}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _write_state(spec, record.program_state, staging / STATE)
        files = _module_support_files(record) if module_program else program_files(record, spec)
        for name, content in files.items():
            (staging / name).write_bytes(content)
        module_entries = module_bundle.write_module_files(spec, record, staging) if module_program else {}
        manifest = _manifest(project, record, spec, report, staging)
        if module_program:
            manifest.program.update(module_entries)
        manifest_text = manifest.model_dump_json(indent=2) + "\n"
        atomic_write_text(staging / MANIFEST, manifest_text)
        public_key = ""
        if sign:
            from engine.artifacts.signing import sign_bundle

            public_key = sign_bundle(staging)
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    project.store.record_export(run_id, sha256_file(target / MANIFEST), manifest_text, str(target), public_key)
    return manifest


def program_files(record, spec) -> dict[str, bytes]:
    """The bundle's code files for the run's kind of program (today: a program defined as data)."""
    from engine.artifacts.program_source import spec_program_files

    model = {"provider": record.provider, "name": record.model_name, "revision": record.model_revision,
             "details": record.model_details}
    return spec_program_files(spec, prompt_format=record.adapter_format, model=model)


def _module_support_files(record) -> dict[str, bytes]:
    """Beside a user module's own program.py (engine/module_bundle.py): the model check and the
    compact adapter, the same files a builder program's bundle ships."""
    from engine.artifacts.program_source import MODEL_CHECK_SOURCE

    files = {MODEL_CHECK: MODEL_CHECK_SOURCE.read_bytes()}
    if record.adapter_format == "compact":
        from engine.adapters import compact as compact_module

        files[ADAPTER] = Path(compact_module.__file__).read_bytes()
    return files


def _write_state(spec, state: dict, path: Path) -> None:
    """DSPy's own state file, written by DSPy (`save_program=False`) from a rebuilt module."""
    from engine.programs import build_program

    program = build_program(spec)
    program.load_state(state)
    program.save(str(path), save_program=False)


def _manifest(project, record, spec, report: dict, folder: Path) -> Manifest:
    from engine import metrics
    from engine.jobs.compile import library_versions
    from engine.optimizers import get
    from engine.store import utc_now

    metric_spec = metrics.parse_metric(record.metric)
    split_sizes = {split: ev.get("baseline", ev.get("candidate", {})).get("n")
                   for split, ev in report["evaluations"].items()}
    review = ReviewRecord(status="unreviewed") if record.review is None else ReviewRecord(
        status=record.review.decision, note=record.review.note, reviewer=record.review.reviewer,
        at=record.review.at,
    )
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.name != MANIFEST}
    return Manifest(
        created_at=utc_now(),
        run_id=record.run_id,
        project=project.name,
        program={
            "name": spec.name,
            "fingerprint": record.program_fingerprint,
            "predictors": spec.predictor_names(),
            "inputs": spec.input_names,
            "outputs": spec.output_names,
            "stages": [
                {"name": s.name, "module": s.module, "predictor": s.predictor_name(),
                 "inputs": s.input_names, "outputs": s.output_names}
                for s in spec.stages
            ],
        },
        model=ModelRecord(profile=record.profile, provider=record.provider, name=record.model_name,
                          revision=record.model_revision, details=record.model_details),
        adapter_format=record.adapter_format,
        adapter_revision=files.get(ADAPTER, ""),  # the shipped file's sha256 = format_revision at export
        answers=report["answers"],
        metric={"spec": record.metric, "description": metrics.describe(metric_spec),
                **({"judge_calibration": report["judge"]} if report.get("judge") else {}),
                **({"files": report["metric_files"]} if report.get("metric_files") else {})},
        splits={split: {"sha256": digest, "n": split_sizes.get(split)}
                for split, digest in record.split_hashes.items()},
        optimizer={"name": record.optimizer, "dspy_name": get(record.optimizer).dspy_name,
                   "params": record.params, "seed": record.seed},
        run_status=record.status,
        scores=record.scores,
        evaluations=report["evaluations"],
        gates=report["gates"],
        lm_calls=record.lm_calls,
        cached_calls=record.cached_calls,
        tokens=record.tokens,
        cost_usd=record.cost_usd,
        elapsed_s=record.elapsed_s,
        library_versions={**record.library_versions, "exported_with": library_versions()},
        review=review,
        files=files,
    )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- reading a bundle back (offline review) ------------------------------------------------------

def read_manifest(bundle: str | Path) -> Manifest:
    folder = Path(bundle).expanduser()
    path = folder / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{folder} is not an artifact bundle (no {MANIFEST})")
    try:
        return Manifest.model_validate_json(path.read_text("utf-8"))
    except (ValidationError, ValueError) as exc:
        raise ArtifactError(f"{path} is not a valid manifest: {exc}") from None


def verify_bundle(bundle: str | Path) -> tuple[Manifest, list[str]]:
    """The manifest and a list of problems (empty when every file matches its recorded hash).

    A problem is also: a `files` entry that is not a plain file name of the bundle (absolute,
    `..`, a separator: it is never read), a listed file that is a symbolic link, executable code the
    manifest does not list (a pickle, compiled Python, a stray module), a state.json DSPy cannot read.
    Other unlisted files are in `stray_files` (reported, not a failure)."""
    folder = Path(bundle).expanduser()
    manifest = read_manifest(folder)
    problems = []
    for name, digest in manifest.files.items():
        why = bad_entry(name)
        if why:
            problems.append(f"the manifest lists {printable(name)!r}, which {why}; it was not read")
            continue
        path = folder / name
        if path.is_symlink():
            problems.append(f"{name} is a symbolic link; a bundle holds plain files only")
        elif not path.is_file():
            problems.append(f"{name} is missing")
        elif sha256_file(path) != digest:
            problems.append(f"{name} was modified after export (sha256 differs)")
    # A link anywhere in the bundle (to a file or a folder, listed or not) is refused: a folder
    # link named like a package (`dspy` -> elsewhere) would shadow it for whoever imports program.py.
    for link in sorted(p for p in folder.rglob("*") if p.is_symlink()):
        relative = link.relative_to(folder).as_posix()
        if relative not in manifest.files:
            problems.append(f"{printable(relative)} is a symbolic link; a bundle holds plain files only, "
                            "and a link could shadow a module for whoever imports program.py")
    for stray in stray_files(folder, manifest):
        if stray.lower().endswith((".pyc", ".pyo")) or "__pycache__" in stray.split("/"):
            problems.append(f"{printable(stray)} is compiled Python the manifest does not cover (Python writes it "
                            "when the bundle is imported from its folder, and may run it instead of the .py file); "
                            "delete the __pycache__ folder")
        elif is_executable_name(stray):
            problems.append(f"{printable(stray)} is not in the manifest and is executable code "
                            "(a pickle or Python): a Workbench bundle never holds one; delete it")
    state_path = folder / STATE
    state = {}
    if state_path.is_file() and not state_path.is_symlink() and STATE in manifest.files:
        try:
            state = json.loads(state_path.read_text("utf-8"))
        except ValueError:
            problems.append(f"{STATE} is not valid JSON")
    if not isinstance(state, dict):
        state = {}
    predictors = manifest.program.get("predictors", [])
    predictors = predictors if isinstance(predictors, list) else [str(predictors)]
    missing = [str(p) for p in predictors if not isinstance(p, str) or p not in state]
    if missing and not any(p.startswith(STATE) for p in problems):
        problems.append(f"{STATE} has no state for predictor(s) {', '.join(map(printable, missing))}")
    return manifest, problems


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
EXECUTABLE_SUFFIXES = (".pkl", ".pickle", ".dill", ".joblib", ".pt", ".pth", ".py", ".pyw", ".pyc", ".pyo", ".pyd",
                       ".so", ".dll", ".dylib")


def bad_entry(name: str) -> str | None:
    """Why a manifest `files` entry is not a plain file name inside the bundle, or None."""
    if not isinstance(name, str) or not _PLAIN_NAME.fullmatch(name) or ".." in name:
        return "is not a plain file name of the bundle (absolute, `..`, a path separator or an odd character)"
    if name in (MANIFEST, SIGNATURE):
        return "is the manifest's own file"
    return None


def is_executable_name(relative: str) -> bool:
    return relative.lower().endswith(EXECUTABLE_SUFFIXES) or "__pycache__" in relative.split("/")


def stray_files(folder: Path, manifest: Manifest) -> list[str]:
    """Files in the bundle (relative, `/`-separated) that the manifest does not list; the signature
    and review records are the bundle's own and are not strays."""
    listed = set(manifest.files) | {MANIFEST, SIGNATURE}
    strays = []
    for root, dirs, names in os.walk(folder):  # never follows a symbolic link into another folder
        base = Path(root).relative_to(folder)
        if base == Path(".") and REVIEWS in dirs:
            dirs.remove(REVIEWS)
        strays += [(base / n).as_posix() for n in names if (base / n).as_posix() not in listed]
        strays += [(base / d).as_posix() for d in dirs if (Path(root) / d).is_symlink()]
    return sorted(strays)


def printable(text) -> str:
    """Text safe to print on a terminal: control, format (bidi) and separator characters escaped,
    so no manifest field can move the cursor, hide a line or fake one."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text))


def chosen_state(bundle_or_state: dict) -> dict[str, dict]:
    """Per predictor: its instructions and demos, from a state dict."""
    out = {}
    for name, value in bundle_or_state.items():
        if name == "metadata" or not isinstance(value, dict):
            continue
        signature = value.get("signature", {})
        out[name] = {"instructions": signature.get("instructions", ""), "demos": value.get("demos", [])}
    return out
