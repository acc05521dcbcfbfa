"""Many bundles at once: opening a path, the compilation matrix, and finding the artifact for a
program on an exact model revision.

A compiled artifact belongs to one program version and one exact model revision; a different
revision needs its own compile and evaluation. The matrix shows which pairs have one (rows:
program name + fingerprint; columns: exact revisions), and `find_artifact` refuses a pair that
has none, naming the revisions that do.

A DSPy whole-program save (`save_program=True`: a folder with `program.pkl` and `metadata.json`)
is executable code: it is recognised by its file names, its metadata JSON is shown, and nothing
else of it is read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from engine.artifacts.names import MANIFEST
from engine.errors import ArtifactError

PICKLE_SUFFIXES = (".pkl", ".pickle", ".dill", ".joblib")
DSPY_SAVE_WARNING = ("a DSPy whole-program save: executable code (a pickle, which runs code when loaded); "
                     "nothing was loaded. Export the program state only (save_program=False) to review it here")


@dataclass(frozen=True)
class DSPySaveInfo:
    path: str
    files: list[str]
    metadata: dict
    warning: str = DSPY_SAVE_WARNING


@dataclass(frozen=True)
class ArtifactView:
    kind: str  # "bundle" or "dspy-save"
    path: str
    manifest: object | None = None  # engine.artifacts.Manifest
    dspy_save: DSPySaveInfo | None = None


def dspy_save_info(path: str | Path) -> DSPySaveInfo | None:
    """What a DSPy whole-program save says about itself (its metadata.json), without loading the
    pickle; None when `path` is not one (a Workbench bundle, with a manifest, never is)."""
    path = Path(path).expanduser()
    if path.is_file() and path.name.lower().endswith(PICKLE_SUFFIXES):
        return DSPySaveInfo(str(path), [path.name], {})
    if not path.is_dir() or (path / MANIFEST).exists():
        return None
    names = sorted(p.name for p in path.iterdir())
    if not any(n.lower().endswith(PICKLE_SUFFIXES) for n in names):
        return None
    metadata = {}
    meta_path = path / "metadata.json"
    if meta_path.is_file() and not meta_path.is_symlink() and meta_path.stat().st_size < 1_000_000:
        try:
            loaded = json.loads(meta_path.read_text("utf-8"))
            metadata = loaded if isinstance(loaded, dict) else {}
        except (ValueError, OSError):
            metadata = {}
    return DSPySaveInfo(str(path), names, metadata)


def open_artifact(path: str | Path) -> ArtifactView:
    """A Workbench bundle (its manifest) or a DSPy whole-program save (its metadata only)."""
    from engine.artifacts.bundle import read_manifest

    save = dspy_save_info(path)
    if save is not None:
        return ArtifactView("dspy-save", str(Path(path).expanduser()), dspy_save=save)
    return ArtifactView("bundle", str(Path(path).expanduser()), manifest=read_manifest(path))


# -- the matrix ---------------------------------------------------------------------------------------

@dataclass
class Matrix:
    entries: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # {path, why}

    @property
    def programs(self) -> list[tuple[str, str]]:
        return sorted({(e["program"]["name"], e["program"]["fingerprint"]) for e in self.entries})

    @property
    def revisions(self) -> list[str]:
        return sorted({e["model"]["revision"] for e in self.entries})

    def cell(self, program: tuple[str, str], revision: str) -> list[dict]:
        return [e for e in self.entries
                if (e["program"]["name"], e["program"]["fingerprint"]) == tuple(program)
                and e["model"]["revision"] == revision]

    def to_json(self) -> dict:
        return {"entries": self.entries, "skipped": self.skipped,
                "programs": [{"name": n, "fingerprint": f} for n, f in self.programs], "revisions": self.revisions}


def bundle_folders(paths) -> tuple[list[Path], list[dict]]:
    """The bundles among `paths` (a bundle, or a folder of bundles such as a project's artifacts/),
    and what was skipped (DSPy whole-program saves, folders that are not bundles)."""
    found, skipped = [], []
    for given in paths:
        path = Path(given).expanduser()
        if (path / MANIFEST).is_file():
            found.append(path)
        elif dspy_save_info(path) is not None:
            skipped.append({"path": str(path), "why": DSPY_SAVE_WARNING})
        elif path.is_dir():
            for child in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
                if (child / MANIFEST).is_file():
                    found.append(child)
                elif dspy_save_info(child) is not None:
                    skipped.append({"path": str(child), "why": DSPY_SAVE_WARNING})
        else:
            raise ArtifactError(f"{path} does not exist; give an artifact bundle or a folder of bundles")
    return found, skipped


def matrix_entry(folder: Path) -> dict:
    from engine.artifacts.bundle import verify_bundle
    from engine.artifacts.reviews import effective_review

    manifest, problems = verify_bundle(folder)
    test = _dict(_dict(manifest.evaluations).get("test")).get("candidate")
    test = test if isinstance(test, dict) and "score" in test else None
    return {
        "path": str(folder),
        "program": {"name": str(manifest.program.get("name", "")),
                    "fingerprint": str(manifest.program.get("fingerprint", ""))},
        "model": {"provider": manifest.model.provider, "name": manifest.model.name,
                  "revision": manifest.model.revision},
        "review": effective_review(folder, manifest),
        "scores": manifest.scores,
        "test": {"score": test["score"], "ci95": test.get("ci95"), "n": test.get("n")} if test else None,
        "run_id": manifest.run_id,
        "created_at": manifest.created_at,
        "intact": not problems,
    }


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def compilation_matrix(paths) -> Matrix:
    folders, skipped = bundle_folders(paths)
    matrix = Matrix(skipped=skipped)
    for folder in folders:
        try:
            matrix.entries.append(matrix_entry(folder))
        except ArtifactError as exc:
            matrix.skipped.append({"path": str(folder), "why": str(exc)})
    return matrix


def find_artifact(paths, program: str, revision: str, *, any_review: bool = False) -> dict:
    """The newest intact, approved artifact (any review with `any_review`) for the program (a name or
    a fingerprint) on exactly this model revision; none is an ArtifactError naming the revisions
    that have one."""
    from engine.artifacts.bundle import printable

    matrix = compilation_matrix(paths)
    wanted = program.strip()
    for_program = [e for e in matrix.entries if wanted in (e["program"]["name"], e["program"]["fingerprint"])]
    eligible = [e for e in for_program if e["intact"] and (any_review or e["review"] == "approved")]
    matches = [e for e in eligible if e["model"]["revision"] == revision.strip()]
    if matches:
        return max(matches, key=lambda e: e["created_at"])
    kind = "" if any_review else "approved "
    others = sorted({e["model"]["revision"] for e in eligible})
    having = ("; revisions with one: " + ", ".join(map(printable, others))) if others else (
        "; no revision has one" if for_program else f"; no artifact here is for program {printable(wanted)}")
    raise ArtifactError(f"no {kind}artifact for program {printable(wanted)} on revision {printable(revision)}: "
                        f"compile and evaluate one{having}")
