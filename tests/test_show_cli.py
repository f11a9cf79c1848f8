"""`nnifc status` and `nnifc logs` as a person runs them: piped into files and other commands,
and `logs --follow` ended with Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from nnifc.records import ExperimentStatus, MetricReported, TrialSpec, TrialStatus
from nnifc.store import Store, experiment_dir
from tests.conftest import VENV_BIN, created_id, run_nnifc, status_json, wait_for
from tests.test_view import FAILURE, LONG_PARAMS, NOW, experiment


def stored_experiment(exp_id: str, started: float, trials: int, **changes: object) -> None:
    """An experiment as the loop leaves it in $NNIFC_HOME: its row and its trials."""
    store = Store(experiment_dir(exp_id) / "nnifc.db", create=True)
    store.add_experiment(experiment(id=exp_id, started=started, **changes))
    for seq in range(trials):
        trial_id = f"{exp_id[:3]}{seq:02d}"
        store.add_trial(TrialSpec(exp_id, trial_id, seq, seq, {**LONG_PARAMS, "seed": seq}))
        store.set_status(trial_id, TrialStatus.RUNNING)
        if seq % 3 == 2:
            store.set_status(trial_id, TrialStatus.FAILED, message=FAILURE, exit_code=2)
            continue
        store.add_metric(MetricReported(trial_id, "local_0", 0, True, 0.5 + seq / 100, "0.5"))
        store.set_status(trial_id, TrialStatus.SUCCEEDED)


def test_piped_status_has_no_trailing_spaces_and_lists_oldest_first(home: Path) -> None:
    done = {"status": ExperimentStatus.DONE, "ended": NOW - 100}
    stored_experiment("newer000", NOW - 1000, 1, reason="maxTrialNum reached (1 trial)", **done)
    stored_experiment(
        "older000", NOW - 5000, 7, reason="3 of 3 trials FAILED; first: " + FAILURE, **done
    )
    listing = run_nnifc("status")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert [line for line in lines if line != line.rstrip()] == []
    ids = [line.split()[0] for line in lines if line.startswith(("newer000", "older000"))]
    assert ids == ["older000", "newer000"]
    assert "maxTrialNum reached (1 trial)" in listing.stdout
    one = run_nnifc("status", "older000")
    assert one.returncode == 0, one.stderr
    lines = one.stdout.splitlines()
    assert len(lines) > 20
    assert [line for line in lines if line != line.rstrip()] == []
    assert "7 of 100 finished (2 failed), 0 running" in one.stdout
    assert "reason      3 of 3 trials FAILED; first: exit code 2" in one.stdout


FOLLOWED_TRIAL = """\
    import time
    import nni

    nni.get_next_parameter()
    print("tick", flush=True)
    time.sleep(120)
"""


def test_logs_follow_ends_quietly_on_ctrl_c(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    config = experiment_files(FOLLOWED_TRIAL, max_trials=1, concurrency=1)
    exp_id = created_id(run_nnifc("create", "--config", str(config), "--detach"))
    try:
        wait_for(
            lambda: [t["status"] for t in status_json(exp_id)["trials"]] == ["RUNNING"],
            what="a running trial",
        )
        trial_id = status_json(exp_id)["trials"][0]["id"]
        env = {**os.environ, "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", "")}
        follow = subprocess.Popen(
            [sys.executable, "-m", "nnifc", "logs", trial_id, "--follow"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        watchdog = threading.Timer(60, follow.kill)
        watchdog.start()
        try:
            assert follow.stdout is not None
            assert follow.stdout.readline() == "tick\n"  # following: the trial still sleeps
            follow.send_signal(signal.SIGINT)
            rest, errors = follow.communicate(timeout=30)
        finally:
            watchdog.cancel()
        assert (follow.returncode, errors, rest) == (130, "", "")
    finally:
        assert run_nnifc("stop", exp_id).returncode == 0


def test_dry_run_counts_one_trial_in_the_singular(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    result = run_nnifc(
        "create", "--config", str(experiment_files("", max_trials=1, concurrency=1)), "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    assert "1 trial, 1 at a time" in result.stdout
