"""Where a bundle came from, and whether it is as it was: the one verdict both faces show first.

Hashes in the manifest catch accidents only: whoever edits state.json can update its hash too.
Two things catch that ("consistent tampering"): the project's run history, which recorded the
manifest's sha256 (and text) at export, and an ed25519 signature of the manifest by a key the
reviewer trusts. The verdict is exactly one of:

    exported from run R of this project, unchanged     (--project: the manifest is one it exported)
    signed by KEY, unchanged                           (a trusted key signed this very manifest)
    files match the manifest; origin unverified        (nothing vouches for the manifest itself)
    changed: ...                                       (what differs, file by file / field by field)
    a DSPy whole-program save: ...                     (a pickle: executable code, nothing loaded)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from engine.artifacts.names import MANIFEST


@dataclass(frozen=True)
class Verdict:
    kind: str                  # project | signed | unverified | changed | executable
    text: str                  # the one sentence to show first
    problems: list[str] = field(default_factory=list)   # what was changed (kind "changed")
    notes: list[str] = field(default_factory=list)      # secondary facts: unlisted files, an untrusted signer
    strays: list[str] = field(default_factory=list)     # files the manifest does not list
    run_id: str = ""
    key: str = ""              # the key that signed the manifest, when it verifies

    @property
    def ok(self) -> bool:
        return self.kind in ("project", "signed", "unverified")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text, "ok": self.ok, "problems": self.problems,
                "notes": self.notes, "strays": self.strays, "run_id": self.run_id, "key": self.key}


def artifact_verdict(path: str | Path, *, project=None, trust_keys=()) -> Verdict:
    """The verdict for a bundle; `project` (an engine.project.Project) and `trust_keys` (public keys
    as `export --sign` prints them) say what may vouch for its origin."""
    from engine.artifacts.bundle import is_executable_name, printable, sha256_file, stray_files, verify_bundle
    from engine.artifacts.catalogue import dspy_save_info
    from engine.artifacts.signing import parse_public_key, read_signature

    folder = Path(path).expanduser()
    save = dspy_save_info(folder)
    if save is not None:
        return Verdict("executable", save.warning, notes=[f"files: {', '.join(save.files)}"])
    trusted = {_key_text(parse_public_key(k)) for k in trust_keys}
    manifest, problems = verify_bundle(folder)
    strays = stray_files(folder, manifest)
    notes = [f"{printable(s)} is in the bundle but not in the manifest" for s in strays if not is_executable_name(s)]
    manifest_sha = sha256_file(folder / MANIFEST)
    changes = list(problems)

    exported = None
    if project is not None:
        records = project.store.exports()
        exported = next((r for r in records if r["manifest_sha256"] == manifest_sha), None)
        if exported is None:
            same_run = [r for r in records if r["run_id"] == manifest.run_id]
            if same_run:
                changes += _differences(json.loads(same_run[0]["manifest"]), json.loads(
                    (folder / MANIFEST).read_text("utf-8")), manifest.run_id)
            else:
                notes.append(f"this project has no record of exporting run {printable(manifest.run_id)}")

    signature = read_signature(folder)
    signer = ""
    if signature is not None:
        key, valid = signature
        key = printable(key)  # the signature file's own text: anyone may have written it
        if not valid:
            changes.append(f"{MANIFEST} was changed after it was signed (the signature by {key} does not match it)")
        else:
            signer = key
            if signer not in trusted:
                notes.append(f"signed by {signer}, a key not given to --trust-key")
    elif trusted:
        notes.append("the bundle is not signed")

    if changes:
        changes = [printable(c) for c in changes]  # already escaped pieces stay as they are
        return Verdict("changed", "changed: " + "; ".join(changes), problems=changes, notes=notes, strays=strays,
                       run_id=manifest.run_id, key=signer)
    if exported is not None:
        return Verdict("project", f"exported from run {manifest.run_id} of this project, unchanged", notes=notes,
                       strays=strays, run_id=manifest.run_id, key=signer)
    if signer and signer in trusted:
        return Verdict("signed", f"signed by {signer}, unchanged", notes=notes, strays=strays,
                       run_id=manifest.run_id, key=signer)
    return Verdict("unverified", "files match the manifest; origin unverified", notes=notes, strays=strays,
                   run_id=manifest.run_id, key=signer)


def _key_text(public_key) -> str:
    from engine.artifacts.signing import _public_text

    return _public_text(public_key)


def _differences(exported: dict, now: dict, run_id: str) -> list[str]:
    """What differs between the manifest this project exported for the run and the bundle's."""
    from engine.artifacts.bundle import printable

    run_id = printable(run_id)
    out = []
    files_then, files_now = exported.get("files", {}), now.get("files", {})
    for raw in sorted(set(files_then) | set(files_now)):
        name = printable(raw)
        if raw not in files_now:
            out.append(f"{name} was removed from the manifest")
        elif raw not in files_then:
            out.append(f"{name} was added to the manifest")
        elif files_then[raw] != files_now[raw]:
            out.append(f"{name} is not the file run {run_id} exported (its hash in the manifest was edited too)")
    edited = sorted(printable(k) for k in set(exported) | set(now) if k != "files" and exported.get(k) != now.get(k))
    if edited:
        out.append("the manifest's " + ", ".join(edited) + (" was" if len(edited) == 1 else " were")
                   + f" edited since run {run_id} was exported")
    return out or [f"{MANIFEST} is not the one this project exported for run {run_id}"]
