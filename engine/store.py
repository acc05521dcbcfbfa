"""The project's run history: one SQLite file, `runs.sqlite`, in the project folder.

Worker threads (a running optimization) and the GUI thread use the store at the same time, so
every operation opens its own short-lived connection: nothing is shared between threads but the
file path. The database runs in WAL mode (readers never block the writer) with a busy timeout,
and every write is one `BEGIN IMMEDIATE` transaction, so a read-modify-write such as
`update_run` cannot lose a concurrent change.

Layout. The `runs` table has real, indexed columns for what lists filter and sort on (`status`,
`optimizer`, `model_revision`, `created_at`), the rest of a `RunRecord` as one JSON object in
`data`, and the optimized program in its own `program_state` column, the last one, which only
`get_run`, `update_run` and `set_review` read. `list_runs` therefore stays fast with thousands
of runs, and the records it returns have `program_state=None` whatever is stored: call
`get_run` for the program. Trials and evaluations have their own tables. JSON is written with
sorted keys.

Schema versions. `PRAGMA user_version` holds the schema version; `MIGRATIONS[i]` takes a
database from version `i` to `i + 1`. To change the schema, append one function to
`MIGRATIONS`; opening an older file applies the missing ones in order, in one transaction (a
failure leaves the file as it was). A migration must use `conn.execute` only: `executescript`
would commit the transaction half way. A file from a newer DSPy Workbench is refused with a
`WorkbenchError`, never modified.
"""

from __future__ import annotations

import json
import os
import socket
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.errors import RunNotFound, WorkbenchError

__all__ = [
    "DB_FILENAME",
    "MIGRATIONS",
    "REVIEWABLE_STATUSES",
    "EvaluationRecord",
    "Review",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "TrialRecord",
    "utc_now",
]

DB_FILENAME = "runs.sqlite"
BUSY_TIMEOUT_S = 30.0

RunStatus = Literal["running", "succeeded", "failed", "cancelled", "stopped_by_budget", "interrupted"]

# A run can be reviewed only if it ended with a program worth looking at.
REVIEWABLE_STATUSES: tuple[str, ...] = ("succeeded", "cancelled", "stopped_by_budget")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def utc_now() -> str:
    """The current time as ISO-8601 UTC, e.g. `2025-01-31T09:15:02.123456+00:00`.

    `list_runs` orders by the `created_at` text, so runs should be stamped with this function.
    """
    return _utcnow().isoformat(timespec="microseconds")


# --------------------------------------------------------------------------------------- records


class _Record(BaseModel):
    # A misspelt field is a bug to report, not a value to drop silently.
    model_config = ConfigDict(extra="forbid")


class Review(_Record):
    decision: Literal["approved", "rejected"]
    note: str = ""
    reviewer: str = ""
    at: str  # ISO-8601 UTC


class RunRecord(_Record):
    run_id: str
    created_at: str
    finished_at: str | None
    status: RunStatus
    optimizer: str
    params: dict
    seed: int
    profile: str
    provider: str
    model_name: str
    model_revision: str
    model_details: dict = Field(default_factory=dict)
    adapter_format: str
    adapter_revision: str = ""  # engine.adapters.format_revision at compile time; "" in runs from before it existed
    program_fingerprint: str
    program_spec: dict
    metric: dict
    split_hashes: dict
    scores: dict = Field(default_factory=dict)  # free-form: validation/test, baseline/candidate...
    lm_calls: int = 0
    cached_calls: int = 0
    tokens: dict = Field(default_factory=lambda: {"prompt": 0, "completion": 0})
    cost_usd: float | None = None
    elapsed_s: float = 0.0
    events_summary: dict = Field(default_factory=dict)
    program_state: dict | None = None  # None in records from `list_runs`; see the module doc
    error: str | None = None
    review: Review | None = None
    library_versions: dict = Field(default_factory=dict)


class TrialRecord(_Record):
    run_id: str
    index: int
    score: float | None
    detail: dict
    at: str


class EvaluationRecord(_Record):
    run_id: str
    which: Literal["baseline", "candidate"]
    split: str
    n: int
    score: float
    ci95: tuple[float, float]
    per_slice: dict
    parse_failures: int
    details: dict = Field(default_factory=dict)


# Fields of RunRecord stored as real columns of `runs`; everything else but program_state is in `data`.
_RUN_COLUMNS = ("run_id", "created_at", "finished_at", "status", "optimizer", "model_revision")
_RUN_FIELDS = frozenset(RunRecord.model_fields)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def run_owner() -> dict:
    """Who is running a run: stored on a running record so another process can tell it is alive."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def _owner_alive(owner: dict | None) -> bool:
    if not owner or owner.get("host") != socket.gethostname():
        return False  # unknown or another machine: a run found `running` on open was interrupted
    try:
        os.kill(int(owner["pid"]), 0)
    except (ProcessLookupError, ValueError, TypeError, KeyError):
        return False
    except PermissionError:
        return True  # the process exists but belongs to someone else
    return True


# ------------------------------------------------------------------------------------ migrations


def _migrate_to_v1(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE runs (
            run_id         TEXT PRIMARY KEY,
            created_at     TEXT NOT NULL,
            finished_at    TEXT,
            status         TEXT NOT NULL,
            optimizer      TEXT NOT NULL,
            model_revision TEXT NOT NULL,
            data           TEXT NOT NULL,  -- JSON: the other RunRecord fields
            program_state  TEXT            -- JSON or NULL; last, so list queries never read it
        )
        """
    )
    # Each index ends with the list order (created_at, run_id), so a filtered, newest-first page
    # with a LIMIT reads only the rows it returns.
    conn.execute("CREATE INDEX runs_created_at ON runs (created_at, run_id)")
    conn.execute("CREATE INDEX runs_status ON runs (status, created_at, run_id)")
    conn.execute("CREATE INDEX runs_optimizer ON runs (optimizer, created_at, run_id)")
    conn.execute("CREATE INDEX runs_model_revision ON runs (model_revision, created_at, run_id)")
    conn.execute(
        """
        CREATE TABLE trials (
            run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
            idx    INTEGER NOT NULL,
            score  REAL,
            detail TEXT NOT NULL,  -- JSON
            at     TEXT NOT NULL,
            PRIMARY KEY (run_id, idx)
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE evaluations (
            run_id         TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
            which          TEXT NOT NULL,
            split          TEXT NOT NULL,
            n              INTEGER NOT NULL,
            score          REAL NOT NULL,
            ci_low         REAL NOT NULL,
            ci_high        REAL NOT NULL,
            per_slice      TEXT NOT NULL,  -- JSON
            parse_failures INTEGER NOT NULL,
            details        TEXT NOT NULL,  -- JSON
            PRIMARY KEY (run_id, which, split)
        )
        """
    )


# MIGRATIONS[i] takes the schema from version i to i + 1. Append only; never edit a released one.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migrate_to_v1]


def _is_read_only_error(exc: sqlite3.DatabaseError) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")) or "readonly" in str(exc)


def _latest_version() -> int:
    return len(MIGRATIONS)  # looked up at call time, so tests can monkeypatch the list


# ----------------------------------------------------------------------------------------- store


class RunStore:
    """The run history of one project. Safe to share between threads; holds no open connection.

    `path` is the project folder (the file is `runs.sqlite` inside it) or the database file.
    With `mark_interrupted=True` every run still `running` becomes `interrupted`: the app opens
    the store this way at start-up, when no run of its own can be running, so a run whose process
    crashed or was killed shows as interrupted instead of running forever. The ids it changed
    are in `interrupted_on_open` (empty otherwise).
    """

    def __init__(self, path: str | os.PathLike, *, mark_interrupted: bool = False):
        given = Path(path)
        self.path = given / DB_FILENAME if given.is_dir() else given
        self.project_dir = self.path.parent
        self.interrupted_on_open: list[str] = []
        if not self.project_dir.is_dir():
            raise WorkbenchError(
                f"cannot open the run history {self.path}: the folder {self.project_dir} does not exist; "
                "check the project path"
            )
        self._read_only_uri: str | None = None  # set when the history can only be read (see _open_read_only)
        try:
            self._open()
        except sqlite3.DatabaseError as exc:  # includes OperationalError: locked, read-only, ...
            if not self._open_read_only(exc):
                raise WorkbenchError(self._open_error_message(exc)) from exc
        if mark_interrupted and self._read_only_uri is None:
            self.interrupted_on_open = self._mark_interrupted()

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"

    # -- connections

    def _connection(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; writes say BEGIN IMMEDIATE themselves.
        if self._read_only_uri is not None:
            return self._read_only_connection()
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction holding the write lock from its start (no lock upgrade, no deadlock)."""
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _open(self) -> None:
        conn = self._connection()
        try:
            self._check_not_newer(conn.execute("PRAGMA user_version").fetchone()[0])
            conn.execute("PRAGMA journal_mode = WAL")  # persistent; not allowed inside a transaction
        finally:
            conn.close()
        with self._write() as conn:  # re-read under the lock: another process may have migrated
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            self._check_not_newer(version)
            for target in range(version + 1, _latest_version() + 1):
                MIGRATIONS[target - 1](conn)
                conn.execute(f"PRAGMA user_version = {target}")

    def _open_read_only(self, exc: sqlite3.DatabaseError) -> bool:
        """Open the history for reading only when the folder cannot be written (a read-only mount,
        another user's project): `runs list` and `show` must still work. Writes then fail with
        SQLITE_READONLY, which the CLI explains. False when that is not what went wrong."""
        if os.access(self.project_dir, os.W_OK) and not _is_read_only_error(exc):
            return False
        if not self.path.exists():
            self._read_only_uri = ":memory:"  # no history yet: an empty one, never created on disk
            return True
        from urllib.parse import quote

        base = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        # mode=ro still needs the -shm file of a WAL database; immutable=1 reads the main file
        # alone, which holds every committed run once the last writer has closed.
        for uri in (base, base + "&immutable=1"):
            self._read_only_uri = uri
            try:
                conn = self._read_only_connection()
                try:
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                finally:
                    conn.close()
            except sqlite3.DatabaseError:
                continue
            self._check_not_newer(version)
            if version < _latest_version():
                raise WorkbenchError(
                    f"the run history {self.path} needs upgrading to this version's layout, which needs "
                    "a writable project folder; make the folder writable or copy the project somewhere writable"
                ) from exc
            return True
        self._read_only_uri = None
        return False

    def _read_only_connection(self) -> sqlite3.Connection:
        if self._read_only_uri == ":memory:":
            conn = sqlite3.connect(":memory:", isolation_level=None)
            for migrate in MIGRATIONS:
                migrate(conn)
        else:
            conn = sqlite3.connect(self._read_only_uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA query_only = ON")  # a write is SQLITE_READONLY, even on the empty history
        return conn

    def _open_error_message(self, exc: sqlite3.DatabaseError) -> str:
        name = getattr(exc, "sqlite_errorname", "")
        if name in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            advice = "move the file aside and reopen the project to start a new, empty history"
        elif name in ("SQLITE_BUSY", "SQLITE_LOCKED"):
            advice = "another program is holding it; close that program and try again"
        else:
            advice = "check that the project folder is writable and the disk is not full"
        return f"cannot open the run history {self.path} ({exc}); {advice}"

    def _check_not_newer(self, version: int) -> None:
        if version > _latest_version():
            raise WorkbenchError(
                f"the run history {self.path} was written by a newer DSPy Workbench (schema version "
                f"{version}; this one knows up to {_latest_version()}); upgrade DSPy Workbench to open "
                "this project"
            )

    def _mark_interrupted(self) -> list[str]:
        """Mark runs still `running` whose process is gone; a live compile elsewhere is left alone."""
        with self._write() as conn:
            ids = [
                row["run_id"]
                for row in conn.execute(
                    "SELECT run_id, data FROM runs WHERE status = 'running' ORDER BY created_at, run_id"
                )
                if not _owner_alive(json.loads(row["data"]).get("events_summary", {}).get("owner"))
            ]
            conn.executemany("UPDATE runs SET status = 'interrupted' WHERE run_id = ?", [(i,) for i in ids])
        return ids

    # -- helpers

    def _not_found(self, run_id: str) -> RunNotFound:
        folder = str(self.project_dir)
        if any(ch.isspace() for ch in folder):
            folder = f'"{folder}"'
        return RunNotFound(
            f"run {run_id} is not in this project's history; `dspy-workbench runs list {folder}` shows the runs"
        )

    @staticmethod
    def _exists(conn: sqlite3.Connection, run_id: str) -> bool:
        return conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is not None

    @staticmethod
    def _record_from_row(row: sqlite3.Row, *, program_state: str | None) -> RunRecord:
        data = json.loads(row["data"])
        values = {key: value for key, value in data.items() if key in _RUN_FIELDS}
        values.update({column: row[column] for column in _RUN_COLUMNS})
        values["program_state"] = None if program_state is None else json.loads(program_state)
        return RunRecord.model_validate(values)

    def _load(self, conn: sqlite3.Connection, run_id: str) -> tuple[RunRecord, dict]:
        """The full record (with program_state) and the raw `data` JSON object."""
        row = conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise self._not_found(run_id)
        return self._record_from_row(row, program_state=row["program_state"]), json.loads(row["data"])

    @staticmethod
    def _columns(record: RunRecord, keep: dict | None = None) -> dict[str, Any]:
        dumped = record.model_dump(mode="json")
        data = {key: value for key, value in (keep or {}).items() if key not in _RUN_FIELDS}
        data.update({k: v for k, v in dumped.items() if k not in _RUN_COLUMNS and k != "program_state"})
        columns = {column: dumped[column] for column in _RUN_COLUMNS}
        columns["data"] = _dumps(data)
        state = dumped["program_state"]
        columns["program_state"] = None if state is None else _dumps(state)
        return columns

    # -- runs

    def new_run_id(self) -> str:
        """`r` + UTC `yyyymmdd-HHMMSS` + `-` + 4 hex digits, not yet used in this history."""
        stamp = _utcnow().strftime("%Y%m%d-%H%M%S")
        with self._read() as conn:
            while True:  # 65,536 ids a second; a clash is rare and a retry is cheap
                run_id = f"r{stamp}-{secrets.token_hex(2)}"
                if not self._exists(conn, run_id):
                    return run_id

    def create_run(self, record: RunRecord) -> None:
        columns = self._columns(record)
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        with self._write() as conn:
            if self._exists(conn, record.run_id):
                raise WorkbenchError(
                    f"run {record.run_id} is already in this project's history; start the run with a new id"
                )
            conn.execute(f"INSERT INTO runs ({names}) VALUES ({marks})", tuple(columns.values()))

    def update_run(self, run_id: str, /, **fields: Any) -> RunRecord:
        """Change the given fields, validated as a whole record; return the updated record.

        An unknown field, a new `run_id` or an invalid value raises ValueError (pydantic's
        ValidationError is one) and changes nothing.
        """
        unknown = sorted(set(fields) - _RUN_FIELDS)
        if unknown:
            raise ValueError(f"RunRecord has no field(s) {', '.join(unknown)}")
        if "run_id" in fields and fields["run_id"] != run_id:
            raise ValueError(f"the id of run {run_id} cannot be changed")
        with self._write() as conn:
            current, data = self._load(conn, run_id)
            merged = current.model_dump()
            merged.update(fields)
            updated = RunRecord.model_validate(merged)
            columns = self._columns(updated, keep=data)
            if "program_state" not in fields:
                del columns["program_state"]  # unchanged: do not rewrite a possibly big blob
            assignments = ", ".join(f"{name} = ?" for name in columns if name != "run_id")
            values = [value for name, value in columns.items() if name != "run_id"]
            conn.execute(f"UPDATE runs SET {assignments} WHERE run_id = ?", (*values, run_id))
        return updated

    def get_run(self, run_id: str) -> RunRecord:
        with self._read() as conn:
            return self._load(conn, run_id)[0]

    def list_runs(
        self,
        *,
        optimizer: str | None = None,
        model_revision: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Runs matching every given filter, newest first, with `program_state=None`."""
        where, args = [], []
        for column, value in (("optimizer", optimizer), ("model_revision", model_revision), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = f"SELECT {', '.join(_RUN_COLUMNS)}, data FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, run_id DESC"
        if limit is not None:
            if limit < 0:
                raise ValueError(f"limit must be 0 or more, not {limit}")
            sql += " LIMIT ?"
            args.append(int(limit))
        with self._read() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [self._record_from_row(row, program_state=None) for row in rows]

    def delete_run(self, run_id: str) -> None:
        """Delete the run with its trials and evaluations."""
        with self._write() as conn:
            conn.execute("DELETE FROM trials WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM evaluations WHERE run_id = ?", (run_id,))
            if conn.execute("DELETE FROM runs WHERE run_id = ?", (run_id,)).rowcount == 0:
                raise self._not_found(run_id)

    def set_review(self, run_id: str, decision: str, note: str = "", reviewer: str = "") -> RunRecord:
        """Record (or replace) the human review of a finished run that has a program."""
        if decision not in ("approved", "rejected"):
            raise WorkbenchError(f"a review decision is 'approved' or 'rejected', not {decision!r}")
        with self._write() as conn:
            record, data = self._load(conn, run_id)
            if record.status not in REVIEWABLE_STATUSES:
                raise WorkbenchError(
                    f"run {run_id} is {record.status.replace('_', ' ')}; only a run that succeeded, was "
                    "cancelled or was stopped by its budget can be reviewed"
                )
            if record.program_state is None:
                raise WorkbenchError(
                    f"run {run_id} has no optimized program to review (it ended before producing one); "
                    "review a run that has a program"
                )
            review = Review(decision=decision, note=note, reviewer=reviewer, at=utc_now())
            updated = record.model_copy(update={"review": review})
            columns = self._columns(updated, keep=data)
            conn.execute("UPDATE runs SET data = ? WHERE run_id = ?", (columns["data"], run_id))
        return updated

    # -- trials

    def add_trial(self, trial: TrialRecord) -> None:
        """Record one optimizer trial; its index must be new for the run (ValueError if not)."""
        with self._write() as conn:
            if not self._exists(conn, trial.run_id):
                raise self._not_found(trial.run_id)
            try:
                conn.execute(
                    "INSERT INTO trials (run_id, idx, score, detail, at) VALUES (?, ?, ?, ?, ?)",
                    (trial.run_id, trial.index, trial.score, _dumps(trial.model_dump(mode="json")["detail"]), trial.at),
                )
            except sqlite3.IntegrityError as exc:
                raise ValueError(f"trial {trial.index} of run {trial.run_id} is already recorded") from exc

    def trials(self, run_id: str) -> list[TrialRecord]:
        """The run's trials by index."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT run_id, idx, score, detail, at FROM trials WHERE run_id = ? ORDER BY idx", (run_id,)
            ).fetchall()
            if not rows and not self._exists(conn, run_id):
                raise self._not_found(run_id)
        return [
            TrialRecord(run_id=row["run_id"], index=row["idx"], score=row["score"],
                        detail=json.loads(row["detail"]), at=row["at"])
            for row in rows
        ]

    # -- evaluations

    def add_evaluation(self, ev: EvaluationRecord) -> None:
        """Record an evaluation, replacing any earlier one of the same run, `which` and split."""
        dumped = ev.model_dump(mode="json")
        with self._write() as conn:
            if not self._exists(conn, ev.run_id):
                raise self._not_found(ev.run_id)
            conn.execute(
                """
                INSERT INTO evaluations
                    (run_id, which, split, n, score, ci_low, ci_high, per_slice, parse_failures, details)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (run_id, which, split) DO UPDATE SET
                    n = excluded.n, score = excluded.score, ci_low = excluded.ci_low,
                    ci_high = excluded.ci_high, per_slice = excluded.per_slice,
                    parse_failures = excluded.parse_failures, details = excluded.details
                """,
                (ev.run_id, ev.which, ev.split, ev.n, ev.score, ev.ci95[0], ev.ci95[1],
                 _dumps(dumped["per_slice"]), ev.parse_failures, _dumps(dumped["details"])),
            )

    def evaluations(self, run_id: str) -> list[EvaluationRecord]:
        """The run's evaluations, by split, baseline before candidate."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM evaluations WHERE run_id = ? ORDER BY split, which", (run_id,)
            ).fetchall()
            if not rows and not self._exists(conn, run_id):
                raise self._not_found(run_id)
        return [
            EvaluationRecord(
                run_id=row["run_id"], which=row["which"], split=row["split"], n=row["n"], score=row["score"],
                ci95=(row["ci_low"], row["ci_high"]), per_slice=json.loads(row["per_slice"]),
                parse_failures=row["parse_failures"], details=json.loads(row["details"]),
            )
            for row in rows
        ]
