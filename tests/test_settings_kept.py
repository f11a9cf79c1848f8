"""An experiment outlives its config file and codeDir: the platform's settings are kept in the store
at create, so `status`, `logs`, `stop` and `resume` never read the config again (issue 18)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from nnifc.store import experiment_dir
from tests.conftest import created_id, loop_pid, run_nnifc, status_json, trial_processes, wait_for
from tests.k8sim.fixture import KubeCluster, kube_cluster
from tests.test_frameworkcontroller_e2e import TRIAL, cluster, framework_objects, write_config
from tests.test_local_e2e import RESUMABLE_TRIAL

if TYPE_CHECKING:
    from tests.ganesha import Ganesha

pytest_plugins = ["tests.ganesha"]
__all__ = ["cluster", "kube_cluster"]

BROKEN = "trainingServicePlatform: [this is not\n"


def break_everything(tmp_path: Path, config: Path) -> None:
    """What a user may do once an experiment runs: edit the config into nonsense, remove the
    search space and the code."""
    config.write_text(BROKEN)
    (tmp_path / "space.json").unlink()
    shutil.rmtree(tmp_path / "code")


def test_a_cluster_experiment_is_shown_logged_and_resumed_without_its_files(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    paced = TRIAL.replace("time.sleep(0.1)", "time.sleep(0.7)")
    config = write_config(tmp_path, nfs_server, trials=4, trial=paced)
    exp_id = created_id(run_nnifc("create", "--config", str(config), "--detach"))
    wait_for(
        lambda: sum(t["status"] == "RUNNING" for t in status_json(exp_id)["trials"]) == 2,
        what="2 running",
    )
    os.kill(loop_pid(exp_id), signal.SIGKILL)
    break_everything(tmp_path, config)

    shown = run_nnifc("status", exp_id)
    assert shown.returncode == 0, shown.stderr
    first = status_json(exp_id)["trials"][0]["id"]

    def logged_start() -> bool:  # RUNNING comes before the trial has imported nni and printed
        logged = run_nnifc("logs", first, "--role", "worker", "--index", "0")
        assert logged.returncode == 0, logged.stderr
        return "worker 0 starts in" in logged.stdout

    wait_for(logged_start, what="worker 0's first line in `nnifc logs`")

    resumed = run_nnifc("resume", exp_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    data = status_json(exp_id)
    assert data["status"] == "DONE"
    assert [t["status"] for t in data["trials"]] == ["SUCCEEDED"] * 4
    names = [body["metadata"]["name"] for body in cluster.created("frameworks")]
    assert len(names) == len(set(names)) == 4  # none created twice
    for trial in data["trials"]:
        worker = run_nnifc("logs", trial["id"], "--role", "worker", "--index", "1")
        assert trial["final"] == float(worker.stdout.split("FINAL=")[1].split()[0])


def test_a_cluster_experiment_is_stopped_without_its_files(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    slow = TRIAL.replace('if role == "ps":', "if True:")
    config = write_config(tmp_path, nfs_server, trials=4, trial=slow)
    exp_id = created_id(run_nnifc("create", "--config", str(config), "--detach"))
    wait_for(lambda: len(framework_objects(cluster)) == 2, what="2 Frameworks")
    break_everything(tmp_path, config)

    stopped = run_nnifc("stop", exp_id)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert status_json(exp_id)["status"] == "STOPPED"
    wait_for(
        lambda: not framework_objects(cluster) and not cluster.objects("pods"),
        timeout=30,
        what="the Frameworks and pods to go",
    )


def test_an_experiment_from_before_settings_were_kept_still_stops(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    """A store written by an nnifc that kept no settings: the platform comes from the config as
    stored (its text, not the file)."""
    slow = TRIAL.replace('if role == "ps":', "if True:")
    config = write_config(tmp_path, nfs_server, trials=2, trial=slow)
    exp_id = created_id(run_nnifc("create", "--config", str(config), "--detach"))
    wait_for(lambda: len(framework_objects(cluster)) == 2, what="2 Frameworks")
    os.kill(loop_pid(exp_id), signal.SIGKILL)
    with sqlite3.connect(experiment_dir(exp_id) / "nnifc.db") as db:
        db.execute("UPDATE experiment SET settings = ''")
    config.write_text(BROKEN)

    stopped = run_nnifc("stop", exp_id)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    wait_for(lambda: not framework_objects(cluster), timeout=30, what="the Frameworks to go")


def test_a_local_experiment_without_its_files_is_shown_and_stopped_and_refuses_to_resume(
    home: Path, tmp_path: Path, experiment_files: Callable[..., Path]
) -> None:
    config = experiment_files(RESUMABLE_TRIAL.replace("0.5", "3"), max_trials=6, concurrency=2)
    exp_id = created_id(run_nnifc("create", "--config", str(config), "--detach"))
    wait_for(lambda: len(trial_processes(exp_id)) >= 2, what="running trials")
    wait_for(lambda: bool(status_json(exp_id)["trials"][0]["intermediate"]), what="a result")
    os.kill(loop_pid(exp_id), signal.SIGKILL)
    break_everything(tmp_path, config)

    assert run_nnifc("status", exp_id).returncode == 0
    first = status_json(exp_id)["trials"][0]["id"]
    assert run_nnifc("logs", first).returncode == 0

    refused = run_nnifc("resume", exp_id)
    assert refused.returncode == 1
    assert f"trial.codeDir {tmp_path / 'code'} is gone" in refused.stderr
    assert "Traceback" not in refused.stderr

    stopped = run_nnifc("stop", exp_id)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    deadline = time.monotonic() + 10
    while trial_processes(exp_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not trial_processes(exp_id)
    ended = status_json(exp_id)
    assert ended["status"] == "ERROR"  # the resume failed, and says why
    assert "is gone" in json.dumps(ended)
