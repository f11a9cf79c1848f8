"""Tests of the k8sim cluster double, driven only through the official `kubernetes` client.

Why: launcher tests trust k8sim to behave like apiserver + FrameworkController; these tests pin
that behaviour (codes, Status bodies, watch semantics, FC states and completion codes) so a
change to the double that would let launcher bugs through fails here first.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, config, watch

from nnifc.experiment import FrameworkControllerExperimentConfig
from nnifc.platforms.frameworkcontroller import manifest as nnifc_framework
from nnifc.records import TrialSpec
from tests.k8sim.fast import fast_value, intermediate_values, sdk_line
from tests.k8sim.fixture import KubeCluster, kube_cluster, start_cluster
from tests.k8sim.resources import CRD_NAME
from tests.test_framework import as_settings

__all__ = ["kube_cluster"]

Obj = dict[str, Any]
G, V, NS, P = "frameworkcontroller.microsoft.com", "v1", "default", "frameworks"
SERVER, EXPORT = "10.0.0.1", "/export"


# The generated client is typed (py.typed) but its models make every field Optional and its
# methods want model bodies; tests use plain dicts, so the API objects are typed Any here.
Watch: Any = watch.Watch
load_kube_config: Any = config.load_kube_config


@dataclass
class Clients:
    core: Any
    custom: Any
    authz: Any
    ext: Any
    version: Any
    apis: Any


@pytest.fixture
def api(kube_cluster: KubeCluster) -> Iterator[Clients]:
    load_kube_config()  # from $KUBECONFIG, like the launcher
    with client.ApiClient() as c:
        yield Clients(
            client.CoreV1Api(c),
            client.CustomObjectsApi(c),
            client.AuthorizationV1Api(c),
            client.ApiextensionsV1Api(c),
            client.VersionApi(c),
            client.ApisApi(c),
        )


@pytest.fixture
def nfs(kube_cluster: KubeCluster, tmp_path: Path) -> Path:
    share = tmp_path / "nfs"
    share.mkdir()
    kube_cluster.nfs_exports[(SERVER, EXPORT)] = share
    return share


def pod_body(
    name: str,
    labels: dict[str, str] | None = None,
    command: str = "sleep 30",
    image: str = "busybox",
) -> Obj:
    container = {"name": "main", "image": image, "command": ["sh", "-c", command]}
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"restartPolicy": "Never", "containers": [container]},
    }


def role(
    name: str,
    count: int,
    policy: tuple[int, int],
    command: str,
    image: str = "python:3.11-slim",
    **pod_spec: Any,
) -> Obj:
    container: Obj = {
        "name": "main",
        "image": image,
        "command": ["sh", "-c", command],
        "volumeMounts": [{"name": "nni-vol", "mountPath": "/tmp/mount"}],
    }
    spec: Obj = {
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": [{"name": "nni-vol", "nfs": {"server": SERVER, "path": EXPORT}}],
    }
    for key, value in pod_spec.items():
        if isinstance(value, list) and key in spec:
            spec[key] = spec[key] + value
        else:
            spec[key] = value
    return {
        "name": name,
        "taskNumber": count,
        "frameworkAttemptCompletionPolicy": {
            "minFailedTaskCount": policy[0],
            "minSucceededTaskCount": policy[1],
        },
        "task": {
            "retryPolicy": {"fancyRetryPolicy": False, "maxRetryCount": 0},
            "podGracefulDeletionTimeoutSec": 600,
            "pod": {"metadata": {"labels": {"trial": name}}, "spec": spec},
        },
    }


def framework(name: str, *roles: Obj, execution: str = "Start") -> Obj:
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "Framework",
        "metadata": {"name": name, "labels": {"launcher/trial": name}},
        "spec": {
            "executionType": execution,
            "retryPolicy": {"fancyRetryPolicy": False, "maxRetryCount": 0},
            "taskRoles": list(roles),
        },
    }


def ps_worker(name: str, worker_cmd: str = "sleep 0.3") -> Obj:
    write = 'echo "$FC_TASK_INDEX" > /tmp/mount/$FC_TASKROLE_NAME-$FC_TASK_INDEX'
    return framework(
        name,
        role("ps", 1, (1, -1), f"{write}; sleep 60"),
        role("worker", 2, (1, 2), f"{write}; {worker_cmd}"),
    )


def wait_logged(kube: KubeCluster, core: Any, pods: list[str], text: str) -> None:
    """Until every pod's log has `text` (e.g. a trap is installed: a SIGTERM sent sooner kills)."""

    def logged(pod: str) -> bool:
        try:
            return text in core.read_namespaced_pod_log(pod, NS)
        except client.ApiException:
            return False

    kube.wait_for(lambda: all(logged(p) for p in pods), what=f"{text!r} in the logs of {pods}")


def final_status(kube: KubeCluster, name: str, timeout: float = 15) -> Obj:
    kube.wait_for(lambda: kube.state(name) == "Completed", timeout, f"{name} Completed")
    fw = kube.get("frameworks", name)
    assert fw is not None
    status: Obj = fw["status"]
    return status


def pod_field(kube: KubeCluster, name: str, field: str) -> Any:
    """A field of a stored pod's status (None while the pod or the field is missing)."""
    return ((kube.get("pods", name) or {}).get("status") or {}).get(field)


def body_of(err: pytest.ExceptionInfo[client.ApiException]) -> str:
    return str(err.value.body)


def task_codes(status: Obj) -> dict[str, int]:
    return {
        f"{r['name']}-{t['index']}": t["attemptStatus"]["completionStatus"]["code"]
        for r in status["attemptStatus"]["taskRoleStatuses"]
        for t in r["taskStatuses"]
    }


# ---- API server ------------------------------------------------------------------------------


def test_version_discovery_and_crd(kube_cluster: KubeCluster, api: Clients) -> None:
    assert api.version.get_code().git_version.startswith("v1.30")
    groups = [g.name for g in api.apis.get_api_versions().groups]
    assert G in groups
    crd = api.ext.read_custom_resource_definition(CRD_NAME)
    assert crd.spec.names.plural == "frameworks" and crd.spec.scope == "Namespaced"
    assert {c.type for c in crd.status.conditions} >= {"Established"}
    kube_cluster.faults.crd_installed = False
    with pytest.raises(client.ApiException) as err:
        api.ext.read_custom_resource_definition(CRD_NAME)
    assert err.value.status == 404
    with pytest.raises(client.ApiException) as err:
        api.custom.list_namespaced_custom_object(G, V, NS, P)
    assert err.value.status == 404


def test_bad_token_is_401(kube_cluster: KubeCluster) -> None:
    conf = client.Configuration(
        host=kube_cluster.url,
        api_key={"BearerToken": "wrong"},
        api_key_prefix={"BearerToken": "Bearer"},
    )
    with client.ApiClient(conf) as api_client, pytest.raises(client.ApiException) as err:
        client.CoreV1Api(api_client).list_namespaced_pod(NS)
    assert err.value.status == 401
    assert kube_cluster.requests.count("list", "pods", status=401) == 1


def test_create_get_list_and_errors(kube_cluster: KubeCluster, api: Clients) -> None:
    core = api.core
    kube_cluster.bad_images.add("busybox")  # keep these pods from running
    made = [
        core.create_namespaced_pod(NS, pod_body(f"p{i}", {"app": a, "tier": t}))
        for i, (a, t) in enumerate([("a", "x"), ("b", "y"), ("c", "")])
    ]
    rvs = [int(p.metadata.resource_version) for p in made]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3
    first = made[0].metadata
    assert (
        first.uid and first.namespace == NS and first.generation == 1 and first.creation_timestamp
    )

    def names(**kw: str) -> list[str]:
        return [p.metadata.name for p in core.list_namespaced_pod(NS, **kw).items]

    assert names(label_selector="app=a") == ["p0"]
    assert names(label_selector="app==b") == ["p1"]
    assert names(label_selector="app!=a") == ["p1", "p2"]
    assert names(label_selector="app in (a, c)") == ["p0", "p2"]
    assert names(label_selector="app notin (a,c),tier") == ["p1"]
    assert names(label_selector="!nope,tier=") == ["p2"]
    assert names(field_selector="metadata.name=p1") == ["p1"]
    listed = core.list_namespaced_pod(NS)
    assert int(listed.metadata.resource_version) >= rvs[-1]

    cases: list[tuple[Callable[[], Any], int, str]] = [
        (lambda: core.read_namespaced_pod("missing", NS), 404, "NotFound"),
        (lambda: core.create_namespaced_pod(NS, pod_body("p0")), 409, "AlreadyExists"),
        (lambda: core.create_namespaced_pod(NS, pod_body("Bad_Name")), 422, "Invalid"),
        (lambda: core.list_namespaced_pod(NS, label_selector="app in (a"), 400, "BadRequest"),
    ]
    for call, code, reason in cases:
        with pytest.raises(client.ApiException) as err:
            call()
        assert err.value.status == code
        assert f'"reason": "{reason}"' in body_of(err) and '"kind": "Status"' in body_of(err)


def test_watch_resume_selectors_and_timeout(kube_cluster: KubeCluster, api: Clients) -> None:
    core = api.core
    kube_cluster.bad_images.add("busybox")
    core.create_namespaced_pod(NS, pod_body("before", {"app": "w"}))
    rv = core.list_namespaced_pod(NS).metadata.resource_version
    core.create_namespaced_pod(NS, pod_body("w1", {"app": "w"}))
    core.create_namespaced_pod(NS, pod_body("other", {"app": "x"}))
    core.patch_namespaced_pod("w1", NS, {"metadata": {"labels": {"extra": "1"}}})
    core.patch_namespaced_pod(
        "other", NS, {"metadata": {"labels": {"app": "w"}}}
    )  # enters the selector
    core.delete_namespaced_pod("w1", NS)
    started = time.monotonic()
    seen = [
        (e["type"], e["object"].metadata.name)
        for e in Watch().stream(
            core.list_namespaced_pod,
            NS,
            label_selector="app=w",
            resource_version=rv,
            timeout_seconds=1,
        )
    ]
    elapsed = time.monotonic() - started
    by_name = {n: [t for t, m in seen if m == n] for n in ("before", "w1", "other")}
    assert (
        by_name["w1"][0] == "ADDED"
        and "MODIFIED" in by_name["w1"]
        and by_name["w1"][-1] == "DELETED"
    )
    assert by_name["other"][0] == "ADDED", "a MODIFIED that enters the selector is an ADDED"
    assert "ADDED" not in by_name["before"], "resumed after its creation"
    assert 0.9 <= elapsed < 3, "timeoutSeconds ends the stream cleanly"
    # No resourceVersion: synthetic ADDED for what exists, like a real server.
    initial = [
        e["type"]
        for e in Watch().stream(
            core.list_namespaced_pod, NS, label_selector="app=w", timeout_seconds=1
        )
    ]
    assert initial[:2] == ["ADDED", "ADDED"] and "DELETED" not in initial


def test_watch_expired_history_is_410_in_stream(kube_cluster: KubeCluster, api: Clients) -> None:
    core = api.core
    old = core.list_namespaced_config_map(NS).metadata.resource_version
    core.create_namespaced_config_map(NS, {"metadata": {"name": "x"}})
    kube_cluster.expire_history()
    with pytest.raises(client.ApiException) as err:
        list(
            Watch().stream(
                core.list_namespaced_config_map, NS, resource_version=old, timeout_seconds=2
            )
        )
    assert err.value.status == 410
    assert (
        kube_cluster.requests.count("watch", "configmaps", status=200) == 1
    )  # the 410 came inside a 200 stream
    fresh = core.list_namespaced_config_map(NS).metadata.resource_version
    assert (
        list(
            Watch().stream(
                core.list_namespaced_config_map, NS, resource_version=fresh, timeout_seconds=1
            )
        )
        == []
    )


def test_watch_bookmarks_and_dropped_streams(kube_cluster: KubeCluster, api: Clients) -> None:
    custom = api.custom
    kube_cluster.faults.bookmark_interval = 0.1
    kinds = [
        e["type"]
        for e in Watch().stream(
            custom.list_namespaced_custom_object,
            G,
            V,
            NS,
            P,
            allow_watch_bookmarks=True,
            timeout_seconds=1,
        )
    ]
    assert "BOOKMARK" in kinds
    kube_cluster.faults.drop_watches_every = 0.3
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.ProtocolError):
        list(Watch().stream(custom.list_namespaced_custom_object, G, V, NS, P, timeout_seconds=5))
    assert time.monotonic() - started < 2


def test_patches_replace_and_conflicts(kube_cluster: KubeCluster, api: Clients) -> None:
    custom, core = api.custom, api.core
    body = framework("patchme", role("main", 1, (1, -1), "true"), execution="Create")
    body["spec"]["unknownField"] = 1
    created = custom.create_namespaced_custom_object(G, V, NS, P, body)
    assert "unknownField" not in created["spec"], "structural schema prunes unknown fields"
    patched = custom.patch_namespaced_custom_object(
        G,
        V,
        NS,
        P,
        "patchme",
        {"metadata": {"labels": {"launcher/trial": None, "k": "v"}}, "spec": {"description": "d"}},
    )
    assert patched["metadata"]["labels"] == {"k": "v"}
    assert patched["metadata"]["generation"] > created["metadata"]["generation"]
    with pytest.raises(client.ApiException) as err:
        custom.patch_namespaced_custom_object(
            G, V, NS, P, "patchme", {"spec": {"executionType": "start"}}
        )
    assert err.value.status == 422
    stale = dict(patched)
    custom.patch_namespaced_custom_object(G, V, NS, P, "patchme", {"spec": {"description": "e"}})
    with pytest.raises(client.ApiException) as err:
        custom.replace_namespaced_custom_object(G, V, NS, P, "patchme", stale)
    assert err.value.status == 409 and "Conflict" in body_of(err)
    kube_cluster.bad_images.add("busybox")
    core.create_namespaced_pod(NS, pod_body("jp", {"a": "1"}))
    pod = core.patch_namespaced_pod(
        "jp",
        NS,
        [
            {"op": "add", "path": "/metadata/labels/b", "value": "2"},
            {"op": "remove", "path": "/metadata/labels/a"},
        ],
    )
    assert pod.metadata.labels == {"b": "2"}
    with pytest.raises(client.ApiException) as err:
        core.patch_namespaced_pod(
            "jp", NS, [{"op": "test", "path": "/metadata/labels/b", "value": "3"}]
        )
    assert err.value.status == 422
    assert kube_cluster.requests.count("patch", "pods") == 2


def test_foreground_delete_waits_for_dependents(kube_cluster: KubeCluster, api: Clients) -> None:
    custom, core = api.custom, api.core
    owner = custom.create_namespaced_custom_object(
        G, V, NS, P, framework("owner", role("r", 1, (1, -1), "true"), execution="Create")
    )
    ref = {
        "apiVersion": f"{G}/{V}",
        "kind": "Framework",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
        "blockOwnerDeletion": True,
    }
    core.create_namespaced_config_map(
        NS, {"metadata": {"name": "dep", "ownerReferences": [ref], "finalizers": ["test/hold"]}}
    )
    custom.delete_namespaced_custom_object(
        G, V, NS, P, "owner", body=client.V1DeleteOptions(propagation_policy="Foreground")
    )
    pending = custom.get_namespaced_custom_object(G, V, NS, P, "owner")
    assert (
        pending["metadata"]["deletionTimestamp"]
        and "foregroundDeletion" in pending["metadata"]["finalizers"]
    )
    assert core.read_namespaced_config_map("dep", NS).metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("dep", NS, {"metadata": {"finalizers": None}})
    with pytest.raises(client.ApiException) as err:
        custom.get_namespaced_custom_object(G, V, NS, P, "owner")
    assert err.value.status == 404
    # delete-collection by label
    kube_cluster.bad_images.add("busybox")
    for i in range(3):
        core.create_namespaced_pod(NS, pod_body(f"c{i}", {"batch": "yes" if i else "no"}))
    core.delete_collection_namespaced_pod(NS, label_selector="batch=yes")
    kube_cluster.wait_for(
        lambda: [p["metadata"]["name"] for p in kube_cluster.objects("pods")] == ["c0"]
    )


def test_self_subject_access_review(kube_cluster: KubeCluster, api: Clients) -> None:
    authz = api.authz

    def allowed(verb: str, resource: str, group: str = G, subresource: str = "") -> bool:
        attrs = client.V1ResourceAttributes(
            verb=verb, group=group, resource=resource, subresource=subresource or None, namespace=NS
        )
        review = authz.create_self_subject_access_review(
            client.V1SelfSubjectAccessReview(
                spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attrs)
            )
        )
        return bool(review.status.allowed)

    assert allowed("create", "frameworks")
    kube_cluster.faults.deny("get", "pods", group="", subresource="log")
    assert not allowed("get", "pods", "", "log")
    assert allowed("get", "pods", "")


def test_injected_errors_reach_the_client(kube_cluster: KubeCluster, api: Clients) -> None:
    core = api.core
    kube_cluster.faults.fail_next(1, 500)
    with pytest.raises(client.ApiException) as err:
        core.list_namespaced_pod(NS)
    assert err.value.status == 500 and "InternalError" in body_of(err)
    kube_cluster.faults.fail_next(1, 429, verb="create", resource="pods")
    core.list_namespaced_pod(NS)  # not matched by the verb filter
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map(NS, {"metadata": {"name": "ok"}})
        core.create_namespaced_pod(NS, pod_body("x"))
    assert err.value.status == 429 and dict(err.value.headers or {})["Retry-After"] == "1"
    kube_cluster.faults.error_rate = 1.0
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_config_map("ok", NS)
    assert err.value.status in (429, 500)
    kube_cluster.faults.error_rate = 0.0
    assert core.read_namespaced_config_map("ok", NS).metadata.name == "ok"
    assert kube_cluster.requests.count("list", "pods") == 2
    assert kube_cluster.requests.count(status=429) + kube_cluster.requests.count(status=500) == 3


def test_pod_logs_follow_tail_and_waiting(kube_cluster: KubeCluster, api: Clients) -> None:
    core = api.core
    core.create_namespaced_pod(
        NS,
        pod_body(
            "talker", command="for i in 1 2 3 4; do echo line$i; sleep 0.15; done; echo oops >&2"
        ),
    )
    kube_cluster.wait_for(
        lambda: (
            (kube_cluster.get("pods", "talker") or {}).get("status", {}).get("phase") == "Running"
        )
    )
    stream = core.read_namespaced_pod_log("talker", NS, follow=True, _preload_content=False)
    try:
        text = b"".join(stream.stream(64)).decode()
    finally:
        stream.release_conn()
    assert text.splitlines() == ["line1", "line2", "line3", "line4", "oops"]
    assert core.read_namespaced_pod_log("talker", NS, tail_lines=2) == "line4\noops\n"
    pod = core.read_namespaced_pod("talker", NS)
    assert (
        pod.status.phase == "Succeeded"
        and pod.status.container_statuses[0].state.terminated.exit_code == 0
    )
    core.delete_namespaced_pod("talker", NS)
    kube_cluster.wait_for(lambda: kube_cluster.get("pods", "talker") is None)
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_pod_log("talker", NS)
    assert err.value.status == 404
    core.create_namespaced_pod(NS, pod_body("stuck", image="registry.example/unpullable:1"))
    kube_cluster.wait_for(lambda: pod_field(kube_cluster, "stuck", "containerStatuses"))
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_pod_log("stuck", NS)
    assert (
        err.value.status == 400
        and 'container \\"main\\" in pod \\"stuck\\" is waiting to start' in body_of(err)
    )


# ---- FrameworkController simulator ------------------------------------------------------------


def test_ps_worker_framework_succeeds(kube_cluster: KubeCluster, api: Clients, nfs: Path) -> None:
    custom = api.custom
    states: list[str] = []
    ready = threading.Event()

    def follow() -> None:
        w = Watch()
        for event in w.stream(
            custom.list_namespaced_custom_object,
            G,
            V,
            NS,
            P,
            field_selector="metadata.name=trial1",
            timeout_seconds=15,
        ):
            ready.set()
            state = (event["object"].get("status") or {}).get("state")
            if state and (not states or states[-1] != state):
                states.append(state)
            if state == "Completed":
                w.stop()
        ready.set()

    watcher = threading.Thread(target=follow)
    watcher.start()
    custom.create_namespaced_custom_object(G, V, NS, P, ps_worker("trial1"))
    kube_cluster.wait_for(lambda: len(kube_cluster.objects("pods")) == 3, what="3 pods")
    pods = {p["metadata"]["name"]: p for p in kube_cluster.objects("pods")}
    assert set(pods) == {"trial1-ps-0", "trial1-worker-0", "trial1-worker-1"}
    worker = pods["trial1-worker-1"]
    assert worker["metadata"]["labels"] == {
        "trial": "worker",
        "FC_FRAMEWORK_NAME": "trial1",
        "FC_TASKROLE_NAME": "worker",
        "FC_TASK_INDEX": "1",
    }
    assert worker["metadata"]["annotations"]["FC_POD_NAME"] == "trial1-worker-1"
    assert worker["metadata"]["ownerReferences"][0]["kind"] == "ConfigMap"
    assert kube_cluster.get("configmaps", "trial1-attempt") is not None
    status = final_status(kube_cluster, "trial1")
    watcher.join(15)
    result = status["attemptStatus"]["completionStatus"]
    assert (result["code"], result["type"]["name"]) == (0, "Succeeded")
    assert result["trigger"]["taskRoleName"] == "worker"
    assert task_codes(status) == {"ps-0": -220, "worker-0": 0, "worker-1": 0}
    assert states[0] in ("AttemptCreationPending", "AttemptCreationRequested", "AttemptPreparing")
    assert {"AttemptRunning", "AttemptDeletionPending", "AttemptCompleted"} <= set(
        states
    ) and states[-1] == "Completed"
    assert {p.name: p.read_text().strip() for p in nfs.iterdir()} == {
        "ps-0": "0",
        "worker-0": "0",
        "worker-1": "1",
    }
    ps = status["attemptStatus"]["taskRoleStatuses"][0]["taskStatuses"][0]
    assert (
        ps["attemptStatus"]["podIP"] == "127.0.0.1"
        and ps["attemptStatus"]["podName"] == "trial1-ps-0"
    )
    assert kube_cluster.objects("pods") == [] and kube_cluster.objects("configmaps") == []
    assert kube_cluster.processes() == []
    assert status["completionTime"] and status["attemptStatus"]["instanceUID"].startswith("0_")


@pytest.mark.parametrize(
    ("exit_code", "phrase", "attributes"),
    [
        (3, "ContainerUnrecognizedFailed", []),
        (210, "ContainerPermanentFailed", ["Permanent"]),
        (200, "ContainerTransientFailed", ["Transient"]),
    ],
)
def test_failing_worker_fails_framework(
    kube_cluster: KubeCluster,
    api: Clients,
    nfs: Path,
    exit_code: int,
    phrase: str,
    attributes: list[str],
) -> None:
    api.custom.create_namespaced_custom_object(
        G, V, NS, P, ps_worker("trial2", f'[ "$FC_TASK_INDEX" = 1 ] && exit {exit_code}; sleep 60')
    )
    status = final_status(kube_cluster, "trial2")
    result = status["attemptStatus"]["completionStatus"]
    assert (result["code"], result["phrase"], result["type"]) == (
        exit_code,
        phrase,
        {"name": "Failed", "attributes": attributes},
    )
    assert result["trigger"] == {
        "message": "FailedTaskCount 1 has reached MinFailedTaskCount 1 in the TaskRole",
        "taskRoleName": "worker",
        "taskIndex": 1,
    }
    assert task_codes(status) == {"ps-0": -220, "worker-0": -220, "worker-1": exit_code}
    assert kube_cluster.processes() == [] and kube_cluster.objects("pods") == []


def test_stop_kills_tasks_with_210(kube_cluster: KubeCluster, api: Clients, nfs: Path) -> None:
    custom = api.custom
    custom.create_namespaced_custom_object(G, V, NS, P, ps_worker("trial3", "sleep 60"))
    kube_cluster.wait_for(lambda: kube_cluster.state("trial3") == "AttemptRunning")
    kube_cluster.wait_for(lambda: len(kube_cluster.processes()) == 3)
    custom.patch_namespaced_custom_object(
        G, V, NS, P, "trial3", {"spec": {"executionType": "Stop"}}
    )
    status = final_status(kube_cluster, "trial3")
    result = status["attemptStatus"]["completionStatus"]
    assert (result["code"], result["phrase"], result["type"]["attributes"]) == (
        -210,
        "StopFrameworkRequested",
        ["Permanent"],
    )
    assert set(task_codes(status).values()) == {-220}
    assert kube_cluster.processes() == [] and kube_cluster.objects("pods") == []


def test_unpullable_image_stays_preparing_until_stopped(
    kube_cluster: KubeCluster, api: Clients, nfs: Path
) -> None:
    custom = api.custom
    custom.create_namespaced_custom_object(
        G,
        V,
        NS,
        P,
        framework("trial4", role("main", 1, (1, -1), "true", image="example.com/unpullable:v1")),
    )

    def backoff() -> bool:
        pod = kube_cluster.get("pods", "trial4-main-0") or {}
        statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
        waiting = statuses[0].get("state", {}).get("waiting", {})
        return waiting.get(
            "reason"
        ) == "ImagePullBackOff" and "Back-off pulling image" in waiting.get("message", "")

    kube_cluster.wait_for(backoff, what="ImagePullBackOff")
    time.sleep(0.5)
    assert kube_cluster.state("trial4") == "AttemptPreparing"
    assert kube_cluster.get("pods", "trial4-main-0")["status"]["phase"] == "Pending"  # type: ignore[index]
    custom.patch_namespaced_custom_object(
        G, V, NS, P, "trial4", {"spec": {"executionType": "Stop"}}
    )
    assert final_status(kube_cluster, "trial4")["attemptStatus"]["completionStatus"]["code"] == -210


def test_gpu_pods_unschedulable_when_switched_off(
    kube_cluster: KubeCluster, api: Clients, nfs: Path
) -> None:
    kube_cluster.gpu_unschedulable = True
    body = framework("trial5", role("main", 1, (1, -1), "true"))
    body["spec"]["taskRoles"][0]["task"]["pod"]["spec"]["containers"][0]["resources"] = {
        "limits": {"nvidia.com/gpu": "1"}
    }
    api.custom.create_namespaced_custom_object(G, V, NS, P, body)
    pod = kube_cluster.wait_for(
        lambda: (
            (kube_cluster.get("pods", "trial5-main-0") or {}).get("status", {}).get("conditions")
            and kube_cluster.get("pods", "trial5-main-0")
        )
    )
    assert pod["status"]["conditions"][0] == {
        **pod["status"]["conditions"][0],
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
    }
    assert kube_cluster.state("trial5") == "AttemptPreparing"


def test_frameworkbarrier_writes_injector(
    kube_cluster: KubeCluster, api: Clients, nfs: Path
) -> None:
    barrier: Obj = {
        "name": "frameworkbarrier",
        "image": "frameworkcontroller/frameworkbarrier",
        "volumeMounts": [{"name": "frameworkbarrier-volume", "mountPath": "/mnt/frameworkbarrier"}],
    }
    command = '. /mnt/frameworkbarrier/injector.sh && echo "$FB_WORKER_ADDRESSES $FB_PS_IPS" > /tmp/mount/addr-$FC_TASKROLE_NAME-$FC_TASK_INDEX'
    extras: Obj = {
        "initContainers": [barrier],
        "volumes": [{"name": "frameworkbarrier-volume", "emptyDir": {}}],
    }
    roles = [role(name, n, (1, -1), command, **extras) for name, n in (("ps", 1), ("worker", 2))]
    for r in roles:
        container = r["task"]["pod"]["spec"]["containers"][0]
        container["volumeMounts"].append(barrier["volumeMounts"][0])
        container["env"] = [{"name": "FB_WORKER_PORT", "value": "4001"}]
    api.custom.create_namespaced_custom_object(G, V, NS, P, framework("trial6", *roles))
    status = final_status(kube_cluster, "trial6")
    assert status["attemptStatus"]["completionStatus"]["code"] == 0
    expected = "127.0.0.1:4001,127.0.0.1:4001 127.0.0.1"
    assert {p.name: p.read_text().strip() for p in nfs.iterdir()} == {
        f"addr-{n}": expected for n in ("ps-0", "worker-0", "worker-1")
    }


def test_external_pod_delete_and_foreground_framework_delete(
    kube_cluster: KubeCluster, api: Clients, nfs: Path
) -> None:
    custom, core = api.custom, api.core
    custom.create_namespaced_custom_object(G, V, NS, P, ps_worker("trial7", "sleep 60"))
    kube_cluster.wait_for(lambda: len(kube_cluster.processes()) == 3)
    core.delete_namespaced_pod("trial7-worker-0", NS)
    status = final_status(kube_cluster, "trial7")
    assert status["attemptStatus"]["completionStatus"]["code"] == -101
    assert status["attemptStatus"]["completionStatus"]["phrase"] == "PodExternalDeleted"
    custom.create_namespaced_custom_object(
        G,
        V,
        NS,
        P,
        ps_worker("trial8", 'trap "sleep 0.5; exit 143" TERM; echo ready; sleep 60 & wait'),
    )
    kube_cluster.wait_for(lambda: len(kube_cluster.processes()) == 3)
    wait_logged(kube_cluster, core, ["trial8-worker-0", "trial8-worker-1"], "ready")
    deleting = custom.delete_namespaced_custom_object(
        G, V, NS, P, "trial8", propagation_policy="Foreground"
    )
    assert deleting["metadata"]["deletionTimestamp"]
    time.sleep(0.2)
    assert kube_cluster.get("frameworks", "trial8") is not None, (
        "Foreground: the Framework waits for its pods"
    )
    assert kube_cluster.get("pods", "trial8-worker-0")["metadata"]["deletionTimestamp"]  # type: ignore[index]
    kube_cluster.wait_for(
        lambda: kube_cluster.get("frameworks", "trial8") is None, what="framework gone"
    )
    assert (
        kube_cluster.objects("pods") == []
        and kube_cluster.objects("configmaps") == []
        and kube_cluster.processes() == []
    )
    # Background (the default for custom objects): the Framework goes first, its pods after.
    slow = ps_worker("trial9", 'trap "sleep 0.3; exit 143" TERM; echo ready; sleep 60 & wait')
    custom.create_namespaced_custom_object(G, V, NS, P, slow)
    kube_cluster.wait_for(lambda: len(kube_cluster.processes()) == 3)
    wait_logged(kube_cluster, core, ["trial9-worker-0", "trial9-worker-1"], "ready")
    custom.delete_namespaced_custom_object(G, V, NS, P, "trial9")
    assert kube_cluster.get("frameworks", "trial9") is None
    assert kube_cluster.objects("pods"), "pods are still terminating"
    kube_cluster.wait_for(lambda: kube_cluster.objects("pods") == [], what="pods gone")
    assert kube_cluster.processes() == [] and kube_cluster.objects("configmaps") == []


def test_invalid_frameworks_are_422(kube_cluster: KubeCluster, api: Clients) -> None:
    custom = api.custom
    too_many = framework("trial9", role("main", 10001, (1, -1), "true"))
    for body, field in [
        (framework("trial-9", role("main", 1, (1, -1), "true")), "metadata.name"),
        (too_many, "spec.taskRoles[0].taskNumber"),
    ]:
        with pytest.raises(client.ApiException) as err:
            custom.create_namespaced_custom_object(G, V, NS, P, body)
        assert err.value.status == 422 and field in body_of(err)
    assert len(kube_cluster.created("Framework")) == 2 and kube_cluster.objects("frameworks") == []


def test_volumes_env_and_mount_errors(
    kube_cluster: KubeCluster, api: Clients, tmp_path: Path
) -> None:
    core = api.core
    share = tmp_path / "azure"
    (share / "sub").mkdir(parents=True)
    (share / "sub" / "input.txt").write_text("from-azure")
    kube_cluster.azure_shares["nnishare"] = share
    script = (
        "cat /mnt/azure/input.txt > /out/azure.txt; cat /etc/creds/token > /out/secret.txt; "
        'echo "$MY_POD $MY_NS $FROM_SECRET $(pwd)" > /out/env.txt; '
        "touch /etc/creds/x 2>/dev/null || echo ro > /out/readonly.txt"
    )
    container = {
        "name": "main",
        "image": "python:3.11",
        "command": ["sh", "-c", script],
        "workingDir": "/work/dir",
        "env": [
            {"name": "MY_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "MY_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {
                "name": "FROM_SECRET",
                "valueFrom": {"secretKeyRef": {"name": "azure-secret", "key": "token"}},
            },
        ],
        "volumeMounts": [
            {"name": "share", "mountPath": "/mnt/azure", "subPath": "sub"},
            {"name": "creds", "mountPath": "/etc/creds", "readOnly": True},
            {"name": "out", "mountPath": "/out"},
        ],
    }
    volumes = [
        {"name": "share", "azureFile": {"secretName": "azure-secret", "shareName": "nnishare"}},
        {"name": "creds", "secret": {"secretName": "azure-secret"}},
        {"name": "out", "hostPath": {"path": str(tmp_path / "out"), "type": "DirectoryOrCreate"}},
    ]
    core.create_namespaced_pod(
        NS,
        {
            "metadata": {"name": "vols"},
            "spec": {"restartPolicy": "Never", "containers": [container], "volumes": volumes},
        },
    )
    kube_cluster.wait_for(
        lambda: (
            "Couldn't get secret default/azure-secret"
            in (pod_field(kube_cluster, "vols", "message") or "")
        )
    )
    assert pod_field(kube_cluster, "vols", "phase") == "Pending"
    reasons = {e.reason for e in core.list_namespaced_event(NS).items}
    assert "FailedMount" in reasons
    core.create_namespaced_secret(
        NS, {"metadata": {"name": "azure-secret"}, "stringData": {"token": "s3cret"}}
    )
    kube_cluster.wait_for(
        lambda: pod_field(kube_cluster, "vols", "phase") == "Succeeded", what="pod Succeeded"
    )
    out = tmp_path / "out"
    assert (out / "azure.txt").read_text() == "from-azure"
    assert (out / "secret.txt").read_text() == "s3cret"
    assert (out / "env.txt").read_text().split() == ["vols", "default", "s3cret", "/work/dir"]
    assert (out / "readonly.txt").read_text().strip() == "ro"


def test_framework_retry_and_fc_env(kube_cluster: KubeCluster, api: Clients, nfs: Path) -> None:
    body = framework(
        "trial10",
        role(
            "main",
            1,
            (1, -1),
            "env | grep ^FC_ | sort > /tmp/mount/env-$FC_FRAMEWORK_ATTEMPT_ID; exit 1",
        ),
    )
    body["spec"]["retryPolicy"]["maxRetryCount"] = 1
    api.custom.create_namespaced_custom_object(G, V, NS, P, body)
    status = final_status(kube_cluster, "trial10")
    assert (
        status["retryPolicyStatus"]["totalRetriedCount"] == 1 and status["attemptStatus"]["id"] == 1
    )
    assert status["attemptStatus"]["completionStatus"]["code"] == 1
    env = dict(line.split("=", 1) for line in (nfs / "env-1").read_text().splitlines())
    assert (
        env["FC_FRAMEWORK_NAME"] == "trial10"
        and env["FC_TASKROLE_NAME"] == "main"
        and env["FC_TASK_INDEX"] == "0"
    )
    assert env["FC_POD_NAME"] == "trial10-main-0" and env["FC_CONFIGMAP_NAME"] == "trial10-attempt"
    assert env["FC_TASK_ATTEMPT_INSTANCE_UID"] == f"0_{env['FC_POD_UID']}"
    assert (nfs / "env-0").exists()


def test_protocol_details(kube_cluster: KubeCluster, api: Clients) -> None:
    core, custom = api.core, api.custom
    for i in range(5):
        core.create_namespaced_config_map(NS, {"metadata": {"name": f"cm{i}"}})
    page = core.list_namespaced_config_map(NS, limit=2)
    assert [c.metadata.name for c in page.items] == [
        "cm0",
        "cm1",
    ] and page.metadata.remaining_item_count == 3
    rest = core.list_namespaced_config_map(NS, limit=10, _continue=page.metadata._continue)
    assert [c.metadata.name for c in rest.items] == [
        "cm2",
        "cm3",
        "cm4",
    ] and not rest.metadata._continue
    rest_client = core.api_client.rest_client
    headers = {
        "Authorization": f"Bearer {kube_cluster.token}",
        "Content-Type": "application/apply-patch+yaml",
    }

    def raw(method: str, path: str, body: Any = None) -> tuple[int, str]:
        response = rest_client.request(
            method, kube_cluster.url + path, headers=dict(headers), body=body
        )
        return int(response.status), response.read().decode()

    code, text = raw("GET", f"/api/v1/watch/namespaces/{NS}/configmaps/cm3?timeoutSeconds=1")
    assert code == 200 and [
        json.loads(line)["object"]["metadata"]["name"] for line in text.splitlines()
    ] == ["cm3"]
    custom.create_namespaced_custom_object(
        G, V, NS, P, framework("proto", role("r", 1, (1, -1), "true"), execution="Create")
    )
    code, text = raw("PATCH", f"/apis/{G}/{V}/namespaces/{NS}/frameworks/proto", "spec: {}")
    assert code == 415 and json.loads(text)["reason"] == "UnsupportedMediaType"
    code, _ = raw("GET", f"/apis/{G}/{V}/namespaces/{NS}/frameworks/proto/status")
    assert code == 404, "Framework has no status subresource"
    strict = framework("strict", role("r", 1, (1, -1), "true"))
    strict["spec"]["bogus"] = True
    with pytest.raises(client.ApiException) as err:
        custom.create_namespaced_custom_object(G, V, NS, P, strict, field_validation="Strict")
    assert err.value.status == 400 and 'unknown field \\"spec.bogus\\"' in body_of(err)
    kube_cluster.api.namespaces = {"default"}
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map("elsewhere", {"metadata": {"name": "x"}})
    assert err.value.status == 404


# ---- fast mode -------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
# What fast mode stands in for: a real NNI trial reporting the same values through nni's SDK.
NNI_TRIAL = f"""
import sys
sys.path.insert(0, "{REPO}")
import nni
from tests.k8sim.fast import fast_value, intermediate_values
params = nni.get_next_parameter()
final = fast_value(params)
for value in intermediate_values(final):
    nni.report_intermediate_result(value)
nni.report_final_result(final)
"""


def run_nnifc_trial(workdir: Path, fast: float | None) -> tuple[dict[str, bytes], KubeCluster]:
    """One nnifc Framework (nnifc's own manifest and wrapper) run to Completed; the share's files."""
    share = workdir / "share"
    (share / "nni" / "exp1" / "code").mkdir(parents=True)
    (share / "nni" / "exp1" / "trial1").mkdir()
    command = f"{sys.executable} -c '{NNI_TRIAL}'"
    config = FrameworkControllerExperimentConfig.model_validate(
        {
            "experimentName": "fast",
            "trialConcurrency": 1,
            "trainingServicePlatform": "frameworkcontroller",
            "trial": {
                "codeDir": str(workdir),
                "taskRoles": [
                    {
                        "name": "trial",
                        "taskNum": 1,
                        "command": command,
                        "gpuNum": 0,
                        "cpuNum": 1,
                        "memoryMB": 256,
                        "image": "msranni/nni:latest",
                        "frameworkAttemptCompletionPolicy": {
                            "minFailedTaskCount": 1,
                            "minSucceededTaskCount": 1,
                        },
                    }
                ],
            },
            "frameworkcontrollerConfig": {},
        },
        context={"base_dir": workdir},
    )
    spec = TrialSpec("exp1", "trial1", 0, 4, {"x": 0.5, "k": 2, "opt": "adam"})
    body = nnifc_framework.manifest(
        spec,
        as_settings(config),
        namespace=NS,
        volume={"name": nnifc_framework.STORAGE_VOLUME, "nfs": {"server": SERVER, "path": EXPORT}},
        pull_secrets={},
    )
    cluster = start_cluster(workdir / "k8sim", fast_seconds=fast)
    try:
        cluster.nfs_exports[(SERVER, EXPORT)] = share
        cluster.store.create("frameworks", NS, body)
        name = body["metadata"]["name"]
        if fast is not None:
            cluster.wait_for(lambda: cluster.state(name) == "AttemptRunning", what="running")
            assert cluster.processes() == [], "a fast container starts no process"
        status = final_status(cluster, name, timeout=60)
        logs = "\n".join(p.read_text() for p in (workdir / "k8sim").rglob("*.log"))
        assert status["attemptStatus"]["completionStatus"]["code"] == 0, logs
        assert (NS, name) in cluster.completions()
    finally:
        cluster.close()
    files = {
        str(p.relative_to(share)): p.read_bytes()
        for p in sorted(share.rglob("*"))
        if p.is_file() and "code" not in p.parts
    }
    return files, cluster


def test_fast_mode_writes_what_a_real_nnifc_trial_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the wrapper's version probe runs `python3`: make it this venv's, whose nni fast mode mimics
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    real, _ = run_nnifc_trial(tmp_path / "real", None)
    start = time.monotonic()
    fast, cluster = run_nnifc_trial(tmp_path / "fast", 0.3)
    assert time.monotonic() - start < 10
    assert fast == real
    final = fast_value({"x": 0.5, "k": 2, "opt": "adam"})
    assert final == 1 - (0.5 - 0.3) ** 2 - (2 - 0.3) ** 2
    lines = [
        sdk_line("PERIODICAL", 4, "trial1", i, v) for i, v in enumerate(intermediate_values(final))
    ]
    out = "nni/exp1/trial1/output/trial_0/"
    assert fast[out + "stdout"].decode() == "".join(lines) + sdk_line(
        "FINAL", 4, "trial1", 0, final
    )
    assert fast[out + "exitcode"] == b"0\n"
    assert set(fast) == {
        "nni/exp1/trial1/parameter.cfg",
        "nni/exp1/trial1/.nni/metrics",
        out + "stdout",
        out + "exitcode",
        out + "trial.log",
        out + "nni_version",
    }
    assert fast["nni/exp1/trial1/.nni/metrics"] == fast[out + "trial.log"] == b""
    assert fast[out + "nni_version"] == b"3.0\n"
    assert cluster.requests.count() == 0  # driven through the store: the API saw nothing


def test_fast_mode_waits_for_parameters_and_times_completions(tmp_path: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    cluster = start_cluster(tmp_path / "k8sim", fast_seconds=0.2)
    try:
        cluster.nfs_exports[(SERVER, EXPORT)] = share
        env = [
            {"name": "NNIFC_LOG", "value": "/tmp/mount/t/output/main_0/stdout"},
            {"name": "NNIFC_EXIT", "value": "/tmp/mount/t/output/main_0/exitcode"},
            {"name": "NNI_SYS_DIR", "value": "/tmp/mount/t"},
            {"name": "NNI_OUTPUT_DIR", "value": "/tmp/mount/t/output/main_0"},
            {"name": "NNI_TRIAL_JOB_ID", "value": "t"},
        ]
        waiting = role("main", 1, (1, -1), "exit 3")
        waiting["task"]["pod"]["spec"]["containers"][0]["env"] = env
        plain = role("main", 1, (1, -1), "exit 3")  # not an nnifc task: just takes the time
        cluster.store.create("frameworks", NS, framework("waits", waiting))
        cluster.store.create("frameworks", NS, framework("plain", plain))
        assert final_status(cluster, "plain")["attemptStatus"]["completionStatus"]["code"] == 0
        log = share / "t" / "output" / "main_0" / "stdout"
        cluster.wait_for(lambda: log.exists() and b"REQUEST_PARAMETER" in log.read_bytes())
        time.sleep(0.5)
        assert cluster.state("waits") == "AttemptRunning", "nni waits for its parameter.cfg"
        (share / "t" / "parameter.cfg").write_text('{"parameter_id": 1, "parameters": {"x": 0.3}}')
        assert final_status(cluster, "waits")["attemptStatus"]["completionStatus"]["code"] == 0
        assert log.read_text().count("NNISDK_MEb") == 5
        done = cluster.completions()
        assert set(done) == {(NS, "plain"), (NS, "waits")}
        assert done[(NS, "plain")] < done[(NS, "waits")] <= time.time()
    finally:
        cluster.close()
        shutil.rmtree(tmp_path / "k8sim", ignore_errors=True)


def test_watch_events_are_encoded_as_json_dumps_would(tmp_path: Path) -> None:
    """Watch events reuse a stored spec's encoding; the bytes must not change for it."""
    from tests.k8sim.encoding import watch_event

    cluster = start_cluster(tmp_path / "k8sim", fast_seconds=0.2)
    try:
        cluster.nfs_exports[(SERVER, EXPORT)] = tmp_path
        fw = framework("enc", role("main", 1, (1, -1), "echo \u00e9 \u2603"))
        fw["spec"]["description"] = 'quotes " and \\ and \n and 1.5e-07'
        cluster.store.create("frameworks", NS, fw)
        final_status(cluster, "enc")
        events, _ = cluster.store.events_after(1)
        assert len({id(e.obj.get("spec")) for e in events if e.plural == "frameworks"}) == 1
        for event in events * 2:  # the second time from the memo
            expected = json.dumps({"type": event.type, "object": event.obj}).encode() + b"\n"
            assert watch_event(event.type, event.obj) == expected
        odds: list[Any] = [{}, {"spec": {}}, {"spec": [1]}, {1: {"spec": {}}}, {"spec": {"x": 0.1}}]
        for odd in odds:
            assert (
                watch_event("ERROR", odd)
                == json.dumps({"type": "ERROR", "object": odd}).encode() + b"\n"
            )
    finally:
        cluster.close()
        shutil.rmtree(tmp_path / "k8sim", ignore_errors=True)
