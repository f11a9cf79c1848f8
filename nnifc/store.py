"""One SQLite database per experiment under $NNIFC_HOME: the durable record of a run.

WAL mode lets `status` and `logs` in another shell read while `create` writes. Every write is
one transaction, or part of a `batch()`: the loop records one poll's events in one, committing
before any side effect. Metrics are keyed by (trial, task, byte offset of the line that carried
them), so re-reading a task's output after a restart never duplicates one.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nnifc import private
from nnifc.database import NamedConnection
from nnifc.errors import ExperimentNotFound
from nnifc.records import ExperimentStatus, MetricReported, TrialSpec, TrialStatus

_LIVE = "status IN ({})".format(", ".join(f"'{s.value}'" for s in TrialStatus if not s.final))

SCHEMA = """
CREATE TABLE IF NOT EXISTS experiment (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, platform TEXT NOT NULL, config_path TEXT NOT NULL,
    config_text TEXT NOT NULL, space_text TEXT NOT NULL, seed INTEGER NOT NULL,
    optimize_mode TEXT NOT NULL, max_trials INTEGER NOT NULL, max_seconds INTEGER NOT NULL,
    status TEXT NOT NULL, started REAL NOT NULL, ended REAL, pid INTEGER,
    stop_requested INTEGER NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '',
    options TEXT NOT NULL DEFAULT '{}', heartbeat REAL, reason TEXT NOT NULL DEFAULT '',
    paused REAL NOT NULL DEFAULT 0, concurrency INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS trial (
    id TEXT PRIMARY KEY, sequence INTEGER NOT NULL UNIQUE, parameter_id INTEGER NOT NULL,
    params TEXT NOT NULL, status TEXT NOT NULL, handle TEXT, created REAL NOT NULL,
    started REAL, ended REAL, exit_code INTEGER, message TEXT NOT NULL DEFAULT '',
    final REAL, final_raw TEXT, finish_order INTEGER, told TEXT, told_value REAL);
CREATE INDEX IF NOT EXISTS trial_finish ON trial(finish_order);
CREATE TABLE IF NOT EXISTS metric (
    trial_id TEXT NOT NULL REFERENCES trial(id), task TEXT NOT NULL, offset INTEGER NOT NULL,
    final INTEGER NOT NULL, step INTEGER, value REAL, raw TEXT NOT NULL, reported REAL NOT NULL,
    PRIMARY KEY (trial_id, task, offset));
CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, value REAL NOT NULL);
CREATE TABLE IF NOT EXISTS imported (
    position INTEGER PRIMARY KEY, params TEXT NOT NULL, value REAL NOT NULL, source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS change (
    position INTEGER PRIMARY KEY, what TEXT NOT NULL, value TEXT NOT NULL, made REAL NOT NULL);
"""
# columns added after the first release: a store made before gets them on first open
ADDED_COLUMNS = {
    "experiment": {
        "reason": "TEXT NOT NULL DEFAULT ''",
        "paused": "REAL NOT NULL DEFAULT 0",
        "concurrency": "INTEGER NOT NULL DEFAULT 1",
    },
    "trial": {"told": "TEXT", "told_value": "REAL"},
}


@dataclass(frozen=True)
class ExperimentRow:
    id: str
    name: str
    platform: str
    config_path: str
    config_text: str
    space_text: str
    seed: int
    optimize_mode: str
    max_trials: int
    max_seconds: int
    status: ExperimentStatus
    started: float
    ended: float | None
    pid: int | None
    stop_requested: bool
    message: str
    options: str = "{}"  # JSON of the platform options given to create (context, namespace)
    heartbeat: float | None = None  # when the loop last said it was alive
    reason: str = ""  # why it ended (or is winding down): budget, exhausted, stopped, failed
    paused: float = 0.0  # seconds no loop ran (after a launcher died): not spent of the budget
    concurrency: int = 1  # trialConcurrency as it is now (`nnifc update` changes it)


@dataclass(frozen=True)
class TrialRow:
    id: str
    sequence: int
    parameter_id: int
    params: dict[str, Any]
    status: TrialStatus
    handle: str | None
    created: float
    started: float | None
    ended: float | None
    exit_code: int | None
    message: str
    final: float | None
    final_raw: str | None
    intermediate: tuple[float | None, ...]
    told: str | None = None  # what the tuner learnt: final, intermediate, failure or nothing
    told_value: float | None = None  # the metric it was given (None for failure and nothing)


def home() -> Path:
    return Path(os.environ.get("NNIFC_HOME") or Path.home() / ".nnifc").expanduser()


def experiment_dir(exp_id: str) -> Path:
    return home() / "experiments" / exp_id


def experiment_ids() -> list[str]:
    root = home() / "experiments"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "nnifc.db").is_file())


class Store:
    def __init__(self, path: Path, *, create: bool = False) -> None:
        if not create and not path.is_file():
            raise ExperimentNotFound(f"no experiment database at {path}")
        if create:  # private before SQLite makes it and its -wal and -shm with the same mode
            private.make_dirs(path.parent)
            private.create(path)
        self._db = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False, factory=NamedConnection
        )  # a damaged file's errors are StoreErrors that name it
        self._db.row_factory = sqlite3.Row
        self._batched = False
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        if create:
            self._db.executescript(SCHEMA)
        else:
            self._upgrade()

    def _upgrade(self) -> None:
        """Add what later releases keep to a store made by an earlier one (idempotent, racy-safe)."""
        for table, columns in ADDED_COLUMNS.items():
            have = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
            for name, kind in columns.items():
                if name not in have:
                    with contextlib.suppress(sqlite3.OperationalError):  # another process did
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if not {"counter", "imported", "change"} <= tables:
            self._db.executescript(SCHEMA)  # tables added later (CREATE ... IF NOT EXISTS)

    @classmethod
    def open(cls, exp_id: str) -> Store:
        path = experiment_dir(exp_id) / "nnifc.db"
        if not path.is_file():
            raise ExperimentNotFound(
                f"no experiment {exp_id!r} in {home()}; run `nnifc status` to list them"
            )
        return cls(path)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Writes inside share one transaction, begun by the first and committed at the end.

        Nested, a no-op. An exception rolls back what is not yet committed; so does a write that
        fails inside (no write is ever half kept). Hold it for milliseconds, never across a wait.
        """
        if self._batched:
            yield
            return
        self._batched = True
        try:
            yield
            self.commit()
        finally:
            self._batched = False
            if self._db.in_transaction:  # an exception, or a commit that failed
                self._db.execute("ROLLBACK")

    def commit(self) -> None:
        """Make a batch's writes so far durable, before a side effect; later writes begin anew."""
        if self._db.in_transaction:
            self._db.execute("COMMIT")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        if not self._db.in_transaction:
            self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        if not self._batched:
            self._db.execute("COMMIT")

    def add_experiment(self, row: ExperimentRow) -> None:
        data = {
            **asdict(row),
            "status": row.status.value,
            "stop_requested": int(row.stop_requested),
        }
        with self._tx() as db:
            db.execute(
                f"INSERT INTO experiment ({', '.join(data)}) VALUES ({', '.join('?' * len(data))})",
                list(data.values()),
            )

    def experiment(self, *, texts: bool = True) -> ExperimentRow:
        """The experiment's row; without `texts`, its config and search space read as "" (the
        loop looks twice a second, and a search space may be megabytes)."""
        columns = "*"
        if not texts:
            names = [r[1] for r in self._db.execute("PRAGMA table_info(experiment)").fetchall()]
            columns = ", ".join(
                f"'' AS {n}" if n in ("config_text", "space_text") else n for n in names
            )
        row = self._db.execute(f"SELECT {columns} FROM experiment").fetchone()
        if row is None:
            raise ExperimentNotFound("the experiment database is empty")
        data = dict(row)
        data["status"] = ExperimentStatus(data["status"])
        data["stop_requested"] = bool(data["stop_requested"])
        return ExperimentRow(**data)

    def stop_requested(self) -> bool:
        """Whether `nnifc stop` asked the loop to stop: one column, cheap enough for every turn."""
        row = self._db.execute("SELECT stop_requested FROM experiment").fetchone()
        return bool(row and row[0])

    def status(self) -> ExperimentStatus:
        row = self._db.execute("SELECT status FROM experiment").fetchone()
        if row is None:
            raise ExperimentNotFound("the experiment database is empty")
        return ExperimentStatus(row[0])

    def set_experiment(self, **fields: Any) -> None:
        """Update experiment columns (status, ended, pid, message, stop_requested) in one write."""
        values = [v.value if isinstance(v, ExperimentStatus) else v for v in fields.values()]
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as db:
            db.execute(f"UPDATE experiment SET {assignments}", values)

    def add_counters(self, increments: dict[str, float]) -> None:
        """Add to the experiment's running totals (CPU seconds spent in the tuner, ...)."""
        with self._tx() as db:
            db.executemany(
                "INSERT INTO counter VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                increments.items(),
            )

    def add_imported(self, points: list[tuple[dict[str, Any], float]], source: str) -> int:
        """Finished points from elsewhere (`nnifc import`): the tuner learns them too.

        A point already imported (the same parameters and value) is not added again; returns how
        many were new.
        """
        with self._tx() as db:
            seen = {(r[0], r[1]) for r in db.execute("SELECT params, value FROM imported")}
            new: list[tuple[str, float, str]] = []
            for params, value in points:
                key = (json.dumps(params, sort_keys=True), value)
                if key not in seen:
                    seen.add(key)
                    new.append((*key, source))
            db.executemany("INSERT INTO imported (params, value, source) VALUES (?, ?, ?)", new)
        return len(new)

    def imported_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM imported").fetchone()[0])

    def imported(self, after: int = 0) -> list[tuple[int, dict[str, Any], float]]:
        """Imported points past position `after`, in the order they were imported."""
        rows = self._db.execute(
            "SELECT position, params, value FROM imported WHERE position > ? ORDER BY position",
            (after,),
        ).fetchall()
        return [(r[0], json.loads(r[1]), r[2]) for r in rows]

    def counters(self) -> dict[str, float]:
        rows = self._db.execute("SELECT name, value FROM counter").fetchall()
        return {row["name"]: row["value"] for row in rows}

    def set_told(
        self, trial_id: str, told: str, value: float | None, *, message: str | None = None
    ) -> None:
        """What the tuner learnt from a finished trial (and, if given, the message saying why)."""
        with self._tx() as db:
            if message:
                db.execute(
                    "UPDATE trial SET told = ?, told_value = ?, message = ? WHERE id = ?",
                    (told, value, message, trial_id),
                )
            else:
                db.execute(
                    "UPDATE trial SET told = ?, told_value = ? WHERE id = ?",
                    (told, value, trial_id),
                )

    def add_changes(self, changes: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Record changes asked of an experiment (`nnifc update`, `kill`), each (what, value,
        experiment columns it sets), in one transaction: a loop sees all of them or none."""
        with self._tx() as db:
            for what, value, columns in changes:
                if columns:
                    assignments = ", ".join(f"{k} = ?" for k in columns)
                    db.execute(f"UPDATE experiment SET {assignments}", list(columns.values()))
                db.execute(
                    "INSERT INTO change (what, value, made) VALUES (?, ?, ?)",
                    (what, value, time.time()),
                )

    def changes(self, after: int = 0) -> list[tuple[int, str, str]]:
        """(position, what, value) of the changes past position `after`, oldest first."""
        rows = self._db.execute(
            "SELECT position, what, value FROM change WHERE position > ? ORDER BY position",
            (after,),
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def failures_since(self) -> int:
        """The first trial whose failure counts: a FAILED experiment resumed forgives the rest."""
        row = self._db.execute(
            "SELECT value FROM change WHERE what = 'resumed after failure' ORDER BY position DESC"
        ).fetchone()
        return int(row[0]) if row else 0

    def add_trial(self, spec: TrialSpec) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO trial (id, sequence, parameter_id, params, status, created)"
                " VALUES (?,?,?,?,?,?)",
                (
                    spec.trial_id,
                    spec.sequence,
                    spec.parameter_id,
                    json.dumps(dict(spec.params)),
                    TrialStatus.WAITING.value,
                    time.time(),
                ),
            )

    def set_handle(self, trial_id: str, handle: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE trial SET handle = ? WHERE id = ?", (handle, trial_id))

    def set_status(
        self,
        trial_id: str,
        status: TrialStatus,
        *,
        message: str = "",
        exit_code: int | None = None,
        ended: float | None = None,
    ) -> bool:
        """Move a live trial to `status`; a trial already in a final status never changes.
        `ended` is when a final status was reached, if earlier than now (never before its start)."""
        now, moved = time.time(), f"WHERE id = ? AND {_LIVE} AND status != ?"
        with self._tx() as db:
            if status is TrialStatus.RUNNING:
                cursor = db.execute(
                    f"UPDATE trial SET status = ?, started = ? {moved}",
                    (status.value, now, trial_id, status.value),
                )
            else:
                at = min(ended or now, now)
                cursor = db.execute(
                    "UPDATE trial SET status = ?, ended = MAX(?, COALESCE(started, ?)),"
                    " started = COALESCE(started, ?), message = ?, exit_code = ?,"
                    f" finish_order = (SELECT COALESCE(MAX(finish_order), 0) + 1 FROM trial) {moved}",
                    (status.value, at, at, at, message, exit_code, trial_id, status.value),
                )
            if cursor.rowcount == 0 and message and not status.final:  # same status, news
                cursor = db.execute(
                    "UPDATE trial SET message = ? WHERE id = ? AND status = ?",
                    (message, trial_id, status.value),
                )
        return cursor.rowcount > 0

    def undo_stop(self, trial_id: str, message: str) -> None:
        """A trial recorded as stopped (or cancelled by a launcher that failed) had ended on its
        own, exit code 0: SUCCEEDED."""
        stopped = [s.value for s in TrialStatus if s.stopped or s is TrialStatus.SYS_CANCELED]
        with self._tx() as db:
            db.execute(
                "UPDATE trial SET status = ?, message = ?, exit_code = 0"
                f" WHERE id = ? AND status IN ({', '.join('?' * len(stopped))})",
                (TrialStatus.SUCCEEDED.value, message, trial_id, *stopped),
            )

    def add_metric(self, event: MetricReported, *, counted: bool = True) -> int | None:
        """Record a metric once; returns its step (intermediate index, -1 for a final), None if seen.

        An uncounted intermediate (another task's) is kept with no step: it is in no curve.
        """
        step_sql: str = "?"
        step_args: tuple[object, ...] = (-1 if counted else None,)
        if counted and not event.final:
            step_sql = "(SELECT COUNT(*) FROM metric WHERE trial_id = ? AND final = 0 AND step IS NOT NULL)"
            step_args = (event.trial_id,)
        with self._tx() as db:
            rows = db.execute(
                f"INSERT OR IGNORE INTO metric VALUES (?,?,?,?,{step_sql},?,?,?) RETURNING step",
                (
                    event.trial_id,
                    event.task,
                    event.offset,
                    int(event.final),
                    *step_args,
                    event.value,
                    event.raw,
                    time.time(),
                ),
            ).fetchall()  # to the end: a write statement left running would block COMMIT
            if not rows:
                return None
            step: int | None = rows[0][0]
            if event.final and counted:
                db.execute(
                    "UPDATE trial SET final = ?, final_raw = ? WHERE id = ? AND final_raw IS NULL",
                    (event.value, event.raw, event.trial_id),
                )
        return step

    def trials(self) -> list[TrialRow]:
        curves: dict[str, list[float | None]] = {}
        for m in self._db.execute(
            "SELECT trial_id, value FROM metric WHERE final = 0 AND step IS NOT NULL ORDER BY step"
        ):
            curves.setdefault(m["trial_id"], []).append(m["value"])
        rows = self._db.execute("SELECT * FROM trial ORDER BY sequence").fetchall()
        return [self._trial(r, curves.get(r["id"], [])) for r in rows]

    def statuses(self, first: int = 0) -> list[tuple[str, int, str]]:
        """(id, sequence, status) of the trials from sequence `first` on, in sequence order."""
        rows = self._db.execute(
            "SELECT id, sequence, status FROM trial WHERE sequence >= ? ORDER BY sequence",
            (first,),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def trial_ids(self, prefix: str = "") -> list[str]:
        """Ids of the trials whose id starts with `prefix`, in sequence order."""
        rows = self._db.execute(
            "SELECT id FROM trial WHERE substr(id, 1, ?) = ? ORDER BY sequence",
            (len(prefix), prefix),
        )
        return [r[0] for r in rows]

    def trial(self, trial_id: str) -> TrialRow:
        row = self._db.execute("SELECT * FROM trial WHERE id = ?", (trial_id,)).fetchone()
        if row is None:
            raise ExperimentNotFound(f"no trial {trial_id!r} in this experiment")
        curve = [
            m[0]
            for m in self._db.execute(
                "SELECT value FROM metric WHERE trial_id = ? AND final = 0 AND step IS NOT NULL ORDER BY step",
                (trial_id,),
            )
        ]
        return self._trial(row, curve)

    @staticmethod
    def _trial(row: sqlite3.Row, curve: list[float | None]) -> TrialRow:
        data = dict(row)
        data.pop("finish_order")
        data["params"] = json.loads(data["params"])
        data["status"] = TrialStatus(data["status"])
        return TrialRow(**data, intermediate=tuple(curve))

    def curve_task(self, trial_id: str) -> str | None:
        """The task whose intermediate results make the trial's learning curve."""
        row = self._db.execute(
            "SELECT task FROM metric WHERE trial_id = ? AND step = 0", (trial_id,)
        ).fetchone()
        return str(row[0]) if row else None

    def finished_in_order(self) -> list[TrialRow]:
        """Final-status trials in the order they finished: the tuner's history, replayable."""
        ids = [
            r[0]
            for r in self._db.execute(
                "SELECT id FROM trial WHERE finish_order IS NOT NULL ORDER BY finish_order"
            )
        ]
        by_id = {t.id: t for t in self.trials()}
        return [by_id[i] for i in ids]
