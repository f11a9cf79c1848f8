"""`make e2e`: nnifc against a real cluster, or the simulator when no kubeconfig is given.

With NNIFC_E2E_KUBECONFIG (and optionally NNIFC_E2E_CONTEXT) the suite runs against that
cluster in a namespace it creates and deletes, trials on NNIFC_E2E_NFS (server:/path, e.g.
deploy/nfs-server.yaml) with NNIFC_E2E_IMAGE (default msranni/nni:latest). Without it, the
suite starts the API double, its FrameworkController simulator and nfs-ganesha itself, so
`make e2e` proves the suite on any machine. The Azure test runs when NNIFC_E2E_AZURE_VAULT,
_SECRET, _ACCOUNT and _SHARE are set (credentials as DefaultAzureCredential finds them).
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from nnifc.platforms.frameworkcontroller.k8s import Cluster, connect
from nnifc.platforms.frameworkcontroller.manifest import GROUP, PLURAL, VERSION, selector
from tests.conftest import created_id, loop_pid, run_nnifc, status_json, wait_for
from tests.fcconfig import Role, fc_config, nfs_storage
from tests.k8sim.fixture import KubeCluster, start_cluster

if TYPE_CHECKING:
    from tests.ganesha import Ganesha

pytest_plugins = ["tests.ganesha"]
pytestmark = pytest.mark.e2e

IMAGE = os.environ.get("NNIFC_E2E_IMAGE", "msranni/nni:latest")
BAD_IMAGE = "nnifc-e2e.invalid/no-such-image:0"
AZURE = ("VAULT", "SECRET", "ACCOUNT", "SHARE")
TRIAL = """\
    import time
    import nni

    params = nni.get_next_parameter()
    time.sleep(params.get("sleep", 0))
    score = params["x"] * 10 + params["k"]
    nni.report_intermediate_result(score - 1)
    print(f"FINAL={score!r}", flush=True)
    nni.report_final_result(score)
"""
SPACE = {"x": {"_type": "uniform", "_value": [0, 1]}, "k": {"_type": "randint", "_value": [1, 5]}}


@dataclass
class Target:
    """Where the suite runs: a namespace of a cluster, the storage its trials share."""

    namespace: str
    context: str | None
    storage: dict[str, Any]
    simulated: KubeCluster | None

    def cli(self, *args: str, timeout: float = 600) -> Any:
        extra = ["--namespace", self.namespace] + (
            ["--context", self.context] if self.context else []
        )
        return run_nnifc(*args, *(extra if args[0] == "create" else []), timeout=timeout)

    def leftovers(self, exp_id: str) -> list[str]:
        """The experiment's Frameworks, pods and Secrets still in the cluster."""
        cluster = connect(context=self.context, namespace=self.namespace)
        try:
            found = []
            query = {"labelSelector": selector(exp_id)}
            ns = f"namespaces/{self.namespace}"
            for what, path in (
                ("Framework", f"/apis/{GROUP}/{VERSION}/{ns}/{PLURAL}"),
                ("pod", f"/api/v1/{ns}/pods"),
                ("Secret", f"/api/v1/{ns}/secrets"),
            ):
                items = (
                    cluster.request(f"list {what}s", "GET", path, query=query).get("items") or []
                )
                found += [f"{what} {item['metadata']['name']}" for item in items]
            return found
        finally:
            cluster.close()


@pytest.fixture(scope="module")
def target(nfs_server: Ganesha, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    kubeconfig = os.environ.get("NNIFC_E2E_KUBECONFIG")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NNIFC_HOME", str(tmp_path_factory.mktemp("home") / "nnifc"))
        if kubeconfig:
            mp.setenv("KUBECONFIG", kubeconfig)
            yield from _real(os.environ.get("NNIFC_E2E_CONTEXT"), mp)
            return
        cluster = start_cluster(tmp_path_factory.mktemp("k8sim"))
        cluster.nfs_exports[(nfs_server.server, nfs_server.path)] = nfs_server.local_dir
        cluster.bad_images.add(BAD_IMAGE)
        mp.setenv("KUBECONFIG", str(cluster.kubeconfig))
        try:
            storage = nfs_storage(nfs_server.server, nfs_server.path)
            yield Target(f"e2e{secrets.token_hex(3)}", None, storage, cluster)
        finally:
            cluster.close()


def _real(context: str | None, mp: pytest.MonkeyPatch) -> Iterator[Target]:
    server, _, path = os.environ.get("NNIFC_E2E_NFS", ":").partition(":")
    if not server or not path:
        pytest.fail("NNIFC_E2E_NFS=server:/path is needed with NNIFC_E2E_KUBECONFIG", pytrace=False)
    mp.delenv("NNIFC_NFS_PORT", raising=False)  # the cluster's server, on 2049
    namespace = f"nnifc-e2e-{secrets.token_hex(3)}"
    cluster = connect(context=context)
    _namespace(cluster, "POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
    try:
        yield Target(namespace, context, nfs_storage(server, path), None)
    finally:
        _namespace(cluster, "DELETE", f"/api/v1/namespaces/{namespace}", None)
        cluster.close()


def _namespace(cluster: Cluster, method: str, path: str, body: Any) -> None:
    cluster.request(f"{method.lower()} the e2e namespace", method, path, body=body)


def config(target: Target, where: Path, *, trials: int, image: str = IMAGE, **extra: Any) -> Path:
    path = fc_config(
        where,
        target.storage,
        trial=TRIAL,
        space=SPACE,
        trials=trials,
        concurrency=2,
        roles=(Role(),),
    )
    text = path.read_text().replace("msranni/nni:latest", image)
    text += "".join(f"  {key}: {value}\n" for key, value in extra.items())
    path.write_text(text.replace("namespace: default", f"namespace: {target.namespace}"))
    return path


def with_sleep(path: Path, seconds: int) -> None:
    space = path.parent / "space.json"
    space.write_text(
        space.read_text()[:-1] + f', "sleep": {{"_type": "choice", "_value": [{seconds}]}}}}'
    )


def test_four_trials_report_exact_metrics_and_logs_outlive_the_pods(
    target: Target, tmp_path: Path
) -> None:
    result = target.cli("create", "--config", str(config(target, tmp_path, trials=4)))
    assert result.returncode == 0, result.stdout + result.stderr
    data = status_json(created_id(result))
    assert data["status"] == "DONE" and len(data["trials"]) == 4
    wait_for(lambda: not target.leftovers(data["id"]), timeout=120, what="pods gone")
    for trial in data["trials"]:
        params = trial["parameters"]
        score = params["x"] * 10 + params["k"]
        assert trial["status"] == "SUCCEEDED" and trial["final"] == score
        assert trial["intermediate"][:1] == [score - 1]
        logs = target.cli("logs", trial["id"])
        assert logs.returncode == 0 and f"FINAL={score!r}" in logs.stdout


def test_stop_mid_run_leaves_nothing_behind(target: Target, tmp_path: Path) -> None:
    path = config(target, tmp_path, trials=4)
    with_sleep(path, 600)
    exp_id = created_id(target.cli("create", "--config", str(path), "--detach"))
    wait_for(
        lambda: sum(t["status"] == "RUNNING" for t in status_json(exp_id)["trials"]) == 2,
        timeout=300,
        what="2 running",
    )
    stopped = target.cli("stop", exp_id)
    assert stopped.returncode == 0, stopped.stderr
    assert status_json(exp_id)["status"] == "STOPPED"
    wait_for(lambda: not target.leftovers(exp_id), timeout=120, what="nothing left")


def test_kill_9_and_resume_submit_no_trial_twice(target: Target, tmp_path: Path) -> None:
    path = config(target, tmp_path, trials=4)
    with_sleep(path, 3)
    exp_id = created_id(target.cli("create", "--config", str(path), "--detach"))
    wait_for(
        lambda: any(t["status"] == "RUNNING" for t in status_json(exp_id)["trials"]),
        timeout=300,
        what="running",
    )
    os.kill(loop_pid(exp_id), signal.SIGKILL)
    time.sleep(2)
    resumed = target.cli("resume", exp_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    data = status_json(exp_id)
    assert [t["status"] for t in data["trials"]] == ["SUCCEEDED"] * 4, data["trials"]
    if target.simulated is not None:
        names = [body["metadata"]["name"] for body in target.simulated.created("frameworks")]
        mine = [n for n in names if exp_id in n]
        assert len(mine) == len(set(mine)) == 4
    wait_for(lambda: not target.leftovers(exp_id), timeout=120, what="nothing left")


def test_a_trial_on_a_bad_image_is_reported_pending_with_its_reason(
    target: Target, tmp_path: Path
) -> None:
    path = config(target, tmp_path, trials=1, image=BAD_IMAGE, pendingTimeout="2m")
    exp_id = created_id(target.cli("create", "--config", str(path), "--detach"))
    wait_for(
        lambda: any("Image" in t["message"] for t in status_json(exp_id)["trials"]),
        timeout=90,
        what="the pending reason",
    )
    (trial,) = status_json(exp_id)["trials"]
    assert trial["status"] == "WAITING" and (
        "ErrImagePull" in trial["message"] or "ImagePullBackOff" in trial["message"]
    )
    assert target.cli("stop", exp_id).returncode == 0
    wait_for(lambda: not target.leftovers(exp_id), timeout=120, what="nothing left")


@pytest.mark.skipif(
    not all(os.environ.get(f"NNIFC_E2E_AZURE_{key}") for key in AZURE),
    reason="set NNIFC_E2E_AZURE_VAULT, _SECRET, _ACCOUNT and _SHARE to run the Azure path",
)
def test_azure_files_with_the_key_from_key_vault(target: Target, tmp_path: Path) -> None:
    env = {key: os.environ[f"NNIFC_E2E_AZURE_{key}"] for key in AZURE}
    azure = Target(
        target.namespace,
        target.context,
        {
            "storage": "azureStorage",
            "keyVault": {"vaultName": env["VAULT"], "name": env["SECRET"]},
            "azureStorage": {"accountName": env["ACCOUNT"], "azureShare": env["SHARE"]},
        },
        target.simulated,
    )
    result = azure.cli("create", "--config", str(config(azure, tmp_path, trials=2)))
    assert result.returncode == 0, result.stdout + result.stderr
    data = status_json(created_id(result))
    assert [t["status"] for t in data["trials"]] == ["SUCCEEDED"] * 2
    wait_for(lambda: not target.leftovers(data["id"]), timeout=120, what="nothing left")
