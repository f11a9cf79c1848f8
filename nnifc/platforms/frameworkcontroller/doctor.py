"""`nnifc doctor`: every check `create` makes, and a few it cannot, each a row with its fix.

Why apart from the preflight: the preflight stops at the first problem; the doctor goes on,
runs what does not depend on a failed check and marks the rest skipped, so one run shows all
that is wrong. The checks are the preflight's own (checks.py); this module only orders them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from nnifc.errors import NnifcError, NoKubeconfig, NotAuthorized, PlatformError, StorageError
from nnifc.platforms.checkup import Check, failed, passed, skipped
from nnifc.platforms.frameworkcontroller import checks, preflight, secrets
from nnifc.platforms.frameworkcontroller.k8s import Cluster, connect, in_cluster, kubeconfig_files
from nnifc.platforms.frameworkcontroller.settings import FrameworkControllerSettings, settings_of

if TYPE_CHECKING:
    from nnifc.experiment import Experiment

KUBECONFIG_FIX = "set KUBECONFIG to your cluster's kubeconfig, or pass --context (kubectl config get-contexts lists them)"
STORAGE_FIXES = {
    "nfs": "check that the NFS server exports the path read-write to this machine and to the cluster's nodes over NFSv4 (TCP 2049; deploy/nfs-server.yaml)",
    "azureStorage": "grant your Azure identity 'get' on the vault's secret (Key Vault Secrets User) and write access to the storage account's file share",
}


def run(experiment: Experiment | None, options: Mapping[str, str], *, probe: bool) -> list[Check]:
    settings = settings_of(experiment) if experiment is not None else None
    return list(_rows(settings, options, probe=probe))


def _rows(
    settings: FrameworkControllerSettings | None, options: Mapping[str, str], *, probe: bool
) -> Iterator[Check]:
    namespace = options.get("namespace") or (
        settings.frameworkcontroller_config.namespace if settings else None
    )
    cluster: Cluster | None = None
    try:
        cluster = connect(context=options.get("context"), namespace=namespace)
        yield passed("kubeconfig and context", _where(cluster))
    except PlatformError as e:
        yield failed("kubeconfig and context", str(e), KUBECONFIG_FIX)
    rows = _cluster_rows(cluster, settings) if cluster is not None else []
    if cluster is not None:
        cluster.close()
    yield from rows
    reached = cluster is not None and not any(r.failed for r in rows if r.name != checks.SKEW)
    if settings is None:
        for name in ("storage", "image pull secrets", "trial image's nni"):
            yield skipped(name, "needs --config")
        return
    yield _storage(settings)
    yield from _pull_secrets(settings)
    if not probe:
        yield skipped("trial image's nni", "run with --probe to start one tiny trial")
    elif not reached:
        yield skipped("trial image's nni", "needs the cluster checks to pass")
    else:
        from nnifc.platforms.frameworkcontroller import probe as probing

        yield _guarded("trial image's nni", lambda: probing.nni_version(settings, options))


def _cluster_rows(cluster: Cluster, settings: FrameworkControllerSettings | None) -> list[Check]:
    """The API server and its clock, the CRD, each permission and the service account."""
    try:
        version, skew = checks.api_server(cluster)
    except PlatformError as e:
        rows = [failed("API server reachable", str(e), _fix(e))]
        return rows + [
            skipped(name, "needs the API server")
            for name in ("FrameworkController CRD", "permissions", "service account")
        ]
    rows = [version, skew, _guarded("FrameworkController CRD", lambda: checks.crd(cluster))]
    used = secrets.used(settings) if settings is not None else True
    try:
        rows += checks.permissions(cluster, preflight.needed(secrets=used))
    except PlatformError as e:
        rows.append(failed("permissions", str(e), _fix(e)))
    account = settings.frameworkcontroller_config.service_account_name if settings else None
    if account:
        name = f"service account {account!r}"
        rows.append(_guarded(name, lambda: checks.service_account(cluster, account)))
    elif settings is not None:
        rows.append(passed("service account", "none set: pods use the namespace's default one"))
    else:
        rows.append(skipped("service account", "needs --config (serviceAccountName)"))
    return rows


def _storage(settings: FrameworkControllerSettings) -> Check:
    kind = settings.storage_kind
    name = f"storage ({kind})"
    storage = settings.storage()
    try:
        storage.check()
    except StorageError as e:
        return failed(name, str(e), STORAGE_FIXES.get(kind, "see the message"))
    finally:
        storage.close()
    return passed(name, "reachable, a file written, read back and removed")


def _pull_secrets(settings: FrameworkControllerSettings) -> Iterator[Check]:
    paths = sorted(
        {
            str(r.private_registry_auth_path)
            for r in settings.trial.task_roles
            if r.private_registry_auth_path
        }
    )
    if not paths:
        yield passed("image pull secrets", "none configured (images pulled without credentials)")
    for path in paths:
        name = f"image pull secret {path}"
        fix = "privateRegistryAuthPath must be a docker config JSON with an 'auths' mapping (docker login writes one)"
        try:
            auths = json.loads(Path(path).read_bytes()).get("auths")
        except (OSError, ValueError, AttributeError) as e:
            yield failed(name, f"cannot read it as docker config JSON: {e}", fix)
            continue
        if not isinstance(auths, dict) or not auths:
            yield failed(name, "it has no registry under 'auths'", fix)
            continue
        yield passed(name, f"registries: {', '.join(sorted(auths))}")


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except NnifcError as e:
        return failed(name, str(e), _fix(e))


def _fix(e: NnifcError) -> str:
    status = getattr(e, "status", None)
    if isinstance(e, NoKubeconfig):
        return KUBECONFIG_FIX
    if status == 401:
        return "log in again (your credentials expired or were revoked) or fix the user in your kubeconfig"
    if isinstance(e, NotAuthorized):
        return (
            f"ask your cluster admin for the permission; {checks.RBAC_FILE} lists all nnifc needs"
        )
    return "check the cluster's address in your kubeconfig and that this machine can reach it"


def _where(cluster: Cluster) -> str:
    source = (
        "in-cluster service account"
        if in_cluster() and cluster.context == "in-cluster"
        else ", ".join(kubeconfig_files())
    )
    return f"{source}; context {cluster.context!r}, namespace {cluster.namespace!r}"
