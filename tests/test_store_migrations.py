"""Stores written by earlier nnifc versions open, migrate and read back exactly as they were.

The fixtures are SQL dumps of databases that each commit's own store code wrote (see
tests/fixtures/make_stores.py). A store from a newer nnifc is refused in one line; a failed
migration leaves the store at the version before it; an up-to-date store is opened without a
write, so `status` works on a read-only filesystem.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from nnifc.errors import StoreError
from nnifc.migrations import MIGRATIONS, Column, Table, migrate
from nnifc.records import ExperimentStatus, TrialStatus
from nnifc.store import Store
from tests.conftest import VENV_BIN, checked_status, run_nnifc, status_json
from tests.fixtures.make_stores import (
    COUNTERS,
    EXP_ID,
    IMPORTED,
    OPTIONS,
    OTHER_TASK,
    STARTED,
    TRIALS,
)

FIXTURES = Path(__file__).parent / "fixtures"
LATEST = len(MIGRATIONS)
# commit -> (what it could keep: counters and imports, what the tuner was told, why it ended)
COMMITS = {
    "308113c": (False, False, False),  # the first store
    "acd4b61": (True, False, False),  # the last with tables made lazily
    "b684f9a": (True, True, True),  # the last before migrations
}


def old_store(home: Path, commit: str) -> Path:
    path = home / "experiments" / EXP_ID / "nnifc.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as db:
        db.executescript((FIXTURES / f"store_{commit}.sql").read_text())
        db.execute("PRAGMA journal_mode=WAL")
    return path


def tables(path: Path) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every table's column names and rows, in rowid order."""
    with closing(sqlite3.connect(path)) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        found = {}
        for name in names:
            columns = [r[1] for r in db.execute(f"PRAGMA table_info({name})")]
            rows = db.execute(f"SELECT * FROM {name} ORDER BY rowid").fetchall()
            found[name] = (columns, rows)
        return found


def schema(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Each table's columns as SQLite describes them, and the indexes by name."""
    with closing(sqlite3.connect(path)) as db:
        found: dict[str, list[tuple[Any, ...]]] = {
            name: db.execute(f"PRAGMA table_info({name})").fetchall()
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        found["indexes"] = db.execute(
            "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' ORDER BY name"
        ).fetchall()
        return found


def user_version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def set_user_version(path: Path, version: int) -> None:
    with closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {version}")


@pytest.mark.parametrize("commit", sorted(COMMITS))
def test_an_old_store_migrates_and_reads_back_as_it_was(
    home: Path, tmp_path: Path, commit: str
) -> None:
    kept_totals, kept_told, kept_reason = COMMITS[commit]
    path = old_store(home, commit)
    before = tables(path)
    assert user_version(path) == 0

    store = Store.open(EXP_ID)
    assert user_version(path) == LATEST
    after = tables(path)
    for name, (columns, rows) in before.items():  # every old value, unchanged
        with closing(sqlite3.connect(path)) as db:
            kept = db.execute(f"SELECT {', '.join(columns)} FROM {name} ORDER BY rowid")
            assert kept.fetchall() == rows, name
    assert set(after) == {"experiment", "trial", "metric", "counter", "imported", "change"}
    Store(tmp_path / "fresh.db", create=True).close()
    assert schema(path) == schema(tmp_path / "fresh.db")  # as if this nnifc had made it

    row = store.experiment()
    assert (row.id, row.name, row.status, row.started) == (
        EXP_ID,
        "old-store",
        ExperimentStatus.DONE,
        STARTED,
    )
    assert row.options == (OPTIONS if commit != "308113c" else "{}")
    assert row.reason == ("maxTrialNum reached" if kept_reason else "")
    assert row.concurrency == (2 if kept_reason else 1) and row.paused == 0.0
    trials = store.trials()
    assert [t.id for t in trials] == [t[0] for t in TRIALS]
    for trial, expected in zip(trials, TRIALS, strict=True):
        trial_id, parameter_id, params, curve, final, status, code, message = expected
        assert trial == store.trial(trial_id)
        assert (trial.parameter_id, trial.params, trial.intermediate) == (
            parameter_id,
            params,
            curve,
        )
        assert (trial.final, trial.final_raw) == (final or (None, None))
        assert (trial.status, trial.exit_code, trial.message) == (
            TrialStatus(status),
            code,
            message,
        )
        told = ("final", final[0]) if final and final[0] is not None else ("failure", None)
        assert (trial.told, trial.told_value) == (told if kept_told else (None, None))
    assert [t.id for t in store.finished_in_order()] == [t[0] for t in TRIALS]
    assert store.curve_task(OTHER_TASK[0]) == "main_0"
    assert store.counters() == (COUNTERS if kept_totals else {})
    imported = [(i + 1, p, v) for i, (p, v) in enumerate(IMPORTED)] if kept_totals else []
    assert store.imported() == imported and store.imported_count() == len(imported)
    assert store.changes() == ([(1, "trialConcurrency", "2")] if kept_told else [])
    store.close()

    doc = status_json(EXP_ID)  # the real command, on the migrated store
    assert (doc["id"], doc["status"], doc["imported"]) == (EXP_ID, "DONE", len(imported))
    assert doc["stats"] == (COUNTERS if kept_totals else {})
    assert [t["id"] for t in doc["trials"]] == [t[0] for t in TRIALS]
    assert doc["best"] == {"trial": "aaaa0", "value": 0.3}


@pytest.mark.parametrize("commit", sorted(COMMITS))
def test_status_opens_an_old_store_through_the_cli(home: Path, commit: str) -> None:
    old_store(home, commit)
    listing = run_nnifc("status", "--json")
    assert listing.returncode == 0, listing.stderr
    assert [checked_status(d)["id"] for d in json.loads(listing.stdout)] == [EXP_ID]
    assert user_version(home / "experiments" / EXP_ID / "nnifc.db") == LATEST


def test_a_store_from_a_newer_nnifc_is_refused_in_one_line(home: Path) -> None:
    path = old_store(home, "b684f9a")
    Store.open(EXP_ID).close()
    set_user_version(path, LATEST + 1)
    line = (
        f"Error: experiment {EXP_ID}: its database {path} was written by a newer nnifc"
        f" (schema version {LATEST + 1}, this nnifc knows up to {LATEST}); upgrade nnifc"
    )
    for args in (("status", EXP_ID), ("status", EXP_ID, "--json"), ("status",), ("resume", EXP_ID)):
        result = run_nnifc(*args)
        assert result.returncode == 1, (args, result.stdout)
        assert result.stderr.splitlines() == [line], (args, result.stderr)
    with pytest.raises(StoreError, match=r"upgrade nnifc$"):
        Store.open(EXP_ID)
    assert user_version(path) == LATEST + 1


@pytest.mark.parametrize("commit", sorted(COMMITS))
def test_migrating_twice_writes_nothing(home: Path, commit: str) -> None:
    path = old_store(home, commit)
    Store.open(EXP_ID).close()
    migrated = path.read_bytes()
    for _ in range(2):
        Store.open(EXP_ID).close()
        assert path.read_bytes() == migrated  # not even SQLite's change counter moved
    assert user_version(path) == LATEST


def test_a_failed_migration_leaves_the_store_at_the_version_before(home: Path) -> None:
    path = old_store(home, "acd4b61")  # recognised as version 6
    before = tables(path)
    failing = (Table("extra", "x TEXT"), Column("trial", "must", "TEXT NOT NULL"))  # trials exist
    with (
        closing(sqlite3.connect(path, isolation_level=None)) as db,
        pytest.raises(StoreError) as raised,
    ):
        migrate(db, path, (*MIGRATIONS[:7], failing))
    assert str(raised.value) == (
        f"experiment {EXP_ID}: its database {path} could not be migrated to schema version 8:"
        " Cannot add a NOT NULL column with default value NULL"
    )
    assert user_version(path) == 7  # migration 7 was kept, none of the failed one
    migrated = tables(path)
    assert "extra" not in migrated and "must" not in migrated["trial"][0]
    assert "reason" in migrated["experiment"][0]
    assert migrated["trial"][1] == [(*r, None, None) for r in before["trial"][1]]

    store = Store.open(EXP_ID)  # this nnifc's own migration 8 goes on from there
    assert user_version(path) == LATEST and store.changes() == []


def test_update_columns_are_never_sql_from_the_caller(home: Path) -> None:
    old_store(home, "b684f9a")
    store = Store.open(EXP_ID)
    with pytest.raises(ValueError, match="not changeable"):
        store.add_changes([("maxTrialNum", "5", {"seed = 0, max_trials": 5})])
    row = store.experiment()
    assert (row.seed, row.max_trials) == (7, 3) and store.changes() == [
        (1, "trialConcurrency", "2")
    ]


def read_only(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`nnifc ARGS` with $NNIFC_HOME mounted read-only (in a mount namespace of its own)."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) for a read-only mount")
    mount = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"'
    command = [sys.executable, "-m", "nnifc", *args]
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", mount, str(home), "true"], check=False)
    if probe.returncode != 0:
        pytest.skip("cannot make a mount namespace here")
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", mount, str(home), *command],
        capture_output=True,
        text=True,
        env={"NNIFC_HOME": str(home), "PATH": VENV_BIN + ":/usr/bin:/bin"},
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("stamped", [True, False], ids=["migrated", "current-but-unstamped"])
def test_status_works_on_a_read_only_filesystem(home: Path, stamped: bool) -> None:
    path = old_store(home, "b684f9a")
    if stamped:
        Store.open(EXP_ID).close()
    data = path.read_bytes()
    for args in (("status", EXP_ID, "--json"), ("status", "--json")):
        result = read_only(home, *args)
        assert result.returncode == 0, (args, result.stderr)
        doc = json.loads(result.stdout)
        assert checked_status(doc if args[1] == EXP_ID else doc[0])["id"] == EXP_ID
    assert path.read_bytes() == data and user_version(path) == (LATEST if stamped else 0)


def test_a_store_that_needs_migrating_on_a_read_only_filesystem_says_so(home: Path) -> None:
    path = old_store(home, "acd4b61")
    result = read_only(home, "status", EXP_ID)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: experiment {EXP_ID}: its database {path} could not be migrated to schema"
        " version 7: attempt to write a readonly database"
    ]
