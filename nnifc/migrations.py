"""The store's schema as ordered migrations, keyed by SQLite's `PRAGMA user_version`.

Migration n takes a store from version n-1 to n in one transaction, so a store is always at some
version, never between two, and opening one at the latest version writes nothing (a read-only
`status` works). Stores written before migrations existed are at version 0 with tables in them:
what they hold is recognised and stamped with the version it matches, and the rest applied. A step
already done is skipped, as a store of that time may have had a later table made lazily. A store
written by a newer nnifc is refused: this one cannot know what its tables mean.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nnifc.errors import StoreError


@dataclass(frozen=True)
class Table:
    name: str
    columns: str

    def sql(self) -> str:
        return f"CREATE TABLE {self.name} ({self.columns})"

    def done(self, db: sqlite3.Connection) -> bool:
        return _exists(db, "table", self.name)


@dataclass(frozen=True)
class Index:
    name: str
    on: str

    def sql(self) -> str:
        return f"CREATE INDEX {self.name} ON {self.on}"

    def done(self, db: sqlite3.Connection) -> bool:
        return _exists(db, "index", self.name)


@dataclass(frozen=True)
class Column:
    table: str
    name: str
    kind: str

    def sql(self) -> str:
        return f"ALTER TABLE {self.table} ADD COLUMN {self.name} {self.kind}"

    def done(self, db: sqlite3.Connection) -> bool:
        return self.name in {r[1] for r in db.execute(f"PRAGMA table_info({self.table})")}


Step = Table | Index | Column
Migration = tuple[Step, ...]

MIGRATIONS: tuple[Migration, ...] = (
    (  # 1: the first store (308113c)
        Table(
            "experiment",
            "id TEXT PRIMARY KEY, name TEXT NOT NULL, platform TEXT NOT NULL,"
            " config_path TEXT NOT NULL, config_text TEXT NOT NULL, space_text TEXT NOT NULL,"
            " seed INTEGER NOT NULL, optimize_mode TEXT NOT NULL, max_trials INTEGER NOT NULL,"
            " max_seconds INTEGER NOT NULL, status TEXT NOT NULL, started REAL NOT NULL,"
            " ended REAL, pid INTEGER, stop_requested INTEGER NOT NULL DEFAULT 0,"
            " message TEXT NOT NULL DEFAULT ''",
        ),
        Table(
            "trial",
            "id TEXT PRIMARY KEY, sequence INTEGER NOT NULL UNIQUE, parameter_id INTEGER NOT NULL,"
            " params TEXT NOT NULL, status TEXT NOT NULL, handle TEXT, created REAL NOT NULL,"
            " started REAL, ended REAL, exit_code INTEGER, message TEXT NOT NULL DEFAULT '',"
            " final REAL, final_raw TEXT, finish_order INTEGER",
        ),
        Table(
            "metric",
            "trial_id TEXT NOT NULL REFERENCES trial(id), task TEXT NOT NULL,"
            " offset INTEGER NOT NULL, final INTEGER NOT NULL, step INTEGER, value REAL,"
            " raw TEXT NOT NULL, reported REAL NOT NULL, PRIMARY KEY (trial_id, task, offset)",
        ),
    ),
    # 2: the platform options given to create (7dfc8fc)
    (Column("experiment", "options", "TEXT NOT NULL DEFAULT '{}'"),),
    # 3: the loop's heartbeat, so resume can tell a dead loop (f7b8f6f)
    (Column("experiment", "heartbeat", "REAL"),),
    # 4: running totals such as the tuner's CPU seconds (c2617d8)
    (Table("counter", "name TEXT PRIMARY KEY, value REAL NOT NULL"),),
    # 5: the tuner's history in finishing order, without a scan (5702431)
    (Index("trial_finish", "trial(finish_order)"),),
    # 6: points `nnifc import` brought (5702431)
    (
        Table(
            "imported",
            "position INTEGER PRIMARY KEY, params TEXT NOT NULL, value REAL NOT NULL,"
            " source TEXT NOT NULL",
        ),
    ),
    # 7: why it ended, time paused, live concurrency, what the tuner was told (3c7cb51)
    (
        Column("experiment", "reason", "TEXT NOT NULL DEFAULT ''"),
        Column("experiment", "paused", "REAL NOT NULL DEFAULT 0"),
        Column("experiment", "concurrency", "INTEGER NOT NULL DEFAULT 1"),
        Column("trial", "told", "TEXT"),
        Column("trial", "told_value", "REAL"),
    ),
    # 8: the changes asked of a running experiment (3c7cb51)
    (
        Table(
            "change",
            "position INTEGER PRIMARY KEY, what TEXT NOT NULL, value TEXT NOT NULL,"
            " made REAL NOT NULL",
        ),
    ),
    # 9: the platform's settings, derived once at create (issue 18)
    (Column("experiment", "settings", "TEXT NOT NULL DEFAULT ''"),),
)


def migrate(
    db: sqlite3.Connection, path: Path, migrations: Sequence[Migration] = MIGRATIONS
) -> None:
    """Bring the store at `path` to the last of `migrations`, one transaction per migration.

    `db` is in autocommit mode (isolation_level None). Raises StoreError, one line, for a store
    from a newer nnifc or a migration that failed (the store stays at the version before it).
    """
    latest = len(migrations)
    version = version_of(db)
    if version == latest:
        return
    if version > latest:
        raise _newer(path, version, latest)
    legacy = version == 0 and _has_tables(db)  # from before migrations: stamp it first
    if legacy:
        version = _recognised(db, migrations)
    while legacy or version < latest:
        try:
            version = _advance(db, path, migrations)
        except sqlite3.Error as e:
            readonly = getattr(e, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_READONLY
            if readonly and all(
                isinstance(step, Column) for m in migrations[version:] for step in m
            ):
                # what is missing are columns readers default (complete, when version is
                # latest): read it as it is; a writable open migrates it
                return
            raise StoreError(
                f"experiment {path.parent.name}: its database {path} could not be migrated"
                f" to schema version {min(version + 1, latest)}: {e}"
            ) from None
        legacy = False


def version_of(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _advance(db: sqlite3.Connection, path: Path, migrations: Sequence[Migration]) -> int:
    """One transaction: apply the next migration (to a store from before migrations, stamp the
    version it matches first). The version is read again under the write lock: another process
    may have migrated meanwhile."""
    latest = len(migrations)
    db.execute("BEGIN IMMEDIATE")
    try:
        version = version_of(db)
        if version > latest:
            raise _newer(path, version, latest)
        if version == 0 and _has_tables(db):
            version = _recognised(db, migrations)
        if version < latest:
            for step in migrations[version]:
                if not step.done(db):
                    db.execute(step.sql())
            version += 1
        db.execute(f"PRAGMA user_version = {int(version)}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return version


def _recognised(db: sqlite3.Connection, migrations: Sequence[Migration]) -> int:
    """How many migrations, from the first, a store from before migrations holds entirely."""
    version = 0
    for migration in migrations:
        if not all(step.done(db) for step in migration):
            break
        version += 1
    return version


def _has_tables(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'").fetchone() is not None


def _exists(db: sqlite3.Connection, kind: str, name: str) -> bool:
    found = db.execute("SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?", (kind, name))
    return found.fetchone() is not None


def _newer(path: Path, version: int, latest: int) -> StoreError:
    return StoreError(
        f"experiment {path.parent.name}: its database {path} was written by a newer nnifc"
        f" (schema version {version}, this nnifc knows up to {latest}); upgrade nnifc"
    )
