"""Steering a running experiment on the local platform, as nnictl's update, trial kill and
experiment delete did: the real CLI, a detached loop and real trial processes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import (
    created_id,
    run_nnifc,
    status_json,
    trial_processes,
    wait_for,
)

SLOW = """\
    import time
    import nni
    p = nni.get_next_parameter()
    nni.report_intermediate_result(p["x"])
    time.sleep(float(__import__("os").environ.get("TRIAL_SLEEP", "60")))
    nni.report_final_result(p["x"])
"""
SHORT = SLOW.replace('"60"', '"1.5"')


def processes_of(trial_id: str) -> list[str]:
    """Live processes started for one trial (found by the env nnifc gave them)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if f"NNI_TRIAL_JOB_ID={trial_id}".encode() in environ and state != "Z":
            found.append(entry.name)
    return found


def running(exp_id: str) -> list[dict[str, object]]:
    return [t for t in status_json(exp_id)["trials"] if t["status"] == "RUNNING"]


def start(experiment_files: Callable[..., Path], trial: str, **options: object) -> str:
    result = run_nnifc("create", "--config", str(experiment_files(trial, **options)), "--detach")
    assert result.returncode == 0, result.stderr
    return created_id(result)


def test_update_concurrency_and_trials_is_picked_up_by_the_running_loop(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    exp_id = start(experiment_files, SHORT, max_trials=2, concurrency=1)
    wait_for(lambda: len(running(exp_id)) == 1, what="one running trial")
    updated = run_nnifc("update", exp_id[:4], "--concurrency", "3", "--max-trials", "5")
    assert updated.returncode == 0, updated.stderr
    assert updated.stdout.splitlines() == ["trialConcurrency 1 -> 3", "maxTrialNum 2 -> 5"]
    wait_for(lambda: len(running(exp_id)) == 3, timeout=10, what="three running trials")
    wait_for(lambda: status_json(exp_id)["status"] == "DONE", what="the end")
    data = status_json(exp_id)
    assert len(data["trials"]) == 5 and data["reason"] == "maxTrialNum reached (5 trials)"
    assert data["budget"]["trialConcurrency"] == 3


def test_update_search_space_is_validated_like_the_config_and_used(
    home: Path, experiment_files: Callable[..., Path], tmp_path: Path
) -> None:
    exp_id = start(experiment_files, SHORT, max_trials=4, concurrency=1)
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "x": {"_type": "uniform", "_value": [1]}\n}\n')
    refused = run_nnifc("update", exp_id, "--search-space", str(bad))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"{bad}:2:" in refused.stderr and "x" in refused.stderr
    narrow = tmp_path / "narrow.json"
    narrow.write_text(
        json.dumps(
            {
                "x": {"_type": "uniform", "_value": [5, 6]},
                "k": {"_type": "randint", "_value": [1, 2]},
            }
        )
    )
    updated = run_nnifc("update", exp_id, "--search-space", str(narrow))
    assert updated.returncode == 0, updated.stderr
    wait_for(lambda: status_json(exp_id)["status"] == "DONE", what="the end")
    trials = status_json(exp_id)["trials"]
    assert 5 <= trials[-1]["parameters"]["x"] <= 6, trials  # proposed from the new space


def test_update_refuses_bad_values_before_writing_anything(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    result = run_nnifc("create", "--config", str(experiment_files("", max_trials=1)))
    exp_id = created_id(result)
    for args, said in [
        (["--concurrency", "0"], "--concurrency: must be between 1 and 99999, got 0"),
        (["--duration", "10 minutes"], "--duration: must be a whole number and a unit"),
        ([], "nothing to update"),
    ]:
        refused = run_nnifc("update", exp_id, *args)
        assert refused.returncode == 1 and said in refused.stderr, refused.stderr
    assert status_json(exp_id)["budget"]["trialConcurrency"] == 2


def test_kill_ends_one_trial_and_the_loop_starts_another(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    exp_id = start(experiment_files, SLOW, max_trials=4, concurrency=2)
    wait_for(lambda: len(running(exp_id)) == 2, what="two running trials")
    victim = str(running(exp_id)[0]["id"])
    killed = run_nnifc("kill", victim[:3] if len(victim) > 3 else victim)
    assert killed.returncode == 0, killed.stderr
    assert f"trial {victim} of experiment {exp_id}: USER_CANCELED" in killed.stdout
    wait_for(lambda: len(status_json(exp_id)["trials"]) == 3, timeout=10, what="a third trial")
    trial = next(t for t in status_json(exp_id)["trials"] if t["id"] == victim)
    assert trial["status"] == "USER_CANCELED" and trial["message"] == "killed by the user"
    wait_for(lambda: not processes_of(victim), timeout=10, what="the killed trial's processes")
    again = run_nnifc("kill", exp_id, victim)
    assert again.returncode == 0 and "had already ended: USER_CANCELED" in again.stdout
    assert run_nnifc("stop", exp_id).returncode == 0


def test_kill_without_a_loop_stops_the_trial_itself(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    import os
    import signal

    from tests.conftest import loop_pid

    exp_id = start(experiment_files, SLOW, max_trials=2, concurrency=1)
    wait_for(lambda: len(running(exp_id)) == 1, what="a running trial")
    os.kill(loop_pid(exp_id), signal.SIGKILL)
    victim = str(running(exp_id)[0]["id"])
    killed = run_nnifc("kill", exp_id, victim)
    assert killed.returncode == 0, killed.stderr
    assert "USER_CANCELED" in killed.stdout
    wait_for(lambda: not trial_processes(exp_id), timeout=15, what="the trial's processes to end")


def test_unknown_and_ambiguous_trial_ids_say_how_to_list_them(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    result = run_nnifc("create", "--config", str(experiment_files("", max_trials=1)))
    exp_id = created_id(result)
    unknown = run_nnifc("logs", exp_id, "zzzzz")
    assert unknown.returncode == 1
    assert f"no trial 'zzzzz' in experiment {exp_id}; list them with `nnifc status {exp_id}`" in (
        unknown.stderr
    )
    nowhere = run_nnifc("kill", "zzzzz")
    assert nowhere.returncode == 1 and "nnifc status EXP" in nowhere.stderr
    (trial,) = status_json(exp_id)["trials"]
    by_prefix = run_nnifc("logs", str(trial["id"])[:2])
    assert by_prefix.returncode == 0, by_prefix.stderr


def test_delete_refuses_a_running_experiment_unless_forced(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    exp_id = start(experiment_files, SLOW, max_trials=2, concurrency=1)
    wait_for(lambda: len(running(exp_id)) == 1, what="a running trial")
    refused = run_nnifc("delete", exp_id)
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert (home / "experiments" / exp_id).is_dir()
    deleted = run_nnifc("delete", exp_id, "--force")
    assert deleted.returncode == 0, deleted.stderr
    assert f"experiment {exp_id} deleted" in deleted.stdout
    assert not (home / "experiments" / exp_id).exists()
    assert not trial_processes(exp_id)
    gone = run_nnifc("status", exp_id)
    assert gone.returncode == 1 and "no experiment" in gone.stderr


def test_import_twice_adds_nothing_and_shows_in_status(
    home: Path, experiment_files: Callable[..., Path], tmp_path: Path
) -> None:
    result = run_nnifc("create", "--config", str(experiment_files("", max_trials=1)))
    exp_id = created_id(result)
    points = tmp_path / "points.json"
    points.write_text(
        json.dumps(
            [
                {"parameter": {"x": 0.5, "k": 2}, "value": 0.7},
                {"parameter": {"x": 0.25, "k": 3}, "value": 0.2},
            ]
        )
    )
    first = run_nnifc("import", exp_id, "-f", str(points))
    assert first.returncode == 0 and "2 finished points imported" in first.stdout
    second = run_nnifc("import", exp_id, "-f", str(points))
    assert second.returncode == 0, second.stderr
    assert "0 finished points imported" in second.stdout and "2 already imported" in second.stdout
    assert status_json(exp_id)["imported"] == 2
    assert "imported" in run_nnifc("status", exp_id).stdout


def test_a_search_space_with_other_keys_goes_on_with_tpe(
    home: Path, experiment_files: Callable[..., Path], tmp_path: Path
) -> None:
    """Results and running trials from the old space must not reach a tuner of the new one."""
    exp_id = start(experiment_files, SHORT, max_trials=8, concurrency=2, tuner="TPE")
    wait_for(lambda: len(status_json(exp_id)["trials"]) >= 3, what="a few trials")
    renamed = tmp_path / "renamed.json"
    renamed.write_text(
        json.dumps(
            {
                "x": {"_type": "uniform", "_value": [0, 1]},
                "z": {"_type": "choice", "_value": [1, 2]},
            }
        )
    )
    assert run_nnifc("update", exp_id, "--search-space", str(renamed)).returncode == 0
    wait_for(lambda: status_json(exp_id)["status"] == "DONE", what="the end")
    data = status_json(exp_id)
    assert data["reason"] == "maxTrialNum reached (8 trials)", data["reason"]
    assert "z" in data["trials"][-1]["parameters"]
    resumed = run_nnifc("update", exp_id, "--max-trials", "9")
    assert resumed.returncode == 0
    again = run_nnifc("resume", exp_id)  # the tuner is rebuilt from the stored space
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(status_json(exp_id)["trials"]) == 9


def test_ambiguous_and_empty_ids_and_huge_values_are_refused(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    result = run_nnifc(
        "create",
        "--config",
        str(experiment_files("", command="true", max_trials=40, concurrency=8)),
    )
    exp_id = created_id(result)
    ids = [str(t["id"]) for t in status_json(exp_id)["trials"]]
    shared = next(c for c in sorted({i[0] for i in ids}) if sum(i[0] == c for i in ids) > 1)
    ambiguous = run_nnifc("logs", exp_id, shared)
    assert ambiguous.returncode == 1
    assert f"{shared!r} matches several trials of experiment {exp_id}" in ambiguous.stderr
    for args in (["delete", ""], ["kill", exp_id, ""], ["logs", ""]):
        refused = run_nnifc(*args)
        assert refused.returncode == 1 and "must not be empty" in refused.stderr, args
    assert (home / "experiments" / exp_id).is_dir()
    huge = run_nnifc("update", exp_id, "--duration", "99999999999999999d")
    assert (
        huge.returncode == 1 and "at most 99999d" in huge.stderr and "Traceback" not in huge.stderr
    )
