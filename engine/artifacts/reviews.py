"""Review records written beside a bundle, in its `reviews/` folder.

A bundle's files and manifest are never touched: each review is one new JSON file
(`reviews/<UTC time>-<random>.json`), so the bundle's hashes and signature stay valid and several
reviewers never overwrite each other. A record names the manifest's sha256 it was made for, so a
review of an earlier version of the bundle is shown as such, not carried over.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from engine.artifacts.names import MANIFEST, REVIEWS
from engine.errors import ArtifactError

VERDICTS = ("approved", "rejected")


class ReviewEntry(BaseModel):
    verdict: Literal["approved", "rejected"]
    note: str = ""
    reviewer: str = ""
    at: str
    manifest_sha256: str
    current: bool = False  # made for the manifest the bundle has now (set when read)
    file: str = ""


def record_review(bundle: str | Path, verdict: str, note: str = "", reviewer: str = "") -> ReviewEntry:
    """Write a reviewer's verdict ("approved" or "rejected") and note beside the bundle."""
    from engine.artifacts.bundle import read_manifest, sha256_file
    from engine.atomic import atomic_write_text
    from engine.store import utc_now

    folder = Path(bundle).expanduser()
    read_manifest(folder)  # a bundle, or a one-sentence error
    if verdict not in VERDICTS:
        raise ArtifactError(f"a review verdict is 'approved' or 'rejected', not {verdict!r}")
    at = utc_now()
    entry = ReviewEntry(verdict=verdict, note=note, reviewer=reviewer or login_name(), at=at,
                        manifest_sha256=sha256_file(folder / MANIFEST))
    name = at.replace(":", "").replace("-", "").replace("+", "Z")[:22] + "-" + secrets.token_hex(4) + ".json"
    try:
        (folder / REVIEWS).mkdir(exist_ok=True)
        atomic_write_text(folder / REVIEWS / name, entry.model_dump_json(
            indent=2, exclude={"current", "file"}) + "\n")
    except OSError as exc:
        raise ArtifactError(f"cannot write the review beside {folder} ({exc.strerror or exc}); "
                            "copy the bundle somewhere you can write") from None
    return entry.model_copy(update={"current": True, "file": f"{REVIEWS}/{name}"})


def read_reviews(bundle: str | Path) -> list[ReviewEntry]:
    """The bundle's review records, oldest first (unreadable files are left out)."""
    from engine.artifacts.bundle import sha256_file

    folder = Path(bundle).expanduser()
    reviews_dir = folder / REVIEWS
    if not reviews_dir.is_dir() or reviews_dir.is_symlink() or not (folder / MANIFEST).is_file():
        return []
    current = sha256_file(folder / MANIFEST)
    entries = []
    for path in sorted(reviews_dir.glob("*.json")):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            data = json.loads(path.read_text("utf-8"))
            data.pop("current", None)
            data["file"] = f"{REVIEWS}/{path.name}"
            entry = ReviewEntry.model_validate(data)
        except (ValueError, ValidationError, TypeError, OSError):
            continue
        entries.append(entry.model_copy(update={"current": entry.manifest_sha256 == current}))
    return sorted(entries, key=lambda e: e.at)


def effective_review(bundle: str | Path, manifest=None) -> str:
    """The latest review record made for this manifest, else the manifest's own review status."""
    from engine.artifacts.bundle import read_manifest

    current = [e for e in read_reviews(bundle) if e.current]
    if current:
        return current[-1].verdict
    return (manifest or read_manifest(bundle)).review.status


def login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return ""
