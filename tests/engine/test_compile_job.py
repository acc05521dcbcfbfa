import threading

import pytest

from engine.errors import LeakageError, OptimizerError, WorkbenchError
from engine.jobs.compile import CompileJob, CompileSettings
from engine.jobs.control import Budget, CancelToken
from engine.jobs.events import LMCallFinished, Progress, RunFinished, StageStarted, TrialFinished


def run_job(project, events=None, cancel=None, **settings):
    sink = events.append if events is not None else (lambda e: None)
    job = CompileJob(project, CompileSettings(**settings), sink=sink, cancel=cancel)
    return job, job.run()


def test_compile_scores_baseline_and_candidate_on_validation_and_test(sample_project, scripted_connect):
    scripted_connect(rules={"refund": {"urgency": "medium"}}, default={"urgency": "low"})
    events = []
    job, record = run_job(sample_project, events, optimizer="labeled-fewshot", params={"k": 3}, limit=10)
    assert record.status == "succeeded"
    assert set(record.scores) == {"validation", "test"}
    for split in ("validation", "test"):
        assert set(record.scores[split]) == {"baseline", "candidate"}
        assert all(0.0 <= v <= 1.0 for v in record.scores[split].values())
    stored = sample_project.store.get_run(record.run_id)
    assert len(stored.program_state["triage"]["demos"]) == 3
    assert stored.model_revision == "dummy:1" and stored.program_fingerprint == sample_project.program.fingerprint()
    assert {e.which for e in sample_project.store.evaluations(record.run_id)} == {"baseline", "candidate"}
    stages = [e.stage for e in events if isinstance(e, StageStarted)]
    assert stages[0] == "compile" and "evaluate candidate on test" in stages
    assert isinstance(events[-1], RunFinished) and events[-1].status == "succeeded"


def test_scores_follow_the_model_answers(sample_project, scripted_connect):
    scripted_connect(default={"urgency": "low"})
    _, record = run_job(sample_project, optimizer="labeled-fewshot", params={"k": 1})
    test = sample_project.frame[sample_project.frame["split"] == "test"]
    assert record.scores["test"]["baseline"] == pytest.approx((test["urgency"] == "low").mean())


def test_each_real_call_is_counted_with_its_tokens(sample_project, scripted_connect):
    scripted = scripted_connect()
    events = []
    _, record = run_job(sample_project, events, optimizer="labeled-fewshot", params={"k": 2}, limit=5)
    assert scripted.calls == 20  # 5 examples x (baseline, candidate) x (validation, test)
    calls = [e for e in events if isinstance(e, LMCallFinished)]
    assert record.lm_calls == len(calls) == 20


def test_bootstrap_fewshot_keeps_only_demos_the_metric_accepts(sample_project, scripted_connect):
    # The scripted model says "high" whenever a ticket mentions "fire": only those traces can pass.
    scripted_connect(default={"urgency": "medium"})
    _, record = run_job(sample_project, optimizer="bootstrap-fewshot",
                        params={"max_bootstrapped_demos": 2, "max_labeled_demos": 0}, limit=12)
    demos = sample_project.store.get_run(record.run_id).program_state["triage"]["demos"]
    assert demos and all(d["urgency"] == "medium" for d in demos)


def test_cancel_stops_at_the_next_call_and_keeps_finished_work(sample_project, scripted_connect):
    scripted = scripted_connect(delay=0.02)
    cancel = CancelToken()

    def sink(event):
        if isinstance(event, Progress) and event.stage == "evaluate baseline on validation" and event.done == 3:
            cancel.cancel()

    job = CompileJob(sample_project, CompileSettings("labeled-fewshot", {"k": 2}, limit=10), sink=sink, cancel=cancel)
    record = job.run()
    assert record.status == "cancelled"
    calls_at_end = scripted.calls
    assert calls_at_end <= 10 + 3 + 1  # candidate validation, 3 baseline calls, at most one in flight
    assert record.scores["validation"]["candidate"] is not None  # finished work kept
    assert sample_project.store.get_run(record.run_id).program_state is not None
    assert [t for t in threading.enumerate() if t.name.startswith("ThreadPoolExecutor")] == []


def test_budget_on_calls_stops_the_run_as_stopped_by_budget(sample_project, scripted_connect):
    scripted = scripted_connect()
    _, record = run_job(sample_project, optimizer="labeled-fewshot", params={"k": 2}, limit=10,
                        budget=Budget(max_calls=7))
    assert record.status == "stopped_by_budget"
    assert "budget" in record.error
    assert scripted.calls == 7


def test_leaks_stop_the_compile_before_anything_is_written(sample_project, scripted_connect):
    scripted_connect()
    frame = sample_project.frame
    train_row = frame.index[frame["split"] == "train"][0]
    test_row = frame.index[frame["split"] == "test"][0]
    frame.loc[test_row, "ticket_text"] = frame.loc[train_row, "ticket_text"].upper()
    frame.loc[test_row, "policy_context"] = frame.loc[train_row, "policy_context"]
    with pytest.raises(LeakageError, match=frame.loc[train_row, "id"]):
        CompileJob(sample_project, CompileSettings("labeled-fewshot")).prepare()
    assert sample_project.store.list_runs() == []


def test_an_empty_split_is_a_clear_error(sample_project, scripted_connect):
    scripted_connect()
    sample_project.frame.loc[sample_project.frame["split"] == "validation", "split"] = "train"
    with pytest.raises(WorkbenchError, match="validation split is empty"):
        CompileJob(sample_project, CompileSettings("labeled-fewshot")).prepare()


@pytest.mark.parametrize("optimizer, params, message", [
    ("simulated-annealing", {}, "unknown optimizer"),
    ("bootstrap-fewshot", {"max_demos": "3"}, "has no parameter 'max_demos'"),
    ("bootstrap-fewshot", {"max_labeled_demos": "many"}, "not a valid whole number"),
    ("labeled-fewshot", {"k": "0"}, "at least 1"),
    ("miprov2", {"auto": "none", "num_trials": "5"}, "needs both num_candidates and num_trials"),
    ("miprov2", {"num_trials": "5"}, "remove them, or set auto=none"),
    ("gepa", {"max_metric_calls": "50"}, "needs a reflection model"),
])
def test_bad_optimizer_settings_fail_before_any_call(sample_project, scripted_connect, optimizer, params, message):
    scripted = scripted_connect()
    with pytest.raises(OptimizerError, match=message):
        CompileJob(sample_project, CompileSettings(optimizer, params)).prepare()
    assert scripted.calls == 0


def test_unknown_model_profile_names_the_known_ones(sample_project):
    with pytest.raises(WorkbenchError, match="no model profile named 'gpt9'.*embedded"):
        CompileJob(sample_project, CompileSettings("labeled-fewshot", profile="gpt9")).prepare()


def test_a_missing_model_file_says_how_to_install_it(sample_project, monkeypatch, tmp_path):
    monkeypatch.setenv("DSPY_WORKBENCH_GGUF", str(tmp_path / "nope.gguf"))
    with pytest.raises(WorkbenchError, match="not a file"):
        CompileJob(sample_project, CompileSettings("labeled-fewshot")).prepare()


def test_a_limit_takes_a_stable_spread_of_the_split_not_its_first_rows(sample_project):
    first = [e.example_id for e in sample_project.examples("test")[:12]]
    limited = [e.example_id for e in sample_project.examples("test", 12)]
    assert len(limited) == 12 and limited != first
    assert limited == [e.example_id for e in sample_project.examples("test", 12)]
    assert len({tag for e in sample_project.examples("test", 12) for tag in e.slices}) >= 4


def test_dspy_warnings_reach_the_run_log_but_its_proposers_extra_inputs_do_not():
    import logging

    from engine.jobs.compile import _EventLogHandler
    from engine.jobs.events import LogLine

    lines = []
    handler = _EventLogHandler(lines.append)
    predict_log = logging.getLogger("dspy.predict.predict")
    predict_log.addHandler(handler)
    try:
        predict_log.warning("Input contains fields not in signature. These fields will be ignored: ['tip'].")
        predict_log.warning("Not all input fields were provided to module. Present: []. Missing: ['text'].")
    finally:
        predict_log.removeHandler(handler)
    assert lines == [LogLine("Not all input fields were provided to module. Present: []. Missing: ['text'].",
                             "warning")]


def test_compact_runs_calibrate_choice_scoring_on_training_inputs_only(sample_project, scripted_connect):
    from engine.adapters import CALIBRATION_ROWS
    from engine.jobs.evaluate import EvaluateJob, EvaluateSettings

    scripted_connect()
    train = sample_project.frame[sample_project.frame["split"] == "train"]
    inputs = sample_project.program.input_names
    known = {tuple(row) for row in train[inputs].itertuples(index=False)}
    compile_job = CompileJob(sample_project, CompileSettings(optimizer="labeled-fewshot", limit=10))
    _, _, connected, _ = EvaluateJob(sample_project, EvaluateSettings(split="test", limit=5)).prepare()
    compiled_with = compile_job.prepare().connected.adapter.calibration_inputs
    assert connected.adapter.calibration_inputs == compiled_with  # whatever either run's limit
    for rows in (compiled_with,):
        assert len(rows) == min(CALIBRATION_ROWS, len(train))
        assert all(set(row) == set(inputs) for row in rows)  # inputs only: no label
        assert {tuple(row[n] for n in inputs) for row in rows} <= known


@pytest.mark.parametrize("max_errors", [1000, None])  # Evaluate scores the failures 0.0 / raises
def test_a_trial_whose_lm_calls_all_failed_is_recorded_as_failed_not_as_a_zero_score(
        sample_project, scripted_connect, max_errors):
    from engine.lms.errors import ModelCallError

    scripted = scripted_connect()

    def server_error(messages):
        raise ModelCallError("the server answered 500 Internal Server Error", kind="server", status=500)

    scripted.lm._engine_spec._complete_messages = server_error
    events = []
    params = {"num_candidate_programs": 1, **({"max_errors": max_errors} if max_errors else {})}
    _, record = run_job(sample_project, events, optimizer="bootstrap-rs", params=params, limit=6)
    trials = sample_project.store.trials(record.run_id)
    assert trials and [e.index for e in events if isinstance(e, TrialFinished)] == [t.index for t in trials]
    for trial in trials:
        assert trial.score is None
        assert "500 Internal Server Error" in trial.detail["failed"]
    assert record.status == "failed" and record.events_summary["failed_trials"] == len(trials)
    assert record.events_summary["best_trial_score"] is None
