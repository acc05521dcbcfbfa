"""The names of a bundle's files."""

MANIFEST = "manifest.json"
STATE = "state.json"
PROGRAM = "program.py"
ADAPTER = "compact_adapter.py"
MODEL_CHECK = "model_check.py"
SIGNATURE = "manifest.sig"  # beside the manifest; not listed in it
REVIEWS = "reviews"          # a folder beside the bundle's files; not listed in the manifest
FORMAT_VERSION = 1
