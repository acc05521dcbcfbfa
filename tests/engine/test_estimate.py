"""The estimate before a compile, checked against what DSPy's real optimizers then spend.

The runs go through the real compile job and DSPy's own optimizer code; only the model is
scripted (tests/conftest.py), so the call counts are DSPy's, not a model's.
"""

from __future__ import annotations

import pytest

from engine.estimate import RunEstimate, bootstrap_forwards, estimate_compile
from engine.jobs.compile import CompileJob, CompileSettings
from tests.engine.test_optimizers import ANSWER

SETTINGS = {
    "labeled-fewshot": {"k": 2},
    "bootstrap-fewshot": {"max_bootstrapped_demos": 2, "max_labeled_demos": 1},
    "bootstrap-rs": {"num_candidate_programs": 2},
    "copro": {"breadth": 2, "depth": 1},
    "miprov2": {"auto": "none", "num_candidates": 2, "num_trials": 3, "minibatch": False},
    "simba": {"bsize": 4, "num_candidates": 2, "max_steps": 1},
    "gepa": {"reflection_model": "embedded", "max_metric_calls": 30},
}


@pytest.mark.parametrize("key", list(SETTINGS))
def test_the_calls_a_run_makes_fall_in_the_estimated_range(sample_project, scripted_connect, key):
    scripted_connect(rules={"refund": {**ANSWER, "urgency": "low"}}, default=ANSWER)
    settings = CompileSettings(key, SETTINGS[key], limit=8)
    estimate = estimate_compile(sample_project, settings)
    record = CompileJob(sample_project, settings).run()
    assert record.status == "succeeded", record.error
    made = record.events_summary["logical_lm_calls"]
    low, high = estimate.lm_calls_range
    assert low <= made <= high, (made, estimate.phases)
    assert low <= estimate.lm_calls <= high


def test_labeled_fewshot_is_exactly_the_four_evaluations(sample_project):
    estimate = estimate_compile(sample_project, CompileSettings("labeled-fewshot", {"k": 3}, limit=5))
    assert estimate.lm_calls_range == (20, 20) and estimate.lm_calls == 20
    assert estimate.cost_usd == 0.0  # the embedded model runs on this machine
    assert estimate.seconds is None  # no past run yet: the model's speed is not known


def test_a_past_run_gives_the_time_per_call(sample_project, scripted_connect):
    scripted_connect(default=ANSWER, delay=0.01)
    settings = CompileSettings("labeled-fewshot", {"k": 1}, limit=4)
    CompileJob(sample_project, settings).run()
    estimate = estimate_compile(sample_project, settings)
    assert estimate.seconds is not None and estimate.seconds > 0
    assert any("measured in this project's past runs" in line for line in estimate.basis)


def test_a_minibatch_larger_than_validation_is_flagged(sample_project):
    estimate = estimate_compile(sample_project, CompileSettings(
        "miprov2", {"auto": "none", "num_candidates": 3, "num_trials": 4, "minibatch_size": 35}, limit=8))
    assert any("minibatch_size 35 is larger than the 8 validation rows" in w for w in estimate.warnings)


def test_bootstrap_range_spans_every_trace_passing_to_none():
    assert bootstrap_forwards(10, 3, 2, pass_rate=1.0) == bootstrap_forwards(10, 3, 2, pass_rate=1.0)
    calls = bootstrap_forwards(10, 3, 2, pass_rate=0.5)
    assert calls.low == 3 and calls.high == 20 and 3 <= calls.point <= 20
    assert bootstrap_forwards(10, 0, 2, pass_rate=0.5).high == 0


def test_the_json_has_the_documented_keys(sample_project):
    data = estimate_compile(sample_project, CompileSettings("bootstrap-fewshot", {}, limit=6)).to_json()
    assert {"lm_calls", "lm_calls_range", "tokens", "cost_usd", "seconds"} <= set(data)
    assert isinstance(data["lm_calls_range"], list) and len(data["lm_calls_range"]) == 2
    assert isinstance(RunEstimate(**{**data, "lm_calls_range": tuple(data["lm_calls_range"])}).summary(), str)


def test_compile_dry_run_calls_no_model_and_prints_the_estimate(sample_project, scripted_connect, capsys):
    import json

    from engine.cli.main import main

    scripted = scripted_connect(default=ANSWER)
    code = main(["compile", str(sample_project.root), "--optimizer", "miprov2", "--dry-run", "--json"])
    assert code == 0 and scripted.calls == 0
    data = json.loads(capsys.readouterr().out)
    assert data["dry_run"] is True
    assert {"lm_calls", "lm_calls_range", "tokens", "cost_usd", "seconds"} <= set(data["estimate"])
    assert sample_project.store.list_runs() == []  # nothing was written
    assert main(["compile", str(sample_project.root), "--optimizer", "bootstrap-fewshot", "--dry-run"]) == 0
    assert "estimated; no model was called" in capsys.readouterr().out


def test_every_llm_judge_in_the_metric_adds_a_call_per_scored_run(sample_project):
    from engine.estimate import _judges_in

    judge = {"kind": "llm_judge", "rubric": "r"}
    assert _judges_in({"kind": "exact_match"}) == 0
    assert _judges_in(judge) == 1
    assert _judges_in({"kind": "composite", "components": [{"weight": 1, "metric": judge},
                                                           {"weight": 1, "metric": {"kind": "exact_match"}}]}) == 1
