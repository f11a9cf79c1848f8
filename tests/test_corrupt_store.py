"""A corrupted experiment database is one line naming the file, never a traceback, and the
listing still shows every other experiment."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import checked_status, created_id, run_nnifc, status_json

TRIAL = """\
    import nni

    nni.get_next_parameter()
    print("hello", flush=True)
    nni.report_final_result(0.5)
"""


def garbage(data: bytes) -> bytes:
    return b"this is no database\n" * 200


def half(data: bytes) -> bytes:
    return data[: len(data) // 2]


DAMAGE = {
    "garbage": ("file is not a database", garbage),
    "half": ("database disk image is malformed", half),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_corrupted_database_is_named_in_one_line(
    home: Path, experiment_files: Callable[..., Path], damage: str
) -> None:
    config = str(experiment_files(TRIAL, max_trials=1, concurrency=1))
    broken, healthy = (created_id(run_nnifc("create", "--config", config)) for _ in range(2))
    trial_id = status_json(broken)["trials"][0]["id"]
    database = home / "experiments" / broken / "nnifc.db"
    said, damaged = DAMAGE[damage]
    database.write_bytes(damaged(database.read_bytes()))
    line = f"Error: experiment {broken}: its database {database} is unreadable: {said}"

    for args in (
        ("status", broken),
        ("status", broken, "--json"),
        ("logs", broken, trial_id),
        ("stop", broken),
        ("kill", broken, trial_id),
        ("update", broken, "--concurrency", "2"),
        ("export", broken),
        ("resume", broken),
        ("delete", broken),
    ):
        result = run_nnifc(*args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert result.stderr.splitlines()[0].startswith(line), (args, result.stderr)
        assert "Traceback" not in result.stderr, (args, result.stderr)
    assert not (home / "reports").exists()  # the specific error, not the generic report

    listing = run_nnifc("status")
    assert listing.returncode == 1
    assert healthy in listing.stdout and "DONE" in listing.stdout
    assert listing.stderr.splitlines() == [line]
    documents = run_nnifc("status", "--json")
    assert documents.returncode == 1 and documents.stderr.splitlines() == [line]
    assert [checked_status(d)["id"] for d in json.loads(documents.stdout)] == [healthy]
    stopped = run_nnifc("stop", "--all")
    assert stopped.returncode == 1 and stopped.stderr.splitlines() == [line]

    removed = run_nnifc("delete", broken, "--force")
    assert removed.returncode == 0, removed.stderr
    assert not database.parent.exists()
    assert run_nnifc("status").returncode == 0
