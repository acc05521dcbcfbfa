"""Promotion gates: per-slice minimum scores a compiled program must reach on the test split.

A candidate is promoted only when no gate fails, so a better average cannot hide a slice that
got worse than its floor (e.g. `late_delivery` up 11 points, `refund` down below its minimum).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ALL_SLICE", "SliceGate", "check_gates", "gates_pass", "gate_slices", "set_gate"]

ALL_SLICE = "(all)"  # the slice name a gate uses for the overall score

# A score passes when it is at least the minimum, allowing for float rounding (22/25 vs 0.88).
_TOLERANCE = 1e-9


class SliceGate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slice: str = Field(min_length=1)
    min_score: float = Field(ge=0.0, le=1.0)


def _score_of(value: Any) -> tuple[float | None, int | None]:
    """A plain float, or anything with `.score` (and `.n`, e.g. stats.Summary)."""
    if value is None:
        return None, None
    if hasattr(value, "score"):
        return float(value.score), getattr(value, "n", None)
    return float(value), None


def _pair(score: float, minimum: float) -> tuple[str, str]:
    """Both numbers with 2 decimals, or more when 2 would print a failing score as equal."""
    for digits in range(2, 7):
        a, b = f"{score:.{digits}f}", f"{minimum:.{digits}f}"
        if a != b:
            return a, b
    return f"{score:.6f}", f"{minimum:.6f}"


def check_gates(
    gates: Iterable[SliceGate | Mapping],
    candidate_per_slice: Mapping[str, Any],
    overall: float,
) -> list[str]:
    """The failed gates, in gate order, one sentence each ("refund: 0.83 < minimum 0.88").

    `candidate_per_slice` maps tag -> the candidate's test score (a float or a stats.Summary);
    the gate on "(all)" checks `overall`. A gate on a slice with no test examples fails: a floor
    nothing was measured against cannot be said to hold.
    """
    failures = []
    for gate in gates:
        if not isinstance(gate, SliceGate):
            gate = SliceGate.model_validate(gate)
        if gate.slice == ALL_SLICE:
            score, n = _score_of(overall)
        else:
            score, n = _score_of(candidate_per_slice.get(gate.slice))
        if score is None or n == 0:
            failures.append(f"no test examples in slice {gate.slice}")
            continue
        if score < gate.min_score - _TOLERANCE:
            shown, minimum = _pair(score, gate.min_score)
            failures.append(f"{gate.slice}: {shown} < minimum {minimum}")
    return failures


def gates_pass(gates, candidate_per_slice, overall) -> bool:
    """True when no gate fails (the promote decision, as far as gates go)."""
    return not check_gates(gates, candidate_per_slice, overall)


# -- editing a project's gates (the CLI's `gates set` and the Review pane call these) -----------------

def gate_slices(project) -> list[str]:
    """The slices a gate can name: "(all)" and every slice tag in the data."""
    from engine.dataset_queries import slice_tags

    return [ALL_SLICE, *slice_tags(project.frame)]


def set_gate(project, slice_name: str, min_score: float | None) -> list[SliceGate]:
    """Set (or, with `min_score=None`, remove) the gate on one slice; the gates, in order, after it.

    The project is changed in memory; the caller saves it. A slice the data does not have, or a
    minimum outside [0, 1], is a WorkbenchError that says what to do.
    """
    from engine.errors import WorkbenchError

    known = gate_slices(project)
    if slice_name not in known:
        raise WorkbenchError(f"the data has no slice named {slice_name!r}; its slices are: "
                             f"{', '.join(known[1:]) or 'none yet'} (or use --overall for the whole test split)")
    if min_score is not None and not 0.0 <= min_score <= 1.0:  # also catches NaN
        raise WorkbenchError(f"a gate's minimum is a score from 0 to 1, not {min_score}")
    from engine.project import Gate

    gates = [g for g in project.config.gates if g.slice != slice_name]
    if min_score is not None:
        existing = [g.slice for g in project.config.gates]
        gate = Gate(slice=slice_name, min_score=min_score)
        # A changed gate keeps its place; a new one goes last (overall first reads best).
        where = existing.index(slice_name) if slice_name in existing else len(gates)
        gates.insert(where, gate)
    project.config.gates = gates
    return [SliceGate(slice=g.slice, min_score=g.min_score) for g in gates]
