"""The exported artifact: a folder that serves without the Workbench and says what made it.

    state.json         DSPy state only (`save_program=False`): instructions and demos per predictor
    program.py         `build_program()` builds the same module with plain `dspy`
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
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from engine.adapters import format_outdated, format_revision
from engine.atomic import atomic_write_text
from engine.errors import ArtifactError, WorkbenchError

MANIFEST = "manifest.json"
STATE = "state.json"
PROGRAM = "program.py"
ADAPTER = "compact_adapter.py"
FORMAT_VERSION = 1


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


def export_run(project, run_id: str, out: str | Path, *, allow_unreviewed: bool = True) -> Manifest:
    """Write the bundle for a run to `out` (a new or empty folder)."""
    from engine.programs import ProgramSpec, program_source
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
    spec = ProgramSpec.model_validate(record.program_spec)
    report = run_report(project, record)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _write_state(spec, record.program_state, staging / STATE)
        atomic_write_text(staging / PROGRAM, program_source(spec, prompt_format=record.adapter_format))
        if record.adapter_format == "compact":
            from engine.adapters import compact as compact_module

            shutil.copyfile(compact_module.__file__, staging / ADAPTER)
        manifest = _manifest(project, record, spec, report, staging)
        atomic_write_text(staging / MANIFEST, manifest.model_dump_json(indent=2) + "\n")
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


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
        metric={"spec": record.metric, "description": metrics.describe(metric_spec)},
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
    """The manifest and a list of problems (empty when every file matches its recorded hash)."""
    folder = Path(bundle).expanduser()
    manifest = read_manifest(folder)
    problems = []
    for name, digest in manifest.files.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif sha256_file(path) != digest:
            problems.append(f"{name} was modified after export (sha256 differs)")
    state = _read_json(folder / STATE) if (folder / STATE).is_file() else {}
    missing = [p for p in manifest.program["predictors"] if p not in state]
    if missing:
        problems.append(f"{STATE} has no state for predictor(s) {', '.join(missing)}")
    return manifest, problems


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except ValueError as exc:
        raise ArtifactError(f"{path} is not valid JSON: {exc}") from None


def chosen_state(bundle_or_state: dict) -> dict[str, dict]:
    """Per predictor: its instructions and demos, from a state dict."""
    out = {}
    for name, value in bundle_or_state.items():
        if name == "metadata" or not isinstance(value, dict):
            continue
        signature = value.get("signature", {})
        out[name] = {"instructions": signature.get("instructions", ""), "demos": value.get("demos", [])}
    return out
