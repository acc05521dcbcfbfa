"""The exported artifact (a bundle folder): export, integrity and origin, review records, the
compilation matrix, diff. See docs/artifact-api.md for what the window calls."""

from engine.artifacts.bundle import (Manifest, ModelRecord, ReviewRecord, chosen_state, export_run, read_manifest,
                                     sha256_file, verify_bundle)
from engine.artifacts.names import ADAPTER, MANIFEST, MODEL_CHECK, PROGRAM, STATE

__all__ = ["ADAPTER", "MANIFEST", "MODEL_CHECK", "PROGRAM", "STATE", "Manifest", "ModelRecord", "ReviewRecord",
           "chosen_state", "export_run", "read_manifest", "sha256_file", "verify_bundle"]
