"""Promotion gates per slice."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from engine.gates import SliceGate, check_gates, gates_pass
from engine.stats import per_slice


def test_reference_example_refund_fails_although_the_average_improved():
    baseline = {"late_delivery": 0.84, "refund": 0.91}
    compiled = {"late_delivery": 0.95, "refund": 0.83}
    gates = [SliceGate(slice="late_delivery", min_score=0.84), SliceGate(slice="refund", min_score=0.88)]
    overall = sum(compiled.values()) / 2
    assert overall > sum(baseline.values()) / 2
    failures = check_gates(gates, compiled, overall)
    assert failures == ["refund: 0.83 < minimum 0.88"]
    promote = not failures
    assert promote is False
    assert gates_pass(gates, compiled, overall) is False


def test_all_gates_met_means_no_failures():
    gates = [SliceGate(slice="refund", min_score=0.88), SliceGate(slice="(all)", min_score=0.8)]
    assert check_gates(gates, {"refund": 0.88}, 0.85) == []


def test_the_all_gate_checks_the_overall_score():
    assert check_gates([SliceGate(slice="(all)", min_score=0.9)], {}, 0.85) == ["(all): 0.85 < minimum 0.90"]


def test_a_gate_on_a_slice_without_test_examples_fails():
    gates = [SliceGate(slice="warranty", min_score=0.5)]
    assert check_gates(gates, {"refund": 1.0}, 1.0) == ["no test examples in slice warranty"]


def test_gates_accept_per_slice_summaries():
    summaries = per_slice([1, 0, 1, 1], [["refund"], ["refund"], ["late"], ["late"]])
    gates = [{"slice": "refund", "min_score": 0.6}, {"slice": "late", "min_score": 0.9}]
    assert check_gates(gates, summaries, 0.75) == ["refund: 0.50 < minimum 0.60"]


def test_a_near_miss_is_printed_with_enough_digits_to_show_it():
    assert check_gates([SliceGate(slice="a", min_score=0.88)], {"a": 0.876}, 0.9) == ["a: 0.876 < minimum 0.880"]


def test_a_score_equal_to_the_minimum_up_to_rounding_passes():
    assert check_gates([SliceGate(slice="a", min_score=0.88)], {"a": 22 / 25}, 0.9) == []


def test_gate_minimum_must_be_a_score():
    with pytest.raises(ValidationError):
        SliceGate(slice="a", min_score=1.5)
