import re
import sqlite3
import threading
from datetime import datetime, timezone

import pytest

from engine import store as store_module
from engine.errors import RunNotFound, WorkbenchError
from engine.store import (
    DB_FILENAME,
    EvaluationRecord,
    Review,
    RunRecord,
    RunStore,
    TrialRecord,
)


def make_run(run_id="r20250101-000000-aaaa", **overrides) -> RunRecord:
    values = dict(
        run_id=run_id,
        created_at="2025-01-01T00:00:00.000000+00:00",
        finished_at=None,
        status="running",
        optimizer="MIPROv2",
        params={"num_trials": 8, "auto": None},
        seed=7,
        profile="local-smollm2",
        provider="llama_cpp",
        model_name="SmolLM2-135M-Instruct",
        model_revision="q8_0-abc123",
        model_details={"context": 8192},
        adapter_format="chat",
        program_fingerprint="fp-1",
        program_spec={"modules": [{"name": "answer", "signature": "question -> answer"}]},
        metric={"kind": "exact_match", "field": "answer"},
        split_hashes={"train": "h1", "validation": "h2", "test": "h3"},
    )
    values.update(overrides)
    return RunRecord(**values)


def make_trial(run_id, index, score=0.5) -> TrialRecord:
    return TrialRecord(run_id=run_id, index=index, score=score, detail={"params": {"i": index}},
                       at="2025-01-01T00:01:00+00:00")


def make_eval(run_id, which="candidate", split="validation", score=0.6) -> EvaluationRecord:
    return EvaluationRecord(run_id=run_id, which=which, split=split, n=50, score=score, ci95=(0.45, 0.73),
                            per_slice={"lang": {"en": 0.7, "fr": 0.5}}, parse_failures=2, details={"k": [1, 2]})


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path)


def user_version(path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


# --------------------------------------------------------------------------- opening the file


def test_store_on_project_folder_creates_runs_sqlite_in_wal_mode_at_latest_version(tmp_path):
    store = RunStore(tmp_path)
    assert store.path == tmp_path / DB_FILENAME
    assert store.path.is_file()
    assert user_version(store.path) == len(store_module.MIGRATIONS)
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_store_in_missing_folder_is_a_workbench_error_naming_the_folder(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(WorkbenchError, match="nope"):
        RunStore(missing / DB_FILENAME)
    assert not missing.exists()


def test_file_that_is_not_a_database_is_a_workbench_error_and_left_alone(tmp_path):
    path = tmp_path / DB_FILENAME
    path.write_bytes(b"this is not sqlite " * 100)
    with pytest.raises(WorkbenchError, match="move the file aside"):
        RunStore(tmp_path)
    assert path.read_bytes() == b"this is not sqlite " * 100


# --------------------------------------------------------------------------- runs


def test_created_run_reads_back_equal_including_nested_json(store):
    record = make_run(
        status="succeeded",
        scores={"validation": {"baseline": 0.4, "candidate": 0.6}, "test": {"candidate": [0.5, 0.7]}},
        tokens={"prompt": 1200, "completion": 300},
        cost_usd=0.0,
        program_state={"answer": {"demos": [{"question": "2+2", "answer": "4"}], "instructions": "Be brief."}},
        review=Review(decision="approved", note="ok", reviewer="ana", at="2025-01-02T00:00:00+00:00"),
        library_versions={"dspy": "3.4.1"},
    )
    store.create_run(record)
    assert store.get_run(record.run_id) == record
    # A new store (a new process) sees the same thing.
    assert RunStore(store.path).get_run(record.run_id) == record


def test_create_run_refuses_an_id_already_in_the_history(store):
    store.create_run(make_run())
    with pytest.raises(WorkbenchError, match="already in this project's history"):
        store.create_run(make_run(optimizer="Other"))
    assert store.get_run(make_run().run_id).optimizer == "MIPROv2"


def test_update_run_changes_only_the_given_fields_and_persists(store):
    original = make_run(program_state={"p": 1})
    store.create_run(original)
    updated = store.update_run(
        original.run_id, status="succeeded", finished_at="2025-01-01T00:10:00+00:00", lm_calls=42,
        scores={"validation": {"candidate": 0.9}},
    )
    expected = original.model_copy(update=dict(
        status="succeeded", finished_at="2025-01-01T00:10:00+00:00", lm_calls=42,
        scores={"validation": {"candidate": 0.9}},
    ))
    assert updated == expected
    assert store.get_run(original.run_id) == expected
    assert store.list_runs(status="succeeded")[0].run_id == original.run_id  # the real column changed too


def test_update_run_can_set_and_clear_program_state(store):
    store.create_run(make_run())
    assert store.update_run(make_run().run_id, program_state={"a": [1, 2]}).program_state == {"a": [1, 2]}
    assert store.get_run(make_run().run_id).program_state == {"a": [1, 2]}
    store.update_run(make_run().run_id, program_state=None)
    assert store.get_run(make_run().run_id).program_state is None


def test_update_run_rejects_unknown_field_and_invalid_value_without_changing_anything(store):
    original = make_run()
    store.create_run(original)
    with pytest.raises(ValueError, match="no field"):
        store.update_run(original.run_id, status="succeeded", lm_callz=3)
    with pytest.raises(ValueError):
        store.update_run(original.run_id, status="exploded")
    with pytest.raises(ValueError):
        store.update_run(original.run_id, run_id="r-other")
    assert store.get_run(original.run_id) == original


def test_update_run_keeps_data_keys_this_version_does_not_know(store):
    # A newer release may add a RunRecord field without a schema change; an older one must not erase it.
    store.create_run(make_run())
    conn = sqlite3.connect(store.path)
    with conn:
        conn.execute("UPDATE runs SET data = json_set(data, '$.future_field', 'keep me')")
    conn.close()
    assert store.get_run(make_run().run_id).lm_calls == 0
    store.update_run(make_run().run_id, lm_calls=5)
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT json_extract(data, '$.future_field') FROM runs").fetchone()[0] == "keep me"
    conn.close()


def test_unknown_run_error_names_the_run_and_the_list_command(store, tmp_path):
    expected = f"run r-missing is not in this project's history; `dspy-workbench runs list {tmp_path}` shows the runs"
    for call in (
        lambda: store.get_run("r-missing"),
        lambda: store.update_run("r-missing", lm_calls=1),
        lambda: store.delete_run("r-missing"),
        lambda: store.set_review("r-missing", "approved"),
        lambda: store.add_trial(make_trial("r-missing", 0)),
        lambda: store.trials("r-missing"),
        lambda: store.add_evaluation(make_eval("r-missing")),
        lambda: store.evaluations("r-missing"),
    ):
        with pytest.raises(RunNotFound) as caught:
            call()
        assert str(caught.value) == expected


def test_new_run_id_is_r_utc_stamp_and_four_hex_digits(store):
    run_id = store.new_run_id()
    assert re.fullmatch(r"r\d{8}-\d{6}-[0-9a-f]{4}", run_id)
    stamp = datetime.strptime(run_id[1:16], "%Y%m%d-%H%M%S").replace(tzinfo=timezone.utc)
    assert abs((datetime.now(timezone.utc) - stamp).total_seconds()) < 5


def test_new_run_id_skips_an_id_already_used(store, monkeypatch):
    monkeypatch.setattr(store_module, "_utcnow", lambda: datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc))
    draws = iter(["abcd", "abcd", "beef"])
    monkeypatch.setattr(store_module.secrets, "token_hex", lambda nbytes: next(draws))
    store.create_run(make_run("r20250304-050607-abcd"))
    assert store.new_run_id() == "r20250304-050607-beef"


def test_list_runs_is_newest_first_and_filters_combine(store):
    runs = [
        make_run("r1", created_at="2025-01-01T00:00:00.000000+00:00", optimizer="MIPROv2", model_revision="a",
                 status="succeeded"),
        make_run("r2", created_at="2025-01-03T00:00:00.000000+00:00", optimizer="GEPA", model_revision="a",
                 status="failed"),
        make_run("r3", created_at="2025-01-02T00:00:00.000000+00:00", optimizer="MIPROv2", model_revision="b",
                 status="succeeded"),
        make_run("r4", created_at="2025-01-04T00:00:00.000000+00:00", optimizer="MIPROv2", model_revision="a",
                 status="running"),
    ]
    for run in runs:
        store.create_run(run)

    def ids(**filters):
        return [run.run_id for run in store.list_runs(**filters)]

    assert ids() == ["r4", "r2", "r3", "r1"]
    assert ids(optimizer="MIPROv2") == ["r4", "r3", "r1"]
    assert ids(model_revision="a") == ["r4", "r2", "r1"]
    assert ids(status="succeeded") == ["r3", "r1"]
    assert ids(optimizer="MIPROv2", model_revision="a", status="succeeded") == ["r1"]
    assert ids(optimizer="nobody") == []
    assert ids(limit=2) == ["r4", "r2"]
    assert ids(optimizer="MIPROv2", limit=1) == ["r4"]
    assert ids(limit=0) == []


def test_list_runs_leaves_out_program_state_which_get_run_returns(store):
    record = make_run(status="succeeded", program_state={"big": ["x" * 1000] * 100})
    store.create_run(record)
    [listed] = store.list_runs()
    assert listed.program_state is None
    assert listed == record.model_copy(update={"program_state": None})
    assert store.get_run(record.run_id).program_state == record.program_state


def test_list_runs_stays_fast_with_thousands_of_runs(store):
    conn = sqlite3.connect(store.path)
    template = store._columns(make_run(program_state={"demos": ["x" * 2000] * 50}))
    rows = []
    for i in range(3000):
        row = dict(template, run_id=f"r{i:05d}", created_at=f"2025-01-01T00:00:00.{i:06d}+00:00",
                   optimizer="GEPA" if i % 3 else "MIPROv2")
        rows.append(tuple(row.values()))
    with conn:
        conn.executemany(f"INSERT INTO runs ({', '.join(template)}) VALUES ({', '.join('?' * len(template))})", rows)
    conn.close()
    listed = store.list_runs()  # speed is for bench/, not a test: this checks order and filters at scale
    assert len(listed) == 3000 and listed[0].run_id == "r02999"
    assert [run.run_id for run in store.list_runs(optimizer="MIPROv2", limit=2)] == ["r02997", "r02994"]


def test_delete_run_removes_it_with_its_trials_and_evaluations(store):
    store.create_run(make_run("r-keep"))
    store.create_run(make_run("r-gone"))
    for run_id in ("r-keep", "r-gone"):
        store.add_trial(make_trial(run_id, 0))
        store.add_evaluation(make_eval(run_id))
    store.delete_run("r-gone")
    with pytest.raises(RunNotFound):
        store.get_run("r-gone")
    assert [run.run_id for run in store.list_runs()] == ["r-keep"]
    assert len(store.trials("r-keep")) == 1 and len(store.evaluations("r-keep")) == 1
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT COUNT(*) FROM trials WHERE run_id = 'r-gone'").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM evaluations WHERE run_id = 'r-gone'").fetchone()[0] == 0
    conn.close()


# --------------------------------------------------------------------------- interrupted runs


def test_reopening_with_mark_interrupted_turns_running_runs_into_interrupted(tmp_path):
    store = RunStore(tmp_path)
    store.create_run(make_run("r-a", status="running"))
    store.create_run(make_run("r-b", status="succeeded"))
    store.create_run(make_run("r-c", status="running", created_at="2025-01-05T00:00:00.000000+00:00"))
    store.create_run(make_run("r-d", status="failed"))

    assert RunStore(tmp_path).interrupted_on_open == []  # without the flag nothing changes
    assert store.get_run("r-a").status == "running"

    reopened = RunStore(tmp_path, mark_interrupted=True)
    assert reopened.interrupted_on_open == ["r-a", "r-c"]
    statuses = {run.run_id: run.status for run in reopened.list_runs()}
    assert statuses == {"r-a": "interrupted", "r-b": "succeeded", "r-c": "interrupted", "r-d": "failed"}
    assert [run.run_id for run in reopened.list_runs(status="interrupted")] == ["r-c", "r-a"]
    assert store.get_run("r-a").model_dump(exclude={"status"}) == make_run("r-a").model_dump(exclude={"status"})

    assert RunStore(tmp_path, mark_interrupted=True).interrupted_on_open == []


# --------------------------------------------------------------------------- trials and evaluations


def test_trials_come_back_in_index_order_and_a_repeated_index_is_refused(store):
    store.create_run(make_run())
    run_id = make_run().run_id
    assert store.trials(run_id) == []
    for index in (2, 0, 1):
        store.add_trial(make_trial(run_id, index, score=None if index == 1 else index / 10))
    trials = store.trials(run_id)
    assert [t.index for t in trials] == [0, 1, 2]
    assert trials[1].score is None and trials[2].score == 0.2
    assert trials[0] == make_trial(run_id, 0, score=0.0)
    with pytest.raises(ValueError, match="trial 2 .* already recorded"):
        store.add_trial(make_trial(run_id, 2))
    assert len(store.trials(run_id)) == 3


def test_a_trial_and_the_run_figures_it_brings_are_written_in_one_transaction(store):
    store.create_run(make_run())
    run_id = make_run().run_id
    store.add_trial(make_trial(run_id, 0, score=0.5), lm_calls=12, program_state={"p": {"demos": [1]}})
    record = store.get_run(run_id)
    assert [t.index for t in store.trials(run_id)] == [0]
    assert record.lm_calls == 12 and record.program_state == {"p": {"demos": [1]}}
    with pytest.raises(ValueError):  # an invalid figure: neither the trial nor the figures are written
        store.add_trial(make_trial(run_id, 1, score=0.7), lm_calls="many")
    assert [t.index for t in store.trials(run_id)] == [0] and store.get_run(run_id).lm_calls == 12


def test_evaluation_is_one_per_run_which_and_split_and_a_new_one_replaces_it(store):
    store.create_run(make_run())
    run_id = make_run().run_id
    assert store.evaluations(run_id) == []
    store.add_evaluation(make_eval(run_id, "candidate", "validation", score=0.6))
    store.add_evaluation(make_eval(run_id, "baseline", "validation", score=0.4))
    store.add_evaluation(make_eval(run_id, "candidate", "test", score=0.55))
    store.add_evaluation(make_eval(run_id, "candidate", "validation", score=0.65))

    evaluations = store.evaluations(run_id)
    assert [(e.split, e.which, e.score) for e in evaluations] == [
        ("test", "candidate", 0.55),
        ("validation", "baseline", 0.4),
        ("validation", "candidate", 0.65),
    ]
    assert evaluations[2] == make_eval(run_id, "candidate", "validation", score=0.65)
    assert evaluations[2].ci95 == (0.45, 0.73)


# --------------------------------------------------------------------------- review


@pytest.mark.parametrize("status", ["succeeded", "cancelled", "stopped_by_budget"])
def test_review_is_recorded_for_a_finished_run_with_a_program(store, status):
    store.create_run(make_run(status=status, program_state={"p": 1}))
    run_id = make_run().run_id
    updated = store.set_review(run_id, "approved", note="good on French", reviewer="ana")
    assert updated.review.decision == "approved"
    assert (updated.review.note, updated.review.reviewer) == ("good on French", "ana")
    at = datetime.fromisoformat(updated.review.at)
    assert at.utcoffset().total_seconds() == 0
    assert abs((datetime.now(timezone.utc) - at).total_seconds()) < 5
    assert store.get_run(run_id) == updated
    assert updated.program_state == {"p": 1}

    again = store.set_review(run_id, "rejected")  # a second review replaces the first
    assert store.get_run(run_id).review == again.review
    assert (again.review.decision, again.review.note) == ("rejected", "")


@pytest.mark.parametrize("status", ["running", "failed", "interrupted"])
def test_review_is_refused_for_a_run_that_did_not_finish_well(store, status):
    store.create_run(make_run(status=status, program_state={"p": 1}))
    with pytest.raises(WorkbenchError, match=f"is {status}; only a run that succeeded"):
        store.set_review(make_run().run_id, "approved")
    assert store.get_run(make_run().run_id).review is None


def test_review_is_refused_for_a_run_without_a_program(store):
    store.create_run(make_run(status="succeeded", program_state=None))
    with pytest.raises(WorkbenchError, match="no optimized program"):
        store.set_review(make_run().run_id, "approved")
    assert store.get_run(make_run().run_id).review is None


def test_review_decision_must_be_approved_or_rejected(store):
    store.create_run(make_run(status="succeeded", program_state={"p": 1}))
    with pytest.raises(WorkbenchError, match="'approved' or 'rejected'"):
        store.set_review(make_run().run_id, "maybe")
    assert store.get_run(make_run().run_id).review is None


# --------------------------------------------------------------------------- concurrency


def test_trials_written_from_8_threads_at_once_are_all_kept(store):
    run_ids = [f"r-{n}" for n in range(8)]
    for run_id in ["r-shared", *run_ids]:
        store.create_run(make_run(run_id))
    per_thread = 40
    barrier = threading.Barrier(9)
    errors = []

    def writer(worker):
        try:
            barrier.wait()
            for i in range(per_thread):
                # Every thread writes to a shared run and to its own run, and updates its own run.
                store.add_trial(make_trial("r-shared", worker * per_thread + i))
                store.add_trial(make_trial(run_ids[worker], i))
                store.update_run(run_ids[worker], lm_calls=i + 1)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def reader():  # the GUI thread, refreshing its list meanwhile
        try:
            barrier.wait()
            for _ in range(30):
                store.list_runs()
                store.trials("r-shared")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)] + [threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert [t.index for t in store.trials("r-shared")] == list(range(8 * per_thread))
    for run_id in run_ids:
        assert [t.index for t in store.trials(run_id)] == list(range(per_thread))
        assert store.get_run(run_id).lm_calls == per_thread


# --------------------------------------------------------------------------- migrations


def test_opening_an_older_file_applies_the_new_migration_once_and_keeps_the_data(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    store.create_run(make_run(status="succeeded"))
    assert user_version(store.path) == 1

    applied = []

    def fake_v2(conn):
        applied.append(1)
        conn.execute("ALTER TABLE runs ADD COLUMN tag TEXT")
        conn.execute("UPDATE runs SET tag = 'migrated'")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, fake_v2])
    migrated = RunStore(tmp_path)
    assert applied == [1]
    assert user_version(store.path) == 2
    assert migrated.get_run(make_run().run_id) == make_run(status="succeeded")
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT tag FROM runs").fetchone()[0] == "migrated"
    conn.close()

    RunStore(tmp_path)
    assert applied == [1]  # already at version 2: nothing to do


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    RunStore(tmp_path).create_run(make_run())

    def broken_v2(conn):
        conn.execute("ALTER TABLE runs ADD COLUMN tag TEXT")
        conn.execute("DROP TABLE trials")
        raise RuntimeError("bug in migration")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, broken_v2])
    with pytest.raises(RuntimeError, match="bug in migration"):
        RunStore(tmp_path)
    assert user_version(tmp_path / DB_FILENAME) == 1
    monkeypatch.undo()
    store = RunStore(tmp_path)
    assert store.get_run(make_run().run_id) == make_run()
    assert store.trials(make_run().run_id) == []
    conn = sqlite3.connect(store.path)
    assert "tag" not in [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
    conn.close()


def test_a_file_from_a_newer_schema_is_refused_with_advice_to_upgrade(tmp_path):
    RunStore(tmp_path).create_run(make_run())
    path = tmp_path / DB_FILENAME
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(WorkbenchError, match="upgrade DSPy Workbench") as caught:
        RunStore(tmp_path, mark_interrupted=True)
    assert "99" in str(caught.value) and str(path) in str(caught.value)
    assert user_version(path) == 99
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT status FROM runs").fetchone()[0] == "running"  # not marked interrupted
    conn.close()


def test_a_run_whose_process_is_alive_is_not_marked_interrupted(tmp_path):
    import os
    import socket

    from engine.store import RunStore, run_owner

    store = RunStore(tmp_path / "runs.sqlite")
    store.create_run(make_run("r-alive", events_summary={"owner": run_owner()}))
    store.create_run(make_run("r-dead", events_summary={"owner": {"pid": 2**22 + 12345, "host": socket.gethostname()}}))
    reopened = RunStore(tmp_path / "runs.sqlite", mark_interrupted=True)
    assert reopened.interrupted_on_open == ["r-dead"]
    assert reopened.get_run("r-alive").status == "running"
    assert os.getpid() == run_owner()["pid"]
