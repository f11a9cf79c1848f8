"""One SQLite database per experiment under $NNIFC_HOME: the durable record of a run.

WAL mode lets `status` and `logs` in another shell read while `create` writes. Every write is
one transaction, or part of a `batch()`: the loop records one poll's events in one, committing
before any side effect. Metrics are keyed by (trial, task, byte offset of the line that carried
them), so re-reading a task's output after a restart never duplicates one. Opening a store
brings its schema up to date (nnifc.migrations); the rows it hands out are in nnifc.rows.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nnifc import migrations, private
from nnifc.database import Named, NamedConnection
from nnifc.errors import ExperimentNotFound
from nnifc.records import ExperimentStatus, MetricReported, TrialSpec, TrialStatus
from nnifc.rows import ExperimentRow, TrialRow

_LIVE = "status IN ({})".format(", ".join(f"'{s.value}'" for s in TrialStatus if not s.final))

# what `nnifc update` may change while the experiment runs (add_changes)
CHANGEABLE = frozenset({"concurrency", "max_trials", "max_seconds", "space_text"})
__all__ = [
    "STAGING_PREFIX",
    "ExperimentRow",
    "Store",
    "TrialRow",
    "experiment_dir",
    "experiment_ids",
    "home",
]


def home() -> Path:
    return Path(os.environ.get("NNIFC_HOME") or Path.home() / ".nnifc").expanduser()


def experiment_dir(exp_id: str) -> Path:
    return home() / "experiments" / exp_id


STAGING_PREFIX = "."  # an experiment being registered; hidden until it is whole


def experiment_ids() -> list[str]:
    root = home() / "experiments"
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if not p.name.startswith(STAGING_PREFIX) and (p / "nnifc.db").is_file()
    )


def _connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """A connection in WAL mode; on a read-only filesystem, one that reads the file as it is.

    SQLite cannot open a WAL store there (it must make the -shm file); a store with no -wal file
    has every write in it, and nothing can write it meanwhile: `immutable` reads it safely.
    """
    db = _sqlite(str(path), path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as e:
        read_only = not os.access(path.parent, os.W_OK) and not Path(f"{path}-wal").exists()
        if create or getattr(e, "sqlite_errorcode", 0) != sqlite3.SQLITE_CANTOPEN or not read_only:
            raise
        db.close()
        db = _sqlite(f"file:{quote(str(path))}?immutable=1", path)
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def _sqlite(database: str, path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(
        database,
        timeout=30,
        isolation_level=None,
        check_same_thread=False,
        factory=NamedConnection,
        uri=database.startswith("file:"),
    )  # a damaged file's errors are StoreErrors that name it
    assert isinstance(db, NamedConnection)
    db.named = Named(path)
    db.row_factory = sqlite3.Row
    return db


class Store:
    def __init__(self, path: Path, *, create: bool = False) -> None:
        if not create and not path.is_file():
            raise ExperimentNotFound(f"no experiment database at {path}")
        if create:  # private before SQLite makes it and its -wal and -shm with the same mode
            private.make_dirs(path.parent)
            private.create(path)
        self._db = _connect(path, create=create)
        self._batched = False
        try:
            migrations.migrate(self._db, path)
        except BaseException:
            self._db.close()
            raise

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
                f"'' AS {n}" if n in ("config_text", "space_text", "settings") else n for n in names
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

    def request_stop(self) -> None:
        """What `nnifc stop` asks first: the loop sees it at its next turn."""
        self._set_experiment("stop_requested = 1")

    def set_pid(self, pid: int | None) -> None:
        """The process running the loop (None: no loop runs it)."""
        self._set_experiment("pid = ?", pid)

    def beat(self, at: float) -> None:
        """The loop is alive at `at`."""
        self._set_experiment("heartbeat = ?", at)

    def set_message(self, message: str) -> None:
        """What keeps the experiment from going on as it should ("" once it is over)."""
        self._set_experiment("message = ?", message)

    def set_experiment_status(self, status: ExperimentStatus, *, reason: str) -> None:
        """A status the experiment passes through (winding down, running again), and why."""
        self._set_experiment("status = ?, reason = ?", status.value, reason)

    def end(self, status: ExperimentStatus, *, reason: str) -> None:
        """The experiment ended now with `status`, for `reason`."""
        self._set_experiment("status = ?, ended = ?, reason = ?", status.value, time.time(), reason)

    def end_in_error(self, *, message: str, reason: str) -> None:
        """The launcher failed now with `message`; its loop is gone."""
        self._set_experiment(
            "status = ?, ended = ?, message = ?, reason = ?, pid = NULL",
            ExperimentStatus.ERROR.value,
            time.time(),
            message,
            reason,
        )

    def resume(self, *, pid: int, paused: float, at: float) -> None:
        """A new loop (process `pid`) runs the experiment from `at`; it was `paused` seconds."""
        self._set_experiment(
            "status = ?, ended = NULL, message = '', reason = '', stop_requested = 0, pid = ?,"
            " paused = ?, heartbeat = ?",
            ExperimentStatus.RUNNING.value,
            pid,
            paused,
            at,
        )

    def _set_experiment(self, assignments: str, *values: object) -> None:
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
                if not columns.keys() <= CHANGEABLE:
                    raise ValueError(f"not changeable: {sorted(columns.keys() - CHANGEABLE)}")
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
