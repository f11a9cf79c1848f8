"""Read-only snapshots of an experiment's store, for the web view.

The launcher writes its store several times a second. The view opens it with SQLite's `mode=ro`
(it can never write, nor take a write lock) and reads a whole snapshot in one short transaction;
in WAL mode a reader never blocks the writer. A snapshot is reused until `PRAGMA data_version`
says another connection committed, so a browser polling a finished experiment costs nothing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nnifc.database import Named, NamedConnection
from nnifc.errors import ExperimentNotFound, StoreError
from nnifc.records import ExperimentStatus, TrialStatus
from nnifc.rows import ExperimentRow, TrialRow
from nnifc.store import experiment_dir

_EXPERIMENT_FIELDS = {f.name for f in fields(ExperimentRow)}
_TRIAL_FIELDS = {f.name for f in fields(TrialRow)} - {"intermediate"}
CACHED = 8  # derived documents kept across snapshots


@dataclass(frozen=True)
class Snapshot:
    """An experiment as one read transaction saw it; `version` grows with every change seen."""

    version: int
    row: ExperimentRow
    trials: tuple[TrialRow, ...]
    imported: int
    # documents derived from it, keyed by what they depend on; shared by a reader's snapshots
    cache: dict[str, Any] = field(default_factory=dict, compare=False)

    def trial(self, trial_id: str) -> TrialRow:
        for t in self.trials:
            if t.id == trial_id:
                return t
        raise ExperimentNotFound(f"no trial {trial_id!r} in experiment {self.row.id}")


def _connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise ExperimentNotFound(f"no experiment database at {path}")
    db = sqlite3.connect(
        f"file:{quote(str(path))}?mode=ro",
        uri=True,
        timeout=5,
        isolation_level=None,
        check_same_thread=False,
        factory=NamedConnection,
    )
    assert isinstance(db, NamedConnection)
    db.named = Named(path)
    db.row_factory = sqlite3.Row
    return db


class ExperimentReader:
    """One experiment's store, read-only, shared by the server's threads."""

    def __init__(self, exp_id: str) -> None:
        self.exp_id = exp_id
        self.path = experiment_dir(exp_id) / "nnifc.db"
        self._db = _connect(self.path)
        self._lock = threading.Lock()
        self._seen: int | None = None  # the connection's data_version at the last snapshot
        self._version = 0
        self._snapshot: Snapshot | None = None
        self._cache: dict[str, Any] = {}

    def close(self) -> None:
        self._db.close()

    def version(self) -> int:
        """Grows whenever the store changed since the last call (a cheap check, no read)."""
        with self._lock:
            seen = self._db.execute("PRAGMA data_version").fetchone()[0]
            if seen != self._seen:
                self._seen = seen
                self._version += 1
            return self._version

    def snapshot(self) -> Snapshot:
        version = self.version()
        with self._lock:
            if self._snapshot is None or self._snapshot.version != version:
                if len(self._cache) > CACHED:
                    self._cache.clear()
                self._snapshot = self._read(version)
            return self._snapshot

    def _read(self, version: int) -> Snapshot:
        db = self._db
        try:
            db.execute("BEGIN")
            try:
                row = db.execute("SELECT * FROM experiment").fetchone()
                metrics = db.execute(
                    "SELECT trial_id, value FROM metric WHERE final = 0 AND step IS NOT NULL"
                    " ORDER BY trial_id, step"
                ).fetchall()
                trials = db.execute("SELECT * FROM trial ORDER BY sequence").fetchall()
                imported = _count(db, "imported")
            finally:
                db.execute("COMMIT")
        except sqlite3.OperationalError as e:  # not an nnifc store, or one still being created
            raise StoreError(f"experiment {self.exp_id}: cannot read {self.path}: {e}") from None
        if row is None:
            raise ExperimentNotFound(f"experiment {self.exp_id}: its database is empty")
        curves: dict[str, list[float | None]] = {}
        for trial_id, value in metrics:
            curves.setdefault(trial_id, []).append(value)
        return Snapshot(
            version=version,
            row=_experiment(dict(row)),
            trials=tuple(_trial(dict(t), curves.get(t["id"], [])) for t in trials),
            imported=imported,
            cache=self._cache,
        )


def _count(db: sqlite3.Connection, table: str) -> int:
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]) if exists else 0


def _experiment(data: dict[str, Any]) -> ExperimentRow:
    data = {k: v for k, v in data.items() if k in _EXPERIMENT_FIELDS}
    data["status"] = ExperimentStatus(data["status"])
    data["stop_requested"] = bool(data["stop_requested"])
    return ExperimentRow(**data)


def _trial(data: dict[str, Any], curve: list[float | None]) -> TrialRow:
    data = {k: v for k, v in data.items() if k in _TRIAL_FIELDS}
    data["params"] = json.loads(data["params"])
    data["status"] = TrialStatus(data["status"])
    return TrialRow(**data, intermediate=tuple(curve))


class Readers:
    """A reader per experiment, opened on first use and kept until `close`."""

    def __init__(self) -> None:
        self._readers: dict[str, ExperimentReader] = {}
        self._lock = threading.Lock()

    def get(self, exp_id: str) -> ExperimentReader:
        with self._lock:
            reader = self._readers.get(exp_id)
            if reader is None:
                reader = self._readers[exp_id] = ExperimentReader(exp_id)
            return reader

    def close(self) -> None:
        with self._lock:
            for reader in self._readers.values():
                reader.close()
            self._readers.clear()
