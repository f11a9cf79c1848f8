"""deploy/: every manifest is valid Kubernetes 1.30 (strict: no unknown field), the user's Role
grants exactly what the preflight checks, and the NFS and RBAC manifests apply to the API
double, where an experiment run with only that Role's permissions starts and stops cleanly."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from ruamel.yaml import YAML

from nnifc.platforms.frameworkcontroller import checks, preflight
from nnifc.platforms.frameworkcontroller.k8s import connect
from tests.conftest import created_id, run_nnifc, status_json, wait_for
from tests.fcconfig import fc_config, nfs_storage
from tests.k8sim.fixture import KubeCluster, kube_cluster
from tests.k8sim.resources import RESOURCES

if TYPE_CHECKING:
    from tests.ganesha import Ganesha

pytest_plugins = ["tests.ganesha"]
__all__ = ["kube_cluster"]

DEPLOY = Path(__file__).parent.parent / "deploy"
KUBERNETES = "1.30.0"  # the release whose OpenAPI schemas the manifests must meet
validator: Any = importlib.import_module("kubernetes_validate")  # untyped


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in YAML(typ="safe").load_all((DEPLOY / name).read_text()) if d]


ALL = [
    (path.name, i)
    for path in sorted(DEPLOY.glob("*.yaml"))
    for i, _ in enumerate(documents(path.name))
]


@pytest.mark.parametrize(("name", "index"), ALL, ids=[f"{n}#{i}" for n, i in ALL])
def test_every_manifest_is_valid_kubernetes(name: str, index: int) -> None:
    document = documents(name)[index]
    assert validator.validate(document, KUBERNETES, strict=True) == "1.30"


def test_an_unknown_field_is_caught() -> None:
    """The validation is strict: a misspelt field fails it."""
    role = documents("rbac-user.yaml")[0]
    role["rules"][0]["verb"] = role["rules"][0].pop("verbs")
    with pytest.raises(validator.ValidationError):
        validator.validate(role, KUBERNETES, strict=True)


def granted(role: dict[str, Any]) -> set[checks.Need]:
    """(verb, group, resource, subresource) for every combination a Role's rules grant."""
    found = set()
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                plural, _, sub = resource.partition("/")
                found |= {(verb, group, plural, sub) for verb in rule["verbs"]}
    return found


def test_the_user_role_grants_exactly_what_the_preflight_checks() -> None:
    (role,) = [d for d in documents("rbac-user.yaml") if d["kind"] == "Role"]
    asked = set(preflight.needed(secrets=True)) | set(checks.READS)
    assert granted(role) == asked


def only(cluster: KubeCluster, allowed: set[checks.Need]) -> None:
    """Enforce, on the double, that nothing beyond `allowed` may be done (as RBAC would)."""
    cluster.faults.enforce_denied = True
    for resource in RESOURCES.values():
        for verb in resource.verbs:
            if (verb, resource.group, resource.plural, "") not in allowed:
                cluster.faults.deny(verb, resource.plural, group=resource.group, subresource="")
    if ("get", "", "pods", "log") not in allowed:
        cluster.faults.deny("get", "pods", subresource="log")
    for verb in ("get", "list"):  # cluster-scoped: no Role grants it
        cluster.faults.deny(verb, "customresourcedefinitions")


def apply(cluster: KubeCluster, document: dict[str, Any]) -> dict[str, Any]:
    api = cluster.api
    kind = document["kind"]
    (resource,) = [r for r in RESOURCES.values() if r.kind == kind]
    namespace = document["metadata"]["namespace"]
    prefix = f"/apis/{resource.group}/{resource.version}" if resource.group else "/api/v1"
    k8s = connect(namespace=namespace)
    try:
        return k8s.request(
            f"apply {kind}",
            "POST",
            f"{prefix}/namespaces/{namespace}/{resource.plural}",
            body=document,
        )
    finally:
        k8s.close()
    del api


def test_the_nfs_and_rbac_manifests_apply_to_the_double(kube_cluster: KubeCluster) -> None:
    """Namespaces are implicit in the double: every other object is created and read back."""
    applied = []
    for name in ("namespace.yaml", "nfs-server.yaml", "rbac-user.yaml"):
        for document in documents(name):
            if document["kind"] == "Namespace":
                continue
            stored = apply(kube_cluster, document)
            assert stored["metadata"]["uid"]
            applied.append((document["kind"], document["metadata"]["name"]))
    assert ("Deployment", "nfs-server") in applied and ("Service", "nfs-server") in applied
    role = kube_cluster.get("roles", "nnifc-user", "nnifc")
    assert role is not None and granted(role) == granted(documents("rbac-user.yaml")[0])
    assert kube_cluster.get("serviceaccounts", "frameworkcontroller", "nnifc") is not None


TRIAL = """\
    import time
    import nni

    params = nni.get_next_parameter()
    time.sleep(60)
    nni.report_final_result(params["x"])
"""


def test_with_only_the_user_role_an_experiment_starts_and_stops(
    kube_cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path, home: Path
) -> None:
    kube_cluster.nfs_exports[(nfs_server.server, nfs_server.path)] = nfs_server.local_dir
    only(kube_cluster, granted(documents("rbac-user.yaml")[0]))
    config = fc_config(
        tmp_path,
        nfs_storage(nfs_server.server, nfs_server.path),
        trial=TRIAL,
        space={"x": {"_type": "uniform", "_value": [0, 1]}},
        trials=2,
        concurrency=2,
    )
    started = run_nnifc("create", "--config", str(config), "--detach")
    assert started.returncode == 0, started.stderr
    exp_id = created_id(started)
    wait_for(lambda: len(kube_cluster.objects("pods")) == 2, what="2 pods")
    stopped = run_nnifc("stop", exp_id)
    assert stopped.returncode == 0, stopped.stderr
    data = status_json(exp_id)
    assert data["status"] == "STOPPED", (
        data["reason"],
        data["message"],
        [t["message"] for t in data["trials"]],
    )
    wait_for(lambda: not kube_cluster.objects("frameworks"), timeout=20, what="no Frameworks")
    assert [
        r
        for r in kube_cluster.requests
        if r.status == 403 and r.resource != "customresourcedefinitions"
    ] == []
