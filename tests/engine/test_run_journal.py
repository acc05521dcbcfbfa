"""A compile's history is written as it runs: a killed process keeps its trials, calls and best candidate."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.jobs.compile import CompileJob, CompileSettings
from engine.jobs.events import LMCallFinished, TrialFinished
from engine.project import Project
from engine.reports import run_report
from engine.store import RunStore

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "engine" / "scripted_cli.py"


def _trials_in_history(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM trials").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def _start_compile(project_dir: Path, calls: Path, tmp_path: Path) -> subprocess.Popen:
    args = [sys.executable, str(SCRIPT), str(calls), "0.03", "--", "compile", str(project_dir),
            "--optimizer", "bootstrap-rs", "--param", "num_candidate_programs=8", "--limit", "10"]
    return subprocess.Popen(args, cwd=ROOT, stdout=(tmp_path / "out").open("w"),
                            stderr=(tmp_path / "err").open("w"), env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGINT", "SIGTERM"])
def test_a_compile_stopped_by_a_signal_keeps_its_trials_calls_and_best_candidate(tmp_path, capsys, signal_name):
    project_dir = Project.create(tmp_path / "triage", sample="support-triage").root
    calls = tmp_path / "calls"
    process = _start_compile(project_dir, calls, tmp_path)
    try:
        deadline = time.monotonic() + 180
        while _trials_in_history(project_dir / "runs.sqlite") < 2:
            assert process.poll() is None, (tmp_path / "err").read_text()
            assert time.monotonic() < deadline, "no trials reached the history in time"
            time.sleep(0.05)
        process.send_signal(getattr(signal, signal_name))
        code = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    made = len(calls.read_text().splitlines())

    project = Project.open(project_dir)  # how the app and the CLI open it: a dead run is marked interrupted
    [listed] = project.store.list_runs()
    record = project.store.get_run(listed.run_id)
    trials = project.store.trials(record.run_id)
    validation_size = 10
    assert len(trials) >= 2
    assert 0 < record.lm_calls <= made
    # each trial's validation calls are counted with it (real, or answered from the LM cache)
    assert record.lm_calls + record.cached_calls >= validation_size * len(trials)
    assert record.elapsed_s > 0
    scored = [t.score for t in trials if t.detail["kind"] == "validation" and t.score is not None]
    assert record.events_summary["best_trial_score"] == pytest.approx(max(scored))
    assert record.program_state is not None  # the best candidate so far
    report = run_report(project, record)
    assert report["lm_calls"] == record.lm_calls and report["trials"] == len(trials)
    if signal_name == "SIGKILL":
        assert code == -signal.SIGKILL
        assert record.status == "interrupted" and listed.status == "interrupted"
        assert "process ended" in report["error"] and f"{max(scored):.3f}" in report["error"]
        from engine.cli.main import main

        capsys.readouterr()
        assert main(["runs", "list", str(project_dir)]) == 0
        assert main(["runs", "show", str(project_dir), record.run_id]) == 0
        shown = capsys.readouterr().out
        assert "interrupted" in shown and f"{record.lm_calls} calls" in shown
        assert f"trials: {len(trials)}" in shown and f"best {max(scored):.3f} on validation" in shown
        assert f"{record.lm_calls} LM calls" in shown and "instructions:" in shown  # the best candidate
    elif signal_name == "SIGINT":  # Ctrl-C: the run ends itself, counting the call in flight
        assert code == 130
        assert record.status == "cancelled" and record.lm_calls == made
        assert "kept the best candidate so far" in record.error
    else:  # handled like Ctrl-C where the CLI turns SIGTERM into it; else the default kill
        assert record.status in ("cancelled", "interrupted")


def test_trials_and_counts_are_in_the_history_while_the_run_is_still_going(sample_project, scripted_connect):
    scripted_connect(rules={"refund": {"urgency": "medium"}}, default={"urgency": "low"})
    seen = []

    def sink(event):
        if isinstance(event, TrialFinished) and job.run_id:
            record = sample_project.store.get_run(job.run_id)
            seen.append((event.index, len(sample_project.store.trials(job.run_id)),
                         record.lm_calls + record.cached_calls, record.status, record.program_state is not None))

    job = CompileJob(sample_project, CompileSettings("bootstrap-rs", {"num_candidate_programs": 2}, limit=6),
                     sink=sink)
    final = job.run()
    assert final.status == "succeeded" and len(seen) >= 3
    for index, stored_trials, calls, status, has_best in seen:
        assert stored_trials == index and status == "running" and has_best
        assert calls >= 6 * index  # each trial's validation calls (real or cached) are counted with it
    assert len(sample_project.store.trials(final.run_id)) == len(seen)  # nothing written twice


def test_lm_call_counts_are_written_at_most_once_per_interval(sample_project, scripted_connect, monkeypatch):
    from engine.jobs import journal

    monkeypatch.setattr(journal, "COUNTS_INTERVAL_S", 5.0)

    class CountingStore(RunStore):
        updates = 0

        def update_run(self, run_id, /, **fields):
            CountingStore.updates += 1
            return super().update_run(run_id, **fields)

    scripted_connect()
    sample_project._store = CountingStore(sample_project.root)
    events = []
    job = CompileJob(sample_project, CompileSettings("labeled-fewshot", {"k": 2}, limit=15), sink=events.append)
    started = time.monotonic()
    record = job.run()
    elapsed = time.monotonic() - started
    calls = [e for e in events if isinstance(e, LMCallFinished)]
    assert record.lm_calls == len(calls) == 60
    stage_writes = 1 + 4 + 1  # the candidate, four evaluations, the final record
    assert CountingStore.updates <= stage_writes + elapsed / 5.0 + 1
    assert CountingStore.updates < len(calls) / 2  # not one write per call


def test_a_run_killed_before_its_first_call_says_it_cost_nothing_on_a_free_model(sample_project, scripted_connect):
    from engine.jobs.events import StageStarted

    scripted_connect()
    at_start = []

    def sink(event):
        if isinstance(event, StageStarted) and event.stage == "compile":
            at_start.append(sample_project.store.get_run(job.run_id))

    job = CompileJob(sample_project, CompileSettings("labeled-fewshot", {"k": 1}, limit=3), sink=sink)
    job.run()
    [record] = at_start
    assert record.status == "running" and record.lm_calls == 0 and record.cost_usd == 0.0
