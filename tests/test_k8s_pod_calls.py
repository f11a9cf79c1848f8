"""A trial's pods read through the plain-HTTP client (pods.pending_reason) against the API double.

Like the Framework calls (test_k8s_requests.py): 5xx and 429 are retried, a refusal is a
PlatformError naming the call, and the credential plugin's token is reused between calls
instead of the plugin being run for each one.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes.config import kube_config

from nnifc.errors import NotAuthorized
from nnifc.platforms.frameworkcontroller import pods
from nnifc.platforms.frameworkcontroller.client import Frameworks
from nnifc.platforms.frameworkcontroller.k8s import Cluster, connect
from tests.k8sim.fixture import KubeCluster, kube_cluster

__all__ = ["kube_cluster"]

# counts its runs; its token counts as expired at once (inside the client's 5-minute skew)
PLUGIN = """\
import json, sys, datetime
with open(sys.argv[2], "a") as runs:
    runs.write("x")
token = open(sys.argv[1]).read().strip()
expiry = datetime.datetime.now(datetime.timezone.utc)
print(json.dumps({
    "apiVersion": "client.authentication.k8s.io/v1beta1",
    "kind": "ExecCredential",
    "status": {"token": token, "expirationTimestamp": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")},
}))
"""


def _unpullable(name: str) -> dict[str, Any]:
    container = {"name": "c", "image": "example.com/unpullable:1", "command": ["true"]}
    role = {
        "name": "main",
        "taskNumber": 1,
        "task": {"pod": {"spec": {"restartPolicy": "Never", "containers": [container]}}},
    }
    return {
        "apiVersion": "frameworkcontroller.microsoft.com/v1",
        "kind": "Framework",
        "metadata": {"name": name, "labels": {"nnifc/experiment": "e1", "nnifc/trial": name}},
        "spec": {"executionType": "Start", "taskRoles": [role]},
    }


def _stuck(cluster: Cluster, name: str) -> str:
    """The pending reason of Framework `name`, once its pod cannot pull its image."""
    Frameworks(cluster).create(_unpullable(name))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        reason = pods.pending_reason(cluster, name)
        if "ImagePullBackOff" in reason:
            return reason
        time.sleep(0.1)
    raise AssertionError("the pod never reported ImagePullBackOff")


def test_pending_reasons_are_retried_and_refusals_named(kube_cluster: KubeCluster) -> None:
    cluster = connect(namespace="default")
    reason = _stuck(cluster, "t1")
    assert reason.startswith("pod t1-") and "ImagePullBackOff" in reason
    kube_cluster.faults.fail_next(2, 503, verb="list", resource="pods")
    assert pods.pending_reason(cluster, "t1") == reason
    kube_cluster.faults.fail_next(1, 429, verb="list", resource="pods")
    assert pods.pending_reason(cluster, "t1") == reason
    assert kube_cluster.requests.count("list", "pods", status=503) == 2
    assert kube_cluster.requests.count("list", "pods", status=429) == 1
    assert pods.pending_reason(cluster, "nothing-of-ours") == ""
    kube_cluster.faults.enforce_denied = True
    kube_cluster.faults.deny("list", "pods")
    with pytest.raises(NotAuthorized, match=r"may not list the trial's pods .*\(403\)"):
        pods.pending_reason(cluster, "t1")
    cluster.close()


def test_pending_reasons_reuse_the_credential_plugins_token(
    kube_cluster: KubeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The generated client ran the token hook, and so the plugin, on every call."""
    token_file, runs = tmp_path / "token", tmp_path / "runs"
    token_file.write_text(kube_cluster.token)
    runs.write_text("")
    plugin = tmp_path / "plugin.py"
    plugin.write_text(PLUGIN)
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": [str(plugin), str(token_file), str(runs)],
            "interactiveMode": "Never",
        }
    }
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "sim", "cluster": {"server": kube_cluster.url}}],
                "users": [{"name": "sim", "user": user}],
                "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "sim"}}],
                "current-context": "sim",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    cluster = connect(namespace="default")
    reason = _stuck(cluster, "t2")
    before = len(runs.read_text())
    for _ in range(5):
        assert pods.pending_reason(cluster, "t2") == reason
    assert len(runs.read_text()) - before <= 1  # at most one refresh, were AUTH_SECONDS up
    cluster.close()
