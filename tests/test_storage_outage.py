"""Issue 17: a storage outage of any length, or a launcher that fails, loses no trial.

The real CLI against the Kubernetes double and its FrameworkController simulator, with the
trials' outputs on a real nfs-ganesha that is killed (refusing) or SIGSTOPped (hanging) for
longer than every retry budget of the launcher's NFS client. The trial pods write to the export
directly, so trials end while the launcher cannot read what they wrote.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from nnifc.scheduler import LAUNCHER_FAILED
from nnifc.store import Store, experiment_dir
from tests.conftest import created_id, loop_pid, run_nnifc, status_json, wait_for
from tests.k8sim.fixture import KubeCluster, kube_cluster
from tests.test_chaos import write_experiment

if TYPE_CHECKING:
    from tests.ganesha import Ganesha

pytest_plugins = ["tests.ganesha"]
__all__ = ["kube_cluster"]

# Longer than one read's every retry (5 attempts, 7.5 s of backoff) with margin.
OUTAGE_SECONDS = 20.0


@pytest.fixture
def cluster(kube_cluster: KubeCluster, nfs_server: Ganesha, home: Path) -> Iterator[KubeCluster]:
    kube_cluster.nfs_exports[(nfs_server.server, nfs_server.path)] = nfs_server.local_dir
    yield kube_cluster
    nfs_server.start()  # session-scoped: the next test needs it whatever happened here


def completed(cluster: KubeCluster) -> int:
    return sum(
        (f.get("status") or {}).get("state") == "Completed" for f in cluster.objects("frameworks")
    )


def heartbeat(exp_id: str) -> float:
    return Store.open(exp_id).experiment().heartbeat or 0.0


def printed_final(exp_id: str, trial_id: str) -> float:
    logs = run_nnifc("logs", exp_id, trial_id)
    match = re.search(r"FINAL=([0-9.e+-]+)", logs.stdout)
    assert match, logs.stdout + logs.stderr
    return float(match.group(1))


def assert_all_succeeded_as_printed(exp_id: str, trials: int) -> None:
    data = status_json(exp_id)
    assert data["status"] == "DONE", data
    assert [t["status"] for t in data["trials"]] == ["SUCCEEDED"] * trials, data["trials"]
    for trial in data["trials"]:
        assert trial["final"] == printed_final(exp_id, trial["id"]), trial


def outage_while_trials_end(
    cluster: KubeCluster, nfs: Ganesha, exp_id: str, *, hang: bool
) -> dict[str, object]:
    """Take the storage away once 3 trials run, until they have all ended and OUTAGE_SECONDS
    have passed; what `status` said meanwhile."""
    wait_for(
        lambda: sum(t["status"] == "RUNNING" for t in status_json(exp_id)["trials"]) == 3,
        what="3 running trials",
    )
    assert nfs.process is not None
    if hang:
        os.kill(nfs.process.pid, signal.SIGSTOP)
    else:
        nfs.stop()
    down_at = time.monotonic()
    during: dict[str, object] = {}
    try:
        wait_for(lambda: completed(cluster) == 3, what="the 3 Frameworks to complete")
        during["completed at"] = time.time()
        beat = heartbeat(exp_id)
        time.sleep(max(0.0, down_at + OUTAGE_SECONDS - time.monotonic()))
        during.update(status_json(exp_id))
        assert heartbeat(exp_id) > beat, "the loop stalled: no heartbeat during the outage"
        assert len(cluster.objects("frameworks")) == 3, "a Framework was deleted meanwhile"
    finally:
        if hang:
            os.kill(nfs.process.pid, signal.SIGCONT)
        else:
            nfs.start()
    return during


@pytest.mark.parametrize("hang", [False, True], ids=["killed", "sigstopped"])
def test_a_long_nfs_outage_loses_no_trial_and_keeps_their_times(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path, hang: bool
) -> None:
    config = write_experiment(tmp_path, trials=3, concurrency=3, nfs=nfs_server)
    created = run_nnifc("create", "--config", str(config), "--detach")
    assert created.returncode == 0, created.stdout + created.stderr
    exp_id = created_id(created)

    during = outage_while_trials_end(cluster, nfs_server, exp_id, hang=hang)
    assert during["status"] == "NO_MORE_TRIAL", during  # all 3 submitted, none ended yet
    trials = during["trials"]
    assert isinstance(trials, list)
    assert {t["status"] for t in trials} <= {"RUNNING", "WAITING"}, trials
    message = str(during["message"])
    # a read on a connection the server dropped hangs until the client's timeout, as on a
    # hung server; a refused one fails at once
    assert re.search(r"storage (unreachable|not answering) since \d\d:\d\d:\d\d", message), message
    assert "3 trials waiting for their outputs" in message, message

    wait_for(lambda: status_json(exp_id)["status"] == "DONE", timeout=120, what="DONE")
    assert_all_succeeded_as_printed(exp_id, 3)
    data = status_json(exp_id)
    assert data["message"] is None, data["message"]
    with sqlite3.connect(experiment_dir(exp_id) / "nnifc.db") as db:
        ended = [e for (e,) in db.execute("SELECT ended FROM trial")]
    # ended when their Frameworks completed, not when the outputs were read after the outage
    completed_at = float(during["completed at"])  # type: ignore[arg-type]
    assert all(e <= completed_at + 1 for e in ended), (ended, completed_at)
    assert cluster.objects("frameworks") == []


def test_resume_during_an_outage_leaves_the_trials_running(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    """The launcher dies, and the resume fails on the storage: it cancels nothing, deletes no
    Framework; a resume once the storage is back finds every result."""
    config = write_experiment(tmp_path, trials=3, concurrency=3, nfs=nfs_server)
    created = run_nnifc("create", "--config", str(config), "--detach")
    assert created.returncode == 0, created.stdout + created.stderr
    exp_id = created_id(created)
    wait_for(lambda: len(cluster.objects("frameworks")) == 3, what="3 Frameworks")
    os.kill(loop_pid(exp_id), signal.SIGKILL)
    nfs_server.stop()
    try:
        resumed = run_nnifc("resume", exp_id)
        assert resumed.returncode == 1, resumed.stdout + resumed.stderr
        assert "Traceback" not in resumed.stderr
        assert "NFS" in resumed.stderr, resumed.stderr
        data = status_json(exp_id)
        assert data["status"] == "ERROR", data
        assert "3 trials left running" in str(data["reason"]), data["reason"]
        assert {t["status"] for t in data["trials"]} <= {"RUNNING", "WAITING"}, data["trials"]
        assert len(cluster.objects("frameworks")) == 3, "the failed resume deleted Frameworks"
        wait_for(lambda: completed(cluster) == 3, what="the trials to end on their own")
    finally:
        nfs_server.start()
    resumed = run_nnifc("resume", exp_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert_all_succeeded_as_printed(exp_id, 3)


def test_resume_reads_again_the_trials_an_old_launcher_cancelled_on_error(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    """Before this fix a failing launcher recorded its trials SYS_CANCELED without their
    results; their outputs on the share still say how they ended."""
    config = write_experiment(tmp_path, trials=2, concurrency=2, nfs=nfs_server)
    created = run_nnifc("create", "--config", str(config))
    assert created.returncode == 0, created.stdout + created.stderr
    exp_id = created_id(created)
    with sqlite3.connect(experiment_dir(exp_id) / "nnifc.db") as db:  # as the old launcher left it
        db.execute("DELETE FROM metric")
        db.execute(
            "UPDATE trial SET status = 'SYS_CANCELED', message = ?, exit_code = NULL,"
            " told = 'nothing', told_value = NULL",
            (LAUNCHER_FAILED,),
        )
        db.execute("UPDATE experiment SET status = 'ERROR', reason = 'the launcher failed: x'")
    resumed = run_nnifc("resume", exp_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert_all_succeeded_as_printed(exp_id, 2)
    data = status_json(exp_id)
    for trial in data["trials"]:
        assert "read again on resume" in trial["message"], trial
        assert trial["intermediate"] == [trial["final"] + step for step in range(6)], trial
        assert trial["tuner"]["told"] != "nothing", trial


def test_stop_without_a_launcher_returns_once_the_frameworks_are_gone(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    """Pods whose PID 1 ignores SIGTERM, as a shell does in a real container, live out their
    grace period after the delete: `stop` waits for them before it says STOPPED."""
    cluster.kubelet.term_ignored = True
    cluster.kubelet.kill_grace = 4.0
    config = write_experiment(tmp_path, trials=2, concurrency=2, nfs=nfs_server)
    (tmp_path / "code" / "trial.py").write_text(
        "import time\nimport nni\nnni.get_next_parameter()\ntime.sleep(120)\n"
    )
    created = run_nnifc("create", "--config", str(config), "--detach")
    assert created.returncode == 0, created.stdout + created.stderr
    exp_id = created_id(created)
    wait_for(
        lambda: sum(t["status"] == "RUNNING" for t in status_json(exp_id)["trials"]) == 2,
        what="2 running",
    )
    os.kill(loop_pid(exp_id), signal.SIGKILL)
    stopped = run_nnifc("stop", exp_id)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert stopped.stdout.strip() == f"experiment {exp_id}: STOPPED", stopped.stdout
    assert cluster.objects("frameworks") == [], "stop said STOPPED with Frameworks terminating"
    assert cluster.objects("pods") == []
    assert json.loads(run_nnifc("status", exp_id, "--json").stdout)["status"] == "STOPPED"
