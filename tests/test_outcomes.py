"""What an experiment and its trials are said to have done: statuses, reasons and exit codes
that a script can trust (the real CLI, real trial processes, the real nni SDK)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nnifc import config, experiments, launcher
from nnifc.assessors import ASSESSORS
from nnifc.assessors.base import Verdict
from nnifc.platforms.local import LocalPlatform
from nnifc.records import ExperimentStatus, TrialStatus
from nnifc.scheduler import Scheduler
from nnifc.stopping import ENDED_BEFORE_STOP
from nnifc.store import Store, TrialRow, experiment_dir, experiment_ids
from nnifc.wrapper import EXIT_NAME
from tests.conftest import (
    VENV_BIN,
    created_id,
    run_nnifc,
    start_nnifc,
    status_json,
    trial_processes,
    wait_for,
)

NO_RESULT = 3  # create's documented exit code when no trial produced a final metric, or FAILED


@pytest.fixture
def venv_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trials started in this process run the venv's python, which has nni."""
    monkeypatch.setenv("PATH", VENV_BIN + ":" + os.environ["PATH"])


def test_a_command_that_always_fails_fails_the_experiment_fast(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    config_path = experiment_files("", command="python3 tiral.py", max_trials=30, concurrency=2)
    result = run_nnifc("create", "--config", str(config_path))
    assert result.returncode == NO_RESULT, result.stdout + result.stderr
    assert "FAILED" in result.stdout and "DONE" not in result.stdout
    assert re.search(
        r"(\d) of \1 trials FAILED; first: exit code 2: python3: can't open", result.stderr
    )
    assert "tiral.py" in result.stderr and "Traceback" not in result.stderr
    data = status_json(created_id(result))
    assert data["status"] == "FAILED"
    assert re.match(r"(\d) of \1 trials FAILED; first: exit code 2", data["reason"])
    # the first three, and the few a free slot started while one of them still ran (a loaded
    # machine can end #3 before #2), not the 30 of the budget
    assert len(data["trials"]) <= 6
    listed = run_nnifc("status")
    assert "FAILED" in listed.stdout and "DONE" not in listed.stdout


def test_max_failed_trial_num_ends_the_experiment_once_reached(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    odd_fails = """\
        import os, sys
        import nni
        nni.get_next_parameter()
        if int(os.environ["NNI_TRIAL_SEQ_ID"]) % 2:
            sys.exit("odd trials fail")
        nni.report_final_result(1.0)
    """
    config_path = experiment_files(
        odd_fails, max_trials=20, concurrency=1, extra="maxFailedTrialNum: 2\n"
    )
    result = run_nnifc("create", "--config", str(config_path))
    assert result.returncode == NO_RESULT, result.stdout + result.stderr
    data = status_json(created_id(result))
    assert data["status"] == "FAILED"
    assert [t["status"] for t in data["trials"]] == ["SUCCEEDED", "FAILED", "SUCCEEDED", "FAILED"]
    assert data["reason"] == (
        "2 trials FAILED (maxFailedTrialNum is 2); first: exit code 1: odd trials fail"
    )


def test_nan_and_a_missing_final_metric_are_told_apart(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    trial = """\
        import os
        import nni
        nni.get_next_parameter()
        if os.environ["NNI_TRIAL_SEQ_ID"] == "0":
            nni.report_final_result(float("nan"))
    """
    result = run_nnifc("create", "--config", str(experiment_files(trial, max_trials=2)))
    assert result.returncode == NO_RESULT, result.stdout + result.stderr
    assert "no trial produced a final metric" in result.stderr
    first, second = status_json(created_id(result))["trials"]
    assert first["status"] == second["status"] == "SUCCEEDED"
    assert first["message"] == "final metric is NaN" and first["finalRaw"] == "NaN"
    assert second["message"] == "exited 0 without a final metric" and second["finalRaw"] is None
    assert first["tuner"] == second["tuner"] == {"told": "nothing", "value": None}
    shown = run_nnifc("status", created_id(result)).stdout
    assert "final metric is NaN" in shown and "exited 0 without a final metric" in shown


def test_a_result_exits_0_and_the_tuner_is_said_to_have_learnt_it(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    trial = """\
        import nni
        p = nni.get_next_parameter()
        nni.report_final_result(p["x"])
    """
    result = run_nnifc("create", "--config", str(experiment_files(trial, max_trials=2)))
    assert result.returncode == 0, result.stdout + result.stderr
    data = status_json(created_id(result))
    assert data["reason"] == "maxTrialNum reached (2 trials)"
    for t in data["trials"]:
        assert t["tuner"] == {"told": "final", "value": t["final"]}
    assert "experiment" in result.stdout and "DONE: maxTrialNum reached (2 trials)" in result.stdout


@pytest.mark.parametrize(
    ("extra", "tuner", "space", "reason"),
    [
        ("maxExecDuration: 2s\n", "Random", None, "maxExecDuration reached (2s)"),
        (
            "",
            "GridSearch",
            {"c": {"_type": "choice", "_value": [1, 2]}},
            "search space exhausted after 2 trials",
        ),
    ],
)
def test_the_reason_an_experiment_ended_is_said(
    home: Path,
    experiment_files: Callable[..., Path],
    extra: str,
    tuner: str,
    space: dict[str, object] | None,
    reason: str,
) -> None:
    trial = """\
        import time
        import nni
        nni.get_next_parameter()
        time.sleep(1.5)
        nni.report_final_result(1.0)
    """
    config_path = experiment_files(
        trial, max_trials=50, concurrency=1, extra=extra, tuner=tuner, space=space
    )
    result = run_nnifc("create", "--config", str(config_path))
    assert result.returncode == 0, result.stdout + result.stderr
    data = status_json(created_id(result))
    assert data["status"] == "DONE" and data["reason"] == reason
    shown = run_nnifc("status", created_id(result)).stdout
    assert reason in shown


def stopped_by_the_assessor(
    experiment_files: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    trial: str,
    *,
    decides_in: float,
    after_the_exit: bool = False,
) -> TrialRow:
    """One trial whose first intermediate result the assessor stops, deciding in `decides_in`
    seconds (the trial goes on meanwhile), or only once the trial has exited on its own when
    `after_the_exit`: the real loop, platform and trial process."""
    extra = "assessor: {builtinAssessorName: Medianstop, classArgs: {optimize_mode: maximize}}\n"
    experiment = config.load(experiment_files(trial, max_trials=1, concurrency=1, extra=extra))

    store = experiments.register(experiment)
    home_of_trials = experiment_dir(store.experiment().id)

    def slow_stop(self: object, curve: object, finished: object) -> Verdict:
        time.sleep(decides_in)
        deadline = time.monotonic() + 60
        while after_the_exit and not any(home_of_trials.rglob(EXIT_NAME)):
            assert time.monotonic() < deadline, "the trial never exited"
            time.sleep(0.02)
        return Verdict.STOP

    monkeypatch.setattr(ASSESSORS["Medianstop"], "assess", slow_stop)
    platform = LocalPlatform.of(experiment, experiment_dir(store.experiment().id))
    assert Scheduler(experiment, store, platform).run() is ExperimentStatus.DONE
    (only,) = store.trials()
    return only


REPORTS_FINAL = """\
    import time
    import nni
    nni.get_next_parameter()
    nni.report_intermediate_result(0.1)
    time.sleep(0.3)
    nni.report_final_result(0.9)
"""


def test_a_trial_that_ends_before_the_assessors_stop_lands_succeeded(
    home: Path,
    experiment_files: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    venv_first: None,
) -> None:
    """The race: the assessor decides on the intermediate result while the trial goes on to
    report its final metric and exit 0; the stop lands on a trial that already ended."""
    only = stopped_by_the_assessor(
        experiment_files, monkeypatch, REPORTS_FINAL, decides_in=0, after_the_exit=True
    )
    assert only.status is TrialStatus.SUCCEEDED, only.message
    assert only.final == 0.9 and only.message == ENDED_BEFORE_STOP and only.exit_code == 0


def test_a_trial_that_reported_its_final_metric_but_was_still_running_is_early_stopped(
    home: Path,
    experiment_files: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    venv_first: None,
) -> None:
    """Only a trial that ended on its own is SUCCEEDED: a final metric alone is not an end."""
    hangs = REPORTS_FINAL + "    time.sleep(60)  # tearing down, hung\n"
    only = stopped_by_the_assessor(experiment_files, monkeypatch, hangs, decides_in=1.5)
    assert only.status is TrialStatus.EARLY_STOPPED, only.message
    assert only.message == "stopped early by the assessor" and only.exit_code is None


def test_a_trial_the_assessor_stops_mid_run_is_early_stopped(
    home: Path,
    experiment_files: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    venv_first: None,
) -> None:
    started = time.monotonic()
    slow = REPORTS_FINAL.replace("time.sleep(0.3)", "time.sleep(60)")
    only = stopped_by_the_assessor(experiment_files, monkeypatch, slow, decides_in=0)
    assert only.status is TrialStatus.EARLY_STOPPED and only.final is None
    assert only.message == "stopped early by the assessor"
    assert time.monotonic() - started < 30


def test_resume_keeps_the_start_time_and_counts_no_downtime(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    experiment = config.load(experiment_files("", max_trials=3))
    store = experiments.register(experiment)
    row = store.experiment()
    with store.batch():  # a launcher that died a second after it started
        store.set_pid(None)
        store.beat(row.started + 1)
        store.set_experiment_status(ExperimentStatus.RUNNING, reason="")
    time.sleep(1.2)
    launcher.prepare_resume(Store.open(row.id))
    after = store.experiment()
    assert after.started == row.started
    assert after.paused == pytest.approx(time.time() - (row.started + 1), abs=0.5)


def test_a_done_experiment_given_more_trials_resumes(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    trial = """\
        import nni
        nni.get_next_parameter()
        nni.report_final_result(1.0)
    """
    result = run_nnifc("create", "--config", str(experiment_files(trial, max_trials=1)))
    exp_id = created_id(result)
    refused = run_nnifc("resume", exp_id)
    assert refused.returncode == 1 and "maxTrialNum reached (1 trial)" in refused.stderr
    updated = run_nnifc("update", exp_id, "--max-trials", "3")
    assert updated.returncode == 0, updated.stderr
    assert "maxTrialNum 1 -> 3" in updated.stdout and f"nnifc resume {exp_id}" in updated.stdout
    resumed = run_nnifc("resume", exp_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    data = status_json(exp_id)
    assert data["status"] == "DONE" and len(data["trials"]) == 3
    assert data["budget"]["maxTrialNum"] == 3


@pytest.fixture
def start_foreground(home: Path) -> Iterator[Callable[[Path], subprocess.Popen[str]]]:
    """`nnifc create` in the foreground; what a failed test leaves running is killed after it."""
    started: list[subprocess.Popen[str]] = []

    def start(config_path: Path) -> subprocess.Popen[str]:
        proc = start_nnifc("create", "--config", str(config_path))
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if (home / "experiments").is_dir():
        for exp_dir in (home / "experiments").iterdir():
            for pid in trial_processes(exp_dir.name):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def running_trials(home: Path) -> list[dict[str, object]]:
    ids = experiment_ids()  # under `home`, the NNIFC_HOME of the test
    if len(ids) != 1:
        return []
    return [t for t in status_json(ids[0])["trials"] if t["status"] == "RUNNING"]


SLOW_TRIAL = """\
    import time
    import nni
    nni.get_next_parameter()
    nni.report_intermediate_result(0.5)
    time.sleep(60)
"""


def test_ctrl_c_says_what_it_does_and_stops_the_trials(
    home: Path,
    experiment_files: Callable[..., Path],
    start_foreground: Callable[[Path], subprocess.Popen[str]],
) -> None:
    proc = start_foreground(experiment_files(SLOW_TRIAL, max_trials=4, concurrency=2))
    wait_for(lambda: len(running_trials(home)) == 2, what="2 running trials")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    exp_id = created_id(subprocess.CompletedProcess([], 0, out, err))
    assert (
        f"stopping: cancelling 2 running trials; Ctrl-C again to leave them running;"
        f" nnifc resume {exp_id} continues" in err
    )
    assert proc.returncode == NO_RESULT and "Traceback" not in err
    data = status_json(exp_id)
    assert data["status"] == "STOPPED" and data["reason"] == "stopped by the user"
    assert {t["status"] for t in data["trials"]} == {"USER_CANCELED"}


def test_a_second_ctrl_c_leaves_the_trials_running_for_resume(
    home: Path,
    experiment_files: Callable[..., Path],
    start_foreground: Callable[[Path], subprocess.Popen[str]],
) -> None:
    proc = start_foreground(experiment_files(SLOW_TRIAL, max_trials=4, concurrency=2))
    wait_for(lambda: len(running_trials(home)) == 2, what="2 running trials")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)  # as a person presses it twice; the trials are cancelled only after 1.5 s
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    exp_id = created_id(subprocess.CompletedProcess([], 0, out, err))
    assert proc.returncode == 130, err
    assert f"nnifc resume {exp_id} continues" in err and "Traceback" not in err
    data = status_json(exp_id)
    assert data["status"] == "RUNNING (launcher not running)", data["status"]
    assert len([t for t in data["trials"] if t["status"] == "RUNNING"]) == 2
    assert len(trial_processes(exp_id)) >= 2
    assert run_nnifc("stop", exp_id).returncode == 0
    wait_for(lambda: not trial_processes(exp_id), timeout=15, what="the trials to end")


def test_a_small_budget_of_failing_trials_is_failed_not_done(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    config_path = experiment_files("", command="python3 tiral.py", max_trials=2, concurrency=1)
    result = run_nnifc("create", "--config", str(config_path))
    assert result.returncode == NO_RESULT, result.stdout + result.stderr
    data = status_json(created_id(result))
    assert data["status"] == "FAILED" and data["reason"].startswith("2 of 2 trials FAILED")


def test_stop_without_a_loop_says_why_it_ended(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    from tests.conftest import loop_pid

    result = run_nnifc(
        "create", "--config", str(experiment_files(SLOW_TRIAL, max_trials=2)), "--detach"
    )
    exp_id = created_id(result)
    wait_for(lambda: len(running_trials(home)) == 2, what="2 running trials")
    os.kill(loop_pid(exp_id), signal.SIGKILL)
    assert run_nnifc("stop", exp_id).returncode == 0
    data = status_json(exp_id)
    assert data["status"] == "STOPPED" and data["reason"] == "stopped by the user"
    assert {t["status"] for t in data["trials"]} == {"USER_CANCELED"}
    assert all(t["tuner"] == {"told": "nothing", "value": None} for t in data["trials"])
