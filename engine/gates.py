"""Promotion gates: per-slice minimum scores a compiled program must reach on the test split.

A candidate is promoted only when no gate fails, so a better average cannot hide a slice that
got worse than its floor (e.g. `late_delivery` up 11 points, `refund` down below its minimum).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ALL_SLICE", "SliceGate", "check_gates", "gates_pass"]

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
