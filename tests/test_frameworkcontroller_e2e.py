"""End to end on FrameworkController: the real CLI and client against the API double and its
FrameworkController simulator, code and outputs on a real nfs-ganesha, the real nni in trials."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest
from kubernetes import client

from nnifc.platforms.frameworkcontroller.k8s import connect
from nnifc.platforms.frameworkcontroller.manifest import GROUP, PLURAL, VERSION
from tests.conftest import checked_status, created_id, loop_pid, run_nnifc, status_json, wait_for
from tests.fcconfig import Role, fc_config, nfs_storage
from tests.k8sim.fixture import KubeCluster, kube_cluster

if TYPE_CHECKING:
    from tests.ganesha import Ganesha

pytest_plugins = ["tests.ganesha"]
__all__ = ["kube_cluster"]

SCHEMA = json.loads((Path(__file__).parent / "schemas/framework.schema.json").read_text())

TRIAL = """\
    import os
    import time
    import nni

    params = nni.get_next_parameter()
    role = os.environ["FC_TASKROLE_NAME"]
    print(f"{role} {os.environ['FC_TASK_INDEX']} starts in {os.getcwd()}", flush=True)
    if role == "ps":
        time.sleep(60)  # a parameter server runs until the workers are done
    score = params["x"] * 10 + params["k"]
    for step in range(3):
        nni.report_intermediate_result(score + step)
        time.sleep(0.1)
    print(f"FINAL={score!r}", flush=True)
    nni.report_final_result(score)
"""


SPACE = {
    "x": {"_type": "uniform", "_value": [0, 1]},
    "k": {"_type": "randint", "_value": [1, 5]},
}


def write_config(tmp_path: Path, nfs: Ganesha, *, trials: int = 3, trial: str = TRIAL) -> Path:
    """A ps and two workers per trial; the codeDir's data/ is left out by its .nniignore."""
    config = fc_config(
        tmp_path,
        nfs_storage(nfs.server, nfs.path),
        trial=trial,
        space=SPACE,
        name="example_mnist",
        trials=trials,
        concurrency=2,
        roles=(Role("ps", min_succeeded=-1), Role("worker", task_num=2, min_succeeded=2)),
        tuner={"builtinTunerName": "TPE", "classArgs": {"optimize_mode": "maximize"}},
        # trials report 3 steps: every trial runs to its end
        assessor={
            "builtinAssessorName": "Medianstop",
            "classArgs": {"optimize_mode": "maximize", "start_step": 10},
        },
        extra={"authorName": "default", "maxExecDuration": "10h", "useAnnotation": False},
    )
    code = tmp_path / "code"
    (code / ".nniignore").write_text("data/\n")
    (code / "data").mkdir(exist_ok=True)
    (code / "data" / "big.bin").write_bytes(b"x" * 1024)
    return config


@pytest.fixture
def cluster(kube_cluster: KubeCluster, nfs_server: Ganesha, home: Path) -> KubeCluster:
    """The cluster double with the NFS export mapped; NNIFC_HOME is the test's own (`home`)."""
    kube_cluster.nfs_exports[(nfs_server.server, nfs_server.path)] = nfs_server.local_dir
    return kube_cluster


def start_slow(tmp_path: Path, nfs: Ganesha, *, trials: int) -> str:
    """Start, detached, an experiment whose tasks all run for a minute; its id."""
    slow = TRIAL.replace('if role == "ps":', "if True:")
    config = write_config(tmp_path, nfs, trials=trials, trial=slow)
    result = run_nnifc("create", "--config", str(config), "--detach")
    assert result.returncode == 0, result.stderr
    return created_id(result)


def framework_objects(cluster: KubeCluster) -> list[dict[str, Any]]:
    return cluster.objects("frameworks")


def test_experiment_runs_end_to_end(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    result = run_nnifc("create", "--config", str(write_config(tmp_path, nfs_server)))
    assert result.returncode == 0, result.stdout + result.stderr
    exp_id = created_id(result)
    data = status_json(exp_id)
    assert data["status"] == "DONE", data
    assert len(data["trials"]) == 3
    for trial in data["trials"]:
        assert trial["status"] == "SUCCEEDED", trial["message"]
        worker = run_nnifc("logs", trial["id"], "--role", "worker", "--index", "1")
        assert worker.returncode == 0, worker.stderr
        printed = float(worker.stdout.split("FINAL=")[1].split()[0])
        assert trial["final"] == printed
        assert trial["intermediate"][:3] == [printed, printed + 1, printed + 2]
        assert "worker 1 starts in /nnifc/work" in worker.stdout
    created = cluster.created("frameworks")
    assert len(created) == 3
    for body in created:
        jsonschema.validate(body, SCHEMA)
    # finished Frameworks, their pods and the experiment's Secrets are all gone
    assert framework_objects(cluster) == [] and cluster.objects("pods") == []
    exported = nfs_server.local_dir / "nni" / exp_id
    assert (exported / "code" / "trial.py").is_file() and not (exported / "code" / "data").exists()


def test_stop_mid_run_leaves_nothing_behind(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    exp_id = start_slow(tmp_path, nfs_server, trials=4)
    wait_for(
        lambda: sum(t["status"] == "RUNNING" for t in status_json(exp_id)["trials"]) == 2,
        what="2 running",
    )
    stopped = run_nnifc("stop", exp_id)
    assert stopped.returncode == 0, stopped.stderr
    data = status_json(exp_id)
    assert data["status"] == "STOPPED"
    assert {t["status"] for t in data["trials"]} == {"USER_CANCELED"}, data["trials"]
    wait_for(
        lambda: not framework_objects(cluster) and not cluster.objects("pods"),
        timeout=20,
        what="cleanup",
    )
    assert cluster.objects("secrets") == []
    assert cluster.processes() == []


def test_api_faults_and_dropped_watches_lose_nothing(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    cluster.faults.error_rate = 0.05
    cluster.faults.drop_watches_every = 1.0
    cluster.faults.fail_next(2, 500, verb="create", resource="frameworks")
    cluster.faults.fail_next(1, 429, verb="deletecollection", resource="frameworks")
    cluster.faults.fail_next(1, 503, verb="list", resource="frameworks")
    result = run_nnifc("create", "--config", str(write_config(tmp_path, nfs_server, trials=4)))
    assert result.returncode == 0, result.stdout + result.stderr
    data = status_json(created_id(result))
    assert [t["status"] for t in data["trials"]] == ["SUCCEEDED"] * 4
    assert all(t["final"] is not None and len(t["intermediate"]) >= 3 for t in data["trials"])
    injected = [r for r in cluster.requests if r.status in (429, 500)]
    assert len(injected) >= 3, "too few faults were injected to prove anything"
    assert len(cluster.created("frameworks")) == 4  # a retried create never made a second Framework


def test_a_failing_task_fails_the_trial_with_its_output(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    failing = """\
        import os
        import sys
        import nni

        nni.get_next_parameter()
        if os.environ["FC_TASKROLE_NAME"] == "worker" and os.environ["FC_TASK_INDEX"] == "1":
            print("worker 1 cannot read its shard", flush=True)
            sys.exit(3)
        import time
        time.sleep(30)
    """
    result = run_nnifc(
        "create", "--config", str(write_config(tmp_path, nfs_server, trials=1, trial=failing))
    )
    assert result.returncode == 3, result.stderr  # the experiment FAILED: its only trial did
    (trial,) = status_json(created_id(result))["trials"]
    assert trial["status"] == "FAILED"
    assert "task worker_1" in trial["message"] and "code 3" in trial["message"]
    assert trial["message"].endswith("last output: worker 1 cannot read its shard")
    assert cluster.processes() == []


def test_image_that_never_pulls_fails_after_the_pending_timeout(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    config = write_config(tmp_path, nfs_server, trials=1)
    config.write_text(
        config.read_text().replace("msranni/nni:latest", "example.com/missing:1")
        + "  pendingTimeout: 10s\n"
    )
    cluster.bad_images.add("example.com/missing:1")
    result = run_nnifc("create", "--config", str(config), "--detach")
    exp_id = created_id(result)
    wait_for(
        lambda: any("ImagePullBackOff" in t["message"] for t in status_json(exp_id)["trials"]),
        timeout=30,
        what="reason",
    )
    assert status_json(exp_id)["trials"][0]["status"] == "WAITING"
    wait_for(
        lambda: status_json(exp_id)["status"] == "FAILED", timeout=30, what="the experiment to end"
    )
    data = status_json(exp_id)  # its only trial failed: the experiment did
    (trial,) = data["trials"]
    assert trial["status"] == "FAILED" and data["reason"].startswith("1 of 1 trial FAILED")
    assert trial["message"].startswith("pods still pending after 10s: pod nniexp")
    assert "ImagePullBackOff" in trial["message"]
    wait_for(lambda: not framework_objects(cluster), timeout=10, what="the Framework to be deleted")


def test_a_framework_deleted_behind_our_back_is_sys_canceled(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    exp_id = start_slow(tmp_path, nfs_server, trials=1)
    wait_for(
        lambda: (
            status_json(exp_id)["trials"]
            and status_json(exp_id)["trials"][0]["status"] == "RUNNING"
        )
    )
    (framework,) = framework_objects(cluster)
    api = connect()
    try:
        name = framework["metadata"]["name"]
        # with the generated client, not nnifc's calls
        custom = client.CustomObjectsApi(api.api)
        custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, name)
    finally:
        api.close()
    wait_for(
        lambda: status_json(exp_id)["status"] == "DONE", timeout=30, what="the experiment to end"
    )
    (trial,) = status_json(exp_id)["trials"]
    assert trial["status"] == "SYS_CANCELED"
    assert trial["message"] == "its Framework was deleted outside nnifc"


def test_nfs_server_down_at_start_is_a_clear_error_and_creates_nothing(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path, home: Path
) -> None:
    config = write_config(tmp_path, nfs_server)
    nfs_server.stop()
    try:
        result = run_nnifc("create", "--config", str(config))
    finally:
        nfs_server.start()
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: ") and f"{nfs_server.server}:{nfs_server.port}" in line
    assert "Traceback" not in result.stderr
    assert not home.exists()
    assert cluster.created("frameworks") == [] and cluster.created("secrets") == []


def test_missing_framework_controller_and_permissions_are_reported_before_anything(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path, home: Path
) -> None:
    config = write_config(tmp_path, nfs_server)
    cluster.faults.crd_installed = False
    missing = run_nnifc("create", "--config", str(config))
    assert missing.returncode == 1
    assert "FrameworkController is not installed in the cluster of context 'sim'" in missing.stderr
    cluster.faults.crd_installed = True
    cluster.faults.deny("create", "frameworks")
    cluster.faults.deny("list", "pods")
    denied = run_nnifc("create", "--config", str(config))
    assert denied.returncode == 1
    assert (
        "context 'sim' lacks permissions in namespace 'default': create frameworks, list pods"
        in denied.stderr
    )
    assert not home.exists() and cluster.created("frameworks") == []


def test_dry_run_prints_a_valid_framework(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path, home: Path
) -> None:
    result = run_nnifc("create", "--config", str(write_config(tmp_path, nfs_server)), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "checks passed; nothing was created" in result.stdout
    from ruamel.yaml import YAML

    text = result.stdout.split("the first trial's Framework:\n", 1)[1].split("checks passed")[0]
    jsonschema.validate(YAML(typ="safe").load(text), SCHEMA)
    assert not home.exists() and cluster.created("frameworks") == []


def test_context_namespace_pull_secret_and_exact_commands(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    kubeconfig = cluster.kubeconfig.read_text()
    # a second, broken context is the current one: --context must pick the working one
    broken = kubeconfig.replace("server: ", "server: http://127.0.0.1:9/x#").replace(
        "name: sim", "name: other"
    )
    cluster.kubeconfig.write_text(
        kubeconfig.replace("current-context: sim", "current-context: other") + "\n"
    )
    merged = tmp_path / "kubeconfig"
    merged.write_text(_merge_kubeconfigs(cluster.kubeconfig.read_text(), broken))
    (tmp_path / "auth.json").write_text(
        '{"auths": {"registry.example.com": {"auth": "dXNlcjpwYXNz"}}}'
    )
    command = (
        """python3 -c 'import sys; print("quote\\" it'"'"'s $HOME `x`")' && echo "sum $((1+1))" """
    )
    config = write_config(tmp_path, nfs_server, trials=1)
    text = config.read_text().replace(
        "command: python3 trial.py", f"command: {json.dumps(command)}", 1
    )
    text = text.replace(
        "image: msranni/nni:latest",
        "image: msranni/nni:latest\n      privateRegistryAuthPath: auth.json",
        1,
    )
    config.write_text(text.replace("minSucceededTaskCount: -1", "minSucceededTaskCount: 1", 1))
    env_kubeconfig = os.environ["KUBECONFIG"]
    os.environ["KUBECONFIG"] = str(merged)
    try:
        result = run_nnifc(
            "create",
            "--config",
            str(config),
            "--context",
            "sim",
            "--namespace",
            "team-a",
            "--detach",
        )
        assert result.returncode == 0, result.stderr
        exp_id = created_id(result)
        wait_for(lambda: cluster.created("secrets") != [], what="the pull secret")
        (secret,) = cluster.created("secrets")  # as sent: it is deleted when the experiment ends
        assert [
            r.namespace for r in cluster.requests if r.verb == "create" and r.resource == "secrets"
        ] == ["team-a"]
        assert secret["type"] == "kubernetes.io/dockerconfigjson"
        assert secret["metadata"]["labels"]["nnifc/experiment"] == exp_id
        wait_for(
            lambda: status_json(exp_id)["status"] == "DONE",
            timeout=60,
            what="the experiment to end",
        )
        (trial,) = status_json(exp_id)["trials"]
        ps = run_nnifc("logs", trial["id"], "--role", "ps")
        assert ps.stdout.splitlines() == ["quote\" it's $HOME `x`", "sum 2"]
        (body,) = cluster.created("frameworks")
        assert body["metadata"]["namespace"] == "team-a"
        ps_pod = body["spec"]["taskRoles"][0]["task"]["pod"]["spec"]
        assert ps_pod["imagePullSecrets"] == [{"name": secret["metadata"]["name"]}]
        assert cluster.objects("secrets", "team-a") == []  # deleted when the experiment ended
    finally:
        os.environ["KUBECONFIG"] = env_kubeconfig


def _merge_kubeconfigs(first: str, second: str) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    a, b = yaml.load(first), yaml.load(second)
    for key in ("clusters", "users", "contexts"):
        a[key] += b[key]
    a["current-context"] = b["current-context"]
    out = io.StringIO()
    yaml.dump(a, out)
    return out.getvalue()


def test_bad_credentials_and_missing_service_account_are_one_line_each(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path, home: Path
) -> None:
    config = write_config(tmp_path, nfs_server)
    config.write_text(config.read_text() + "  serviceAccountName: trials\n")
    missing = run_nnifc("create", "--config", str(config))
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1] == (
        "Error: serviceAccountName 'trials' does not exist in namespace 'default' (context 'sim'); "
        "create it or fix frameworkcontrollerConfig.serviceAccountName"
    )
    cluster.kubeconfig.write_text(cluster.kubeconfig.read_text().replace("token: ", "token: wrong"))
    rejected = run_nnifc("create", "--config", str(config))
    assert rejected.returncode == 1
    assert "the cluster rejected the credentials of context 'sim' (401)" in rejected.stderr
    assert "Traceback" not in rejected.stderr + missing.stderr
    assert not home.exists()


def test_resume_after_the_launcher_is_killed_resubmits_nothing(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    paced = TRIAL.replace("time.sleep(0.1)", "time.sleep(0.7)")
    config = write_config(tmp_path, nfs_server, trials=5, trial=paced)
    result = run_nnifc("create", "--config", str(config), "--detach")
    assert result.returncode == 0, result.stderr
    exp_id = created_id(result)
    wait_for(
        lambda: sum(t["status"] == "RUNNING" for t in status_json(exp_id)["trials"]) == 2,
        what="2 running",
    )
    os.kill(loop_pid(exp_id), signal.SIGKILL)
    time.sleep(3)  # trials go on (and may finish) while no launcher watches
    resumed = run_nnifc("resume", exp_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    data = status_json(exp_id)
    assert data["status"] == "DONE"
    ended = [(t["id"], t["status"], t["message"]) for t in data["trials"]]
    assert [status for _, status, _ in ended] == ["SUCCEEDED"] * 5, ended
    names = [body["metadata"]["name"] for body in cluster.created("frameworks")]
    assert len(names) == len(set(names)) == 5  # no trial's Framework was created twice
    for trial in data["trials"]:
        worker = run_nnifc("logs", trial["id"], "--role", "worker", "--index", "0").stdout
        assert trial["final"] == float(worker.split("FINAL=")[1].split()[0])
        assert len(trial["intermediate"]) == 3
    wait_for(
        lambda: not framework_objects(cluster) and not cluster.objects("secrets"), what="cleanup"
    )


def test_stop_orphans_cleans_up_after_a_launcher_that_never_came_back(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path, home: Path
) -> None:
    exp_id = start_slow(tmp_path, nfs_server, trials=2)
    wait_for(lambda: len(framework_objects(cluster)) == 2, what="2 Frameworks")
    nothing = run_nnifc("stop", "--orphans")  # the loop is alive: its objects are not orphans
    assert "no running experiment" not in nothing.stdout and framework_objects(cluster)
    os.kill(loop_pid(exp_id), signal.SIGKILL)
    wait_for(
        lambda: "launcher not running" in status_json(exp_id)["status"], what="a dead launcher"
    )
    result = run_nnifc("stop", "--orphans", exp_id)
    assert result.returncode == 0, result.stderr
    wait_for(
        lambda: not framework_objects(cluster) and not cluster.objects("pods"), what="no Frameworks"
    )
    assert cluster.objects("secrets") == [] and cluster.processes() == []
    assert {t["status"] for t in status_json(exp_id)["trials"]} == {"USER_CANCELED"}
    # objects of an experiment this machine never knew (another laptop) are found by label alone
    (tmp_path / "other").mkdir()
    other = start_slow(tmp_path / "other", nfs_server, trials=1)
    wait_for(lambda: len(framework_objects(cluster)) == 1, what="the other Framework")
    os.kill(loop_pid(other), signal.SIGKILL)
    shutil.rmtree(home / "experiments" / other)
    swept = run_nnifc("stop", "--orphans")
    assert swept.returncode == 0, swept.stderr
    assert f"experiment {other}: deleted" in swept.stdout
    wait_for(lambda: not framework_objects(cluster), what="the other Framework to go")
    wait_for(lambda: not cluster.processes(), timeout=20, what="its processes to end")


def test_status_from_the_cluster_alone_matches_the_store(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, nfs_server, trials=3)
    exp_id = created_id(run_nnifc("create", "--config", str(config)))
    stored = status_json(exp_id)
    monkeypatch.setenv("NNIFC_HOME", str(tmp_path / "another-machine"))
    result = run_nnifc("status", exp_id, "--cluster", "--config", str(config), "--json")
    assert result.returncode == 0, result.stderr
    rebuilt = checked_status(json.loads(result.stdout))
    assert rebuilt["status"] == "from the cluster"
    fields = ("id", "sequence", "status", "parameters", "final", "intermediate")
    assert [{k: t[k] for k in fields} for t in rebuilt["trials"]] == [
        {k: t[k] for k in fields} for t in stored["trials"]
    ]
    assert rebuilt["best"] == stored["best"]
    table = run_nnifc("status", exp_id, "--cluster", "--config", str(config))
    assert table.returncode == 0 and "from the cluster" in table.stdout
    assert not (tmp_path / "another-machine").exists()


def test_an_nfs_experiment_needs_no_permission_on_secrets(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    """It creates no Secret, so a Role without Secrets is enough (enforced, not only asked)."""
    cluster.faults.enforce_denied = True
    for verb in ("create", "list", "delete", "deletecollection"):
        cluster.faults.deny(verb, "secrets")
    result = run_nnifc("create", "--config", str(write_config(tmp_path, nfs_server, trials=1)))
    assert result.returncode == 0, result.stdout + result.stderr
    exp_id = created_id(result)
    assert [t["status"] for t in status_json(exp_id)["trials"]] == ["SUCCEEDED"]
    assert cluster.requests.count("create", "secrets") == 0
