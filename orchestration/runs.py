"""Run history, stage records, events and schedules in `CRASHES_HOME/ops.sqlite` (and the
tables of orchestration/slots.py: schedule slot claims and scheduler heartbeats).

SQLite, not DuckDB: the scheduler, the CLI, the metrics endpoint and the dashboard all read and
write it at once, and SQLite in WAL mode lets readers and a writer overlap. Every write is one
short transaction, so a process killed mid-run leaves at most a run marked `running`, which the
next run (holding the pipeline lock, so surely alone) marks `interrupted`.

Public API for other packages: `record_event`, `recent_runs`, `stages_for` (and `connect` for
read-only queries of your own).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from crashes.config import get_settings

TRIGGERS = ("cli", "schedule", "dashboard")
RUN_STATUSES = ("running", "succeeded", "failed", "interrupted")
STAGE_STATUSES = ("pending", "running", "succeeded", "failed", "skipped", "interrupted")

# Each entry upgrades the schema by one version (PRAGMA user_version); never edit a shipped one.
_MIGRATIONS: tuple[str, ...] = (
    f"""
    CREATE TABLE runs (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        trigger   TEXT NOT NULL CHECK (trigger IN {TRIGGERS}),
        job       TEXT NOT NULL,
        args      TEXT NOT NULL DEFAULT '{{}}',
        started   TEXT NOT NULL,
        ended     TEXT,
        status    TEXT NOT NULL CHECK (status IN {RUN_STATUSES}),
        error     TEXT,
        pid       INTEGER,
        schedule_id INTEGER
    );
    CREATE INDEX runs_started ON runs (started);
    CREATE TABLE stages (
        run_id    INTEGER NOT NULL REFERENCES runs (id),
        name      TEXT NOT NULL,
        position  INTEGER NOT NULL,
        started   TEXT,
        ended     TEXT,
        duration_s REAL,
        status    TEXT NOT NULL CHECK (status IN {STAGE_STATUSES}),
        rows_in   TEXT NOT NULL DEFAULT '{{}}',
        rows_out  TEXT NOT NULL DEFAULT '{{}}',
        tests_passed INTEGER,
        tests_failed INTEGER,
        expectations_failed INTEGER,
        model_version TEXT,
        detail    TEXT NOT NULL DEFAULT '{{}}',
        error     TEXT,
        PRIMARY KEY (run_id, name)
    );
    CREATE TABLE events (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        kind      TEXT NOT NULL,
        detail    TEXT,
        at        TEXT NOT NULL
    );
    CREATE INDEX events_kind ON events (kind);
    CREATE TABLE schedules (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        cron      TEXT NOT NULL,
        job       TEXT NOT NULL,
        args      TEXT NOT NULL DEFAULT '',
        created   TEXT NOT NULL,
        last_due  TEXT
    );
    """,
    # Version 2 (orchestration/slots.py): each (schedule, slot) is claimed once by one scheduler
    # (the primary key is the claim), the run records its slot, schedulers beat a heartbeat.
    """
    ALTER TABLE runs ADD COLUMN slot TEXT;
    CREATE TABLE schedule_slots (
        schedule_id INTEGER NOT NULL,
        slot        TEXT NOT NULL,
        claimed_by  TEXT NOT NULL,
        claimed_at  TEXT NOT NULL,
        run_id      INTEGER REFERENCES runs (id),
        takeovers   INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (schedule_id, slot)
    );
    CREATE TABLE schedulers (
        id          TEXT PRIMARY KEY,
        host        TEXT NOT NULL,
        pid         INTEGER NOT NULL,
        started_at  TEXT NOT NULL,
        beat_at     TEXT NOT NULL,
        beat_every_s REAL NOT NULL,
        stopped_at  TEXT
    );
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)
_R = TypeVar("_R")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _json(value: Any) -> str:
    return json.dumps(value if value is not None else {}, sort_keys=True, default=str)


def _migrate(con: sqlite3.Connection) -> None:
    version = con.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"ops.sqlite schema version {version} is newer than this code knows ({SCHEMA_VERSION})")
    if version == SCHEMA_VERSION:
        return
    con.execute("BEGIN IMMEDIATE")
    try:
        # Re-read under the write lock: another process may have migrated meanwhile.
        version = con.execute("PRAGMA user_version").fetchone()[0]
        for step in _MIGRATIONS[version:]:
            for statement in filter(str.strip, step.split(";")):
                con.execute(statement)
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def ops_path() -> Path:
    return get_settings().ops_path


@contextmanager
def connect(path: Path | None = None) -> Iterator[sqlite3.Connection]:
    """One short-lived connection (autocommit; use `transaction` to group writes)."""
    target = path or ops_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(target, timeout=30, isolation_level=None)
    con.row_factory = sqlite3.Row
    try:
        con.execute("PRAGMA busy_timeout = 30000")
        # WAL + NORMAL: never corrupts; a power cut may lose the last write, not a killed process.
        con.execute("PRAGMA synchronous = NORMAL")
        if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            con.execute("PRAGMA journal_mode = WAL")
        _migrate(con)
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


# --------------------------------------------------------------------------- records
@dataclass(frozen=True)
class RunRecord:
    id: int
    trigger: str
    job: str
    args: dict[str, Any]
    started: str
    ended: str | None
    status: str
    error: str | None
    schedule_id: int | None = None
    slot: str | None = None

    @property
    def duration_s(self) -> float | None:
        if not self.ended:
            return None
        return (datetime.fromisoformat(self.ended) - datetime.fromisoformat(self.started)).total_seconds()


@dataclass(kw_only=True)
class StageFigures:
    """What a stage measured: rows per dataset in and out, checks, the model it used."""

    rows_in: dict[str, int] = field(default_factory=dict)
    rows_out: dict[str, int] = field(default_factory=dict)
    tests_passed: int | None = None
    tests_failed: int | None = None
    expectations_failed: int | None = None
    model_version: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class StageRecord(StageFigures):
    run_id: int
    name: str
    position: int
    started: str | None
    ended: str | None
    duration_s: float | None
    status: str
    error: str | None = None


def _from_row(cls: type[_R], row: sqlite3.Row, json_columns: tuple[str, ...]) -> _R:
    """A record from a row: the columns the dataclass has, JSON columns decoded."""
    columns = {f.name for f in fields(cls)} & set(row.keys())  # type: ignore[arg-type]  # Row iterates values
    values = {k: (json.loads(row[k]) if k in json_columns else row[k]) for k in columns}
    return cls(**values)


def _run(row: sqlite3.Row) -> RunRecord:
    return _from_row(RunRecord, row, ("args",))


def _stage(row: sqlite3.Row) -> StageRecord:
    return _from_row(StageRecord, row, ("rows_in", "rows_out", "detail"))


# --------------------------------------------------------------------------- runs and stages
def start_run(
    job: str,
    args: dict[str, Any],
    trigger: str,
    stages: list[str],
    schedule_id: int | None = None,
    slot: str | None = None,
) -> int:
    """Record a run and its planned stages (so a killed run shows what it never reached)."""
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {', '.join(TRIGGERS)}, got {trigger!r}")
    with connect() as con, transaction(con):
        cur = con.execute(
            "INSERT INTO runs (trigger, job, args, started, status, pid, schedule_id)"
            " VALUES (?, ?, ?, ?, 'running', ?, ?)",
            (trigger, job, _json(args), now_iso(), os.getpid(), schedule_id),
        )
        run_id = int(cur.lastrowid or 0)
        con.executemany(
            "INSERT INTO stages (run_id, name, position, status) VALUES (?, ?, ?, 'pending')",
            [(run_id, name, i) for i, name in enumerate(stages)],
        )
        _link_slot(con, run_id, schedule_id, slot)
    return run_id


def _link_slot(con: sqlite3.Connection, run_id: int, schedule_id: int | None, slot: str | None) -> None:
    """The run of a claimed schedule slot, in the run's own transaction: a slot's claim and its run
    always point at each other."""
    if schedule_id is None or slot is None:
        return
    con.execute("UPDATE runs SET slot = ? WHERE id = ?", (slot, run_id))
    con.execute("UPDATE schedule_slots SET run_id = ? WHERE schedule_id = ? AND slot = ?", (run_id, schedule_id, slot))


def stage_started(run_id: int, name: str) -> None:
    with connect() as con:
        con.execute(
            "UPDATE stages SET status = 'running', started = ?, error = NULL WHERE run_id = ? AND name = ?",
            (now_iso(), run_id, name),
        )


def stage_finished(
    run_id: int,
    name: str,
    status: str,
    figures: StageFigures | None = None,
    *,
    duration_s: float | None = None,
    error: str | None = None,
) -> None:
    if status not in STAGE_STATUSES:
        raise ValueError(f"stage status must be one of {', '.join(STAGE_STATUSES)}, got {status!r}")
    f = figures or StageFigures()
    ended = now_iso() if status != "skipped" else None
    with connect() as con:
        con.execute(
            """UPDATE stages SET status = ?, ended = ?, duration_s = ?, rows_in = ?, rows_out = ?,
                   tests_passed = ?, tests_failed = ?, expectations_failed = ?, model_version = ?,
                   detail = ?, error = ?
               WHERE run_id = ? AND name = ?""",
            (
                status, ended, duration_s, _json(f.rows_in), _json(f.rows_out), f.tests_passed, f.tests_failed,
                f.expectations_failed, f.model_version, _json(f.detail), error, run_id, name,
            ),
        )  # fmt: skip


def finish_run(run_id: int, status: str, error: str | None = None) -> None:
    if status not in RUN_STATUSES:
        raise ValueError(f"run status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
    with connect() as con:
        con.execute(
            "UPDATE runs SET status = ?, ended = ?, error = ? WHERE id = ?",
            (status, now_iso(), error, run_id),
        )


def interrupt_run(run_id: int, reason: str) -> None:
    """A signal stopped this process's run: close it and any stage still running, as of now."""
    ended = now_iso()
    with connect() as con, transaction(con):
        con.execute(
            "UPDATE stages SET status = 'interrupted', ended = ?, error = ? WHERE run_id = ? AND status = 'running'",
            (ended, reason, run_id),
        )
        con.execute(
            "UPDATE runs SET status = 'interrupted', ended = ?, error = ? WHERE id = ?",
            (ended, reason, run_id),
        )


def mark_interrupted() -> list[int]:
    """Close runs left `running` by a killed process. Call only while holding the pipeline lock:
    then no other run can be alive, so every `running` row is an orphan."""
    reason = "the process ended before the run finished (killed or crashed); re-run to resume"
    with connect() as con, transaction(con):
        ids = [r[0] for r in con.execute("SELECT id FROM runs WHERE status = 'running'")]
        if ids:
            marks = ",".join("?" * len(ids))
            ended = now_iso()
            con.execute(
                f"UPDATE runs SET status = 'interrupted', ended = ?, error = ? WHERE id IN ({marks})",  # noqa: S608 - placeholders only
                (ended, reason, *ids),
            )
            con.execute(
                f"UPDATE stages SET status = 'interrupted', ended = ?, error = ?"  # noqa: S608 - placeholders only
                f" WHERE status = 'running' AND run_id IN ({marks})",
                (ended, reason, *ids),
            )
    return ids


def recent_runs(n: int = 10) -> list[RunRecord]:
    """The newest `n` runs, newest first."""
    with connect() as con:
        rows = con.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (int(n),)).fetchall()
    return [_run(r) for r in rows]


def get_run(run_id: int) -> RunRecord | None:
    with connect() as con:
        row = con.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    return _run(row) if row else None


def running_run() -> RunRecord | None:
    """The newest run still marked running (the lock holder, or an orphan not yet reconciled)."""
    with connect() as con:
        row = con.execute("SELECT * FROM runs WHERE status = 'running' ORDER BY id DESC LIMIT 1").fetchone()
    return _run(row) if row else None


def stages_for(run_id: int) -> list[StageRecord]:
    """The stages of one run in DAG order."""
    with connect() as con:
        rows = con.execute("SELECT * FROM stages WHERE run_id = ? ORDER BY position", (run_id,)).fetchall()
    return [_stage(r) for r in rows]


def last_stage(name: str, status: str = "succeeded") -> StageRecord | None:
    """The newest stage record of that name and status (e.g. the last good ingest)."""
    with connect() as con:
        row = con.execute(
            "SELECT * FROM stages WHERE name = ? AND status = ? ORDER BY ended DESC, run_id DESC LIMIT 1",
            (name, status),
        ).fetchone()
    return _stage(row) if row else None


# --------------------------------------------------------------------------- events
def record_event(kind: str, detail: str | dict[str, Any] | None = None) -> None:
    """Record something that happened outside a run (e.g. `page_view`, `prediction`).
    Cheap enough to call per page view; never raises for a bad detail (it is stored as text)."""
    if not kind or not isinstance(kind, str):
        raise ValueError("event kind must be a non-empty string")
    text = detail if isinstance(detail, str) or detail is None else json.dumps(detail, default=str)
    with connect() as con:
        con.execute("INSERT INTO events (kind, detail, at) VALUES (?, ?, ?)", (kind, text, now_iso()))
