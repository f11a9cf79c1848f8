"""The plain-HTTP Kubernetes calls (Cluster.request, Frameworks) against the API double.

They bypass the generated client, so what it did for us is checked here: tokens from an exec
credential plugin are refreshed (also when a cached one is refused with 401), refusals become
PlatformError with the status, 5xx is retried, and a watch hands over decoded events: just
the fields the loop reads, which must say what the whole Framework says. The preflight's
checks go the same way.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes.config import kube_config

from nnifc.errors import PlatformError
from nnifc.platforms.frameworkcontroller import manifest as framework
from nnifc.platforms.frameworkcontroller import preflight
from nnifc.platforms.frameworkcontroller.client import Frameworks, decode_event
from nnifc.platforms.frameworkcontroller.k8s import connect
from tests.k8sim.fixture import KubeCluster, kube_cluster

__all__ = ["kube_cluster"]

PLUGIN = """\
import json, sys, datetime
token = open(sys.argv[1]).read().strip()
# just past the client's 5-minute skew: the token counts as expired about a second later
expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=301)
print(json.dumps({
    "apiVersion": "client.authentication.k8s.io/v1beta1",
    "kind": "ExecCredential",
    "status": {"token": token, "expirationTimestamp": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")},
}))
"""


def _framework(name: str) -> dict[str, object]:
    return {
        "apiVersion": "frameworkcontroller.microsoft.com/v1",
        "kind": "Framework",
        "metadata": {"name": name, "labels": {"nnifc/experiment": "e1", "nnifc/trial": name}},
        "spec": {
            "executionType": "Start",
            "taskRoles": [
                {
                    "name": "main",
                    "taskNumber": 1,
                    "task": {
                        "pod": {
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [
                                    {"name": "c", "image": "busybox", "command": ["true"]}
                                ],
                            }
                        }
                    },
                }
            ],
        },
    }


def _exec_kubeconfig(tmp_path: Path, url: str, token_file: Path) -> Path:
    plugin = tmp_path / "plugin.py"
    plugin.write_text(PLUGIN)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sim", "cluster": {"server": url}}],
        "users": [
            {
                "name": "sim",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": sys.executable,
                        "args": [str(plugin), str(token_file)],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "sim"}}],
        "current-context": "sim",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    return path


def test_a_rotated_token_is_fetched_again_after_a_401(
    kube_cluster: KubeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(kube_cluster.token)
    kubeconfig = str(_exec_kubeconfig(tmp_path, kube_cluster.url, token_file))
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", kubeconfig)
    cluster = connect(namespace="default")
    frameworks = Frameworks(cluster)
    assert frameworks.list("nnifc/experiment=e1")["items"] == []  # caches the first token
    time.sleep(1.5)  # the first token now counts as expired for the client's hook
    kube_cluster.api.token = "rotated-token"
    token_file.write_text("rotated-token")
    created = frameworks.create(_framework("t1"))  # 401 with the cached token, then the new one
    assert created["metadata"]["name"] == "t1"
    refused = [r for r in kube_cluster.requests if r.status == 401]
    assert len(refused) == 1
    cluster.close()


def test_refusals_name_the_call_and_5xx_is_retried(kube_cluster: KubeCluster) -> None:
    cluster = connect(namespace="default")
    frameworks = Frameworks(cluster)
    with pytest.raises(PlatformError, match=r"read Framework nope \(404") as refused:
        frameworks.get("nope")
    assert refused.value.status == 404
    kube_cluster.faults.fail_next(2, 503, verb="create", resource="frameworks")
    frameworks.create(_framework("t2"))
    assert frameworks.get("t2")["metadata"]["labels"]["nnifc/trial"] == "t2"
    with pytest.raises(PlatformError) as conflict:
        frameworks.create(_framework("t2"))
    assert conflict.value.status == 409
    cluster.close()


def test_watch_streams_decoded_events_and_deletes_by_label(kube_cluster: KubeCluster) -> None:
    cluster = connect(namespace="default")
    frameworks = Frameworks(cluster)
    version = frameworks.list("nnifc/experiment=e1")["metadata"]["resourceVersion"]
    stop = threading.Event()
    seen: list[tuple[str, str]] = []

    def watch() -> None:
        for event in frameworks.watch("nnifc/experiment=e1", version, seconds=5, stop=stop):
            seen.append((event["type"], event["object"]["metadata"]["name"]))
            if {("DELETED", "a"), ("DELETED", "b")} <= set(seen):
                return

    thread = threading.Thread(target=watch)
    thread.start()
    for name in ("a", "b", "c"):
        frameworks.create(_framework(name))
    frameworks.delete_all("nnifc/experiment=e1,nnifc/trial in (a,b)", "a and b")
    thread.join(timeout=20)
    stop.set()
    assert ("ADDED", "a") in seen and ("ADDED", "c") in seen
    assert ("DELETED", "a") in seen and ("DELETED", "b") in seen
    left = [f["metadata"]["name"] for f in frameworks.list("nnifc/experiment=e1")["items"]]
    assert left == ["c"]
    cluster.close()


def test_concurrent_calls_fit_the_connection_pool_on_one_core(
    kube_cluster: KubeCluster, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Creates in flight, the watch and a deletion at once: no connection is thrown away."""
    monkeypatch.setattr("multiprocessing.cpu_count", lambda: 1)  # the client sizes its pool by it
    cluster = connect(namespace="default")
    frameworks = Frameworks(cluster)
    barrier = threading.Barrier(7)
    errors: list[BaseException] = []

    def create(i: int) -> None:
        try:
            barrier.wait()
            frameworks.create(_framework(f"pool{i}"))
            frameworks.get(f"pool{i}")
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)

    with caplog.at_level("WARNING", logger="urllib3"):
        threads = [threading.Thread(target=create, args=(i,)) for i in range(7)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    cluster.close()
    assert errors == []
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


COMPLETION = {
    "code": 1,
    "phrase": "ContainerFailed",
    "type": {"name": "Failed", "attributes": ["Permanent"]},
    "diagnostics": "exit 1\nTraceback ...",
    "trigger": {"message": "a task failed", "taskRoleName": "trial", "taskIndex": 0},
}
STATUSES: list[dict[str, Any] | None] = [
    None,
    {"state": "AttemptCreationPending"},
    {"state": "AttemptRunning", "attemptStatus": {"completionStatus": None}},
    {"state": "AttemptCompleted", "retryPolicyStatus": {"retryDelaySec": 3}},
    {"state": "AttemptCompleted", "retryPolicyStatus": {"retryDelaySec": None}},
    {"state": "Completed", "attemptStatus": {"completionStatus": {"code": 0}}},
    {"state": "Completed", "attemptStatus": {"completionStatus": {**COMPLETION, "code": -210}}},
    {"state": "Completed", "attemptStatus": {"completionStatus": COMPLETION}},
    {"state": "SomethingNew"},
]


@pytest.mark.parametrize("status", STATUSES)
def test_a_watch_event_keeps_what_the_trial_status_is_made_of(
    status: dict[str, Any] | None,
) -> None:
    whole: dict[str, Any] = _framework("t1")
    whole["metadata"] = {**whole["metadata"], "resourceVersion": "42", "uid": "u"}
    if status is not None:
        whole["status"] = {
            **status,
            "startTime": "2026-11-28T00:00:00Z",
            "taskRoleStatuses": [{"name": "trial", "taskStatuses": [{"index": 0}]}],
        }
    line = json.dumps({"type": "MODIFIED", "object": whole}).encode()
    event = decode_event(line)
    assert event["type"] == "MODIFIED"
    assert framework.trial_status(event["object"]) == framework.trial_status(whole)
    assert event["object"]["metadata"] == {
        "name": "t1",
        "resourceVersion": "42",
        "labels": whole["metadata"]["labels"],
    }
    assert "spec" not in event["object"]


def test_an_error_event_decodes_and_a_broken_one_is_a_broken_stream() -> None:
    gone = {"kind": "Status", "status": "Failure", "code": 410, "metadata": {}}
    assert decode_event(json.dumps({"type": "ERROR", "object": gone}).encode())["type"] == "ERROR"
    with pytest.raises(urllib3.exceptions.ProtocolError):
        decode_event(b'{"type": "MODIFIED", "object": {"metadata": ')
    with pytest.raises(urllib3.exceptions.ProtocolError):
        decode_event(b'{"type": "MODIFIED"}')


def test_the_preflight_lists_frameworks_where_crds_may_not_be_read(
    kube_cluster: KubeCluster,
) -> None:
    cluster = connect(namespace="default")
    kube_cluster.faults.enforce_denied = True
    kube_cluster.faults.deny("get", "customresourcedefinitions")
    # the Frameworks can be listed
    preflight.check_cluster(cluster, service_account=None, secrets=True)
    assert kube_cluster.requests.count("get", "customresourcedefinitions", status=403) == 1
    assert kube_cluster.requests.count("list", "frameworks", status=200) == 1
    assert kube_cluster.requests.count("create", "selfsubjectaccessreviews") == len(
        preflight.NEEDED + preflight.FOR_SECRETS
    )
    kube_cluster.faults.crd_installed = False
    with pytest.raises(PlatformError, match="FrameworkController is not installed"):
        preflight.check_cluster(cluster, service_account=None, secrets=True)
    with pytest.raises(PlatformError, match="serviceAccountName 'trials' does not exist"):
        kube_cluster.faults.crd_installed = True
        preflight.check_cluster(cluster, service_account="trials", secrets=True)
    cluster.close()
