"""The exported artifact (a bundle folder): export, integrity and origin, review records, the
compilation matrix, diff, offline prompts. docs/artifact-api.md lists what the window calls."""

from engine.artifacts.bundle import (Manifest, ModelRecord, ReviewRecord, chosen_state, export_run, printable,
                                     read_manifest, sha256_file, stray_files, verify_bundle)
from engine.artifacts.catalogue import (ArtifactView, DSPySaveInfo, Matrix, compilation_matrix, dspy_save_info,
                                        find_artifact, open_artifact)
from engine.artifacts.diff import diff_artifacts
from engine.artifacts.names import ADAPTER, MANIFEST, MODEL_CHECK, PROGRAM, REVIEWS, SIGNATURE, STATE
from engine.artifacts.origin import Verdict, artifact_verdict
from engine.artifacts.render import bundle_program, bundle_prompts
from engine.artifacts.reviews import ReviewEntry, effective_review, read_reviews, record_review
from engine.artifacts.signing import signing_public_key

__all__ = [
    "ADAPTER", "MANIFEST", "MODEL_CHECK", "PROGRAM", "REVIEWS", "SIGNATURE", "STATE",
    "ArtifactView", "DSPySaveInfo", "Manifest", "Matrix", "ModelRecord", "ReviewEntry", "ReviewRecord", "Verdict",
    "artifact_verdict", "bundle_program", "bundle_prompts", "chosen_state", "compilation_matrix", "diff_artifacts",
    "dspy_save_info", "effective_review", "export_run", "find_artifact", "open_artifact", "printable",
    "read_manifest", "read_reviews", "record_review", "sha256_file", "signing_public_key", "stray_files",
    "verify_bundle",
]
