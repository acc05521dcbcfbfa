"""Every optimizer in the catalogue, through the real compile job, with a scripted LM."""

import pytest

from engine import optimizers
from engine.jobs.compile import CompileJob, CompileSettings
from engine.jobs.control import Budget, CancelToken
from engine.jobs.events import LogLine, TrialFinished

# Answers every signature the optimizers use (task, instruction proposers, reflection) can parse.
ANSWER = {
    "urgency": "medium", "reasoning": "r", "proposed_instruction": "Classify the ticket's urgency.",
    "proposed_prefix_for_output_field": "Urgency:", "summary": "s", "observations": "o",
    "program_description": "d", "module_description": "m", "improved_instruction": "Classify carefully.",
    "new_instruction": "```Classify carefully.```", "discussion": "x", "module_advice": {"triage": "care"},
    "shortened_instruction": "Classify.",
}

SMALL = {
    "labeled-fewshot": {"k": 2},
    "bootstrap-fewshot": {"max_bootstrapped_demos": 1, "max_labeled_demos": 1},
    "bootstrap-rs": {"num_candidate_programs": 2},
    "copro": {"breadth": 2, "depth": 1},
    "miprov2": {"auto": "none", "num_candidates": 2, "num_trials": 3, "minibatch": False},
    "simba": {"bsize": 4, "num_candidates": 2, "max_steps": 1},
    "gepa": {"reflection_model": "embedded", "max_metric_calls": 30},
}


def test_the_catalogue_has_every_optimizer_under_its_cli_name():
    assert list(optimizers.CATALOGUE) == ["labeled-fewshot", "bootstrap-fewshot", "bootstrap-rs", "copro",
                                          "miprov2", "simba", "gepa"]
    assert optimizers.get("MIPROv2").key == "miprov2"


@pytest.mark.parametrize("key", list(SMALL))
def test_small_settings_validate_and_every_param_has_help(key):
    params = optimizers.validate(key, SMALL[key], profiles={"embedded": None})
    assert all(p.help for p in optimizers.get(key).params)
    assert set(params) == {p.name for p in optimizers.get(key).params}


@pytest.mark.parametrize("key", list(SMALL))
def test_each_optimizer_compiles_through_the_job(sample_project, scripted_connect, key):
    scripted_connect(rules={"refund": {**ANSWER, "urgency": "low"}}, default=ANSWER)
    events = []
    record = CompileJob(sample_project, CompileSettings(key, SMALL[key], limit=8), sink=events.append).run()
    assert record.status == "succeeded", record.error
    assert set(record.scores) == {"validation", "test"}
    assert record.program_state is not None
    trials = [e for e in events if isinstance(e, TrialFinished)]
    if key in ("bootstrap-rs", "miprov2"):
        assert any(t.kind == "validation" for t in trials)
    if key in ("copro", "simba"):  # no valset: they select on train
        assert any(t.kind == "train" for t in trials)
    if key == "simba":
        assert any(t.kind == "minibatch" for t in trials)
    assert len(sample_project.store.trials(record.run_id)) == len(trials)
    # DSPy's warnings reach the user's log: the Workbench's own settings must not cause any
    assert not [e.message for e in events if isinstance(e, LogLine) and "deprecated" in e.message]


def test_cancel_during_a_search_keeps_the_best_candidate_so_far(sample_project, scripted_connect):
    scripted_connect(default=ANSWER)
    cancel = CancelToken()
    seen = []

    def sink(event):
        if isinstance(event, TrialFinished) and event.kind == "validation":
            seen.append(event)
            if len(seen) == 2:
                cancel.cancel()

    record = CompileJob(sample_project, CompileSettings("bootstrap-rs", {"num_candidate_programs": 6}, limit=8),
                        sink=sink, cancel=cancel).run()
    assert record.status == "cancelled"
    assert "kept the best candidate so far" in record.error
    assert sample_project.store.get_run(record.run_id).program_state is not None
    assert len(sample_project.store.trials(record.run_id)) >= 2


def test_budget_stop_overshoots_by_at_most_the_calls_in_flight(sample_project, scripted_connect):
    scripted_connect(default=ANSWER)
    record = CompileJob(sample_project, CompileSettings("miprov2", SMALL["miprov2"], limit=8,
                                                        budget=Budget(max_calls=25))).run()
    assert record.status == "stopped_by_budget"
    # one thread per the embedded profile: nothing else was in flight when the cap was reached
    assert record.lm_calls == 25 and record.events_summary["logical_lm_calls"] == 25


def test_simba_reports_each_candidate_with_the_score_simba_selects_on(sample_project, scripted_connect):
    import dspy

    from engine import metrics
    from engine.jobs import simba_trials
    from engine.jobs.instrument import RunMeter
    from engine.programs import build_program

    scripted = scripted_connect(rules={"refund": {**ANSWER, "urgency": "low"}}, default=ANSWER)
    train = sample_project.examples("train", 8)
    meter = RunMeter()
    meter.name_splits({"train": len(train)}, selects_on="train")
    with dspy.context(lm=scripted.lm, adapter=dspy.JSONAdapter()), meter.context():
        simba = dspy.SIMBA(metric=metrics.build_metric(sample_project.metric_spec()), bsize=4, num_candidates=2,
                           max_steps=2, max_demos=1, num_threads=1)
        with simba_trials.candidate_trials(meter, len(train), bsize=4):
            result = simba.compile(build_program(sample_project.program), trainset=train, seed=0)
    full = [t for t in meter.trials if t.kind == "train"]
    # The final candidates SIMBA scored on the whole trainset, with SIMBA's own scores.
    assert sorted(t.score for t in full) == pytest.approx(sorted(c["score"] for c in result.candidate_programs))
    minibatch = [t for t in meter.trials if t.kind == "minibatch"]
    assert 2 <= len(minibatch) <= 2 * 3  # per step: up to num_candidates + 1 new candidates
    assert meter.best_kind == "train" and meter.best_score == pytest.approx(max(t.score for t in full))
    assert [t.index for t in meter.trials] == list(range(1, len(meter.trials) + 1))


def test_simba_with_bsize_1_does_not_report_its_trajectory_samples_as_trials(sample_project, scripted_connect):
    import dspy

    from engine import metrics
    from engine.jobs import simba_trials
    from engine.jobs.instrument import RunMeter
    from engine.programs import build_program

    scripted = scripted_connect(default=ANSWER)
    train = sample_project.examples("train", 4)
    meter = RunMeter()
    meter.name_splits({"train": len(train)}, selects_on="train")
    states = []
    real_trial_finished = meter.trial_finished

    def keep_state(score, kind, program=None):
        states.append(program.dump_state() if program is not None else None)
        real_trial_finished(score, kind, program)

    meter.trial_finished = keep_state
    with dspy.context(lm=scripted.lm, adapter=dspy.JSONAdapter()), meter.context():
        simba = dspy.SIMBA(metric=metrics.build_metric(sample_project.metric_spec()), bsize=1, num_candidates=2,
                           max_steps=2, max_demos=1, num_threads=1)
        with simba_trials.candidate_trials(meter, len(train), bsize=1):
            simba.compile(build_program(sample_project.program), trainset=train, seed=0)
    assert [t for t in meter.trials if t.kind == "minibatch"]
    # a sample carries its own temperature-1 LM; no reported candidate (nor the kept state) does
    assert all(predictor.get("lm") is None for state in states for predictor in state.values()
               if isinstance(predictor, dict))


def test_a_cancelled_simba_keeps_its_best_candidate_so_far(sample_project, scripted_connect):
    scripted_connect(default=ANSWER)
    cancel = CancelToken()

    def sink(event):
        if isinstance(event, TrialFinished):
            cancel.cancel()  # at the first candidate SIMBA scored

    record = CompileJob(sample_project, CompileSettings("simba", {**SMALL["simba"], "max_steps": 3}, limit=8),
                        sink=sink, cancel=cancel).run()
    assert record.status == "cancelled"
    assert "kept the best candidate so far (minibatch" in record.error
    assert sample_project.store.get_run(record.run_id).program_state is not None
    assert [t.detail["kind"] for t in sample_project.store.trials(record.run_id)][0] == "minibatch"
