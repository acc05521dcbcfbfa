"""Prompt formats. `compact` is the Workbench's own (see compact.py); `chat` and `json` are DSPy's."""

from __future__ import annotations

from engine.errors import ModelError

FORMATS = ("compact", "chat", "json")


def format_revision(format_name: str) -> str:
    """Which code renders the format's prompts: the sha256 of compact.py for the Workbench's own format (an
    exported artifact ships that file), "" for DSPy's formats (the installed DSPy's version is recorded)."""
    if format_name != "compact":
        return ""
    import hashlib
    from pathlib import Path

    return hashlib.sha256((Path(__file__).parent / "compact.py").read_bytes()).hexdigest()


def format_outdated(format_name: str, revision: str) -> bool:
    """Whether a run was compiled with another revision of the format's code than this Workbench's.

    Its prompts may then differ from the ones this Workbench renders (the revision hashes the whole
    file, so a change to a comment counts too). Runs from before revisions were recorded ("") cannot
    tell, so they count as current."""
    return bool(revision) and revision != format_revision(format_name)


def make_adapter(format_name: str):
    """The DSPy adapter for a profile's prompt format."""
    import dspy

    if format_name == "compact":
        from engine.adapters.compact import CompactAdapter

        return CompactAdapter()
    if format_name == "chat":
        # No silent JSONAdapter retry: one LM call per prediction, counted and cached as one.
        return dspy.ChatAdapter(use_json_adapter_fallback=False)
    if format_name == "json":
        return dspy.JSONAdapter()
    raise ModelError(f"unknown prompt format {format_name!r}; use one of {', '.join(FORMATS)}")


CALIBRATION_ROWS = 16  # training rows a choice-scoring engine calibrates on (bench/README.md)


def calibrate_on_training_rows(adapter, project) -> None:
    """Give a compact adapter the inputs of up to CALIBRATION_ROWS training rows (never their
    labels), which the embedded engine's choice scoring calibrates on. Always the same rows for a
    given train split, whatever a run's --limit: a run re-evaluated later answers as it did. Other
    adapters have no use for them."""
    if hasattr(adapter, "calibration_inputs"):
        adapter.calibration_inputs = [dict(e.inputs()) for e in project.examples("train", CALIBRATION_ROWS)]


SCORED_CHOICES = "scored choices"
GENERATED = "generated"


def answer_mode(provider: str, format_name: str, spec) -> str:
    """How a run's answers were picked: "scored choices" when the embedded engine scored a stage
    whose only output is a Literal (engine/lms/choice_scoring.py), else "generated". Plain DSPy
    running an exported program generates its answers from the same prompt, so they can differ."""
    from engine.lms.profiles import EMBEDDED

    scored = provider == EMBEDDED and format_name == "compact" and any(
        stage.module != "cot" and len(stage.outputs) == 1 and stage.outputs[0].type == "literal"
        for stage in spec.stages)
    return SCORED_CHOICES if scored else GENERATED
