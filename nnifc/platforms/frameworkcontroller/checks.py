"""The cluster checks `create`'s preflight and `nnifc doctor` share, one question each.

Why one place: `create` stops at the first check that fails, with its `found` as the message;
`doctor` runs them all and shows each with its fix. A check answers with a Check, and raises
PlatformError only when the cluster could not be asked (unreachable, credentials refused).
Plain HTTP (`Cluster.request`): the generated client's CRD and review models are slow to
import and fill, on the path of every `nnifc create`.
"""

from __future__ import annotations

import email.utils
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import msgspec

from nnifc.errors import NotAuthorized, PlatformError
from nnifc.platforms.checkup import Check, failed, passed
from nnifc.platforms.frameworkcontroller.k8s import TRANSPORT_ERRORS, Cluster, Refused
from nnifc.platforms.frameworkcontroller.manifest import GROUP, PLURAL, VERSION

CRD = f"{PLURAL}.{GROUP}"
Need = tuple[str, str, str, str]  # (verb, API group, resource, subresource)
NEEDED: list[Need] = [
    *(
        (verb, GROUP, PLURAL, "")
        for verb in ("create", "get", "list", "watch", "patch", "delete", "deletecollection")
    ),
    ("list", "", "pods", ""),  # why a trial is pending (pods.py); logs come from the share
]
# only for an experiment that creates Secrets (Azure Files' key, an image pull secret)
FOR_SECRETS: list[Need] = [
    (verb, "", "secrets", "") for verb in ("create", "list", "delete", "deletecollection")
]
# read by the checks themselves, so a refusal shows there: the pods' service account
READS: list[Need] = [("get", "", "serviceaccounts", "")]
REVIEWS_AT_ONCE = 4  # within the client's connection pool (k8s.POOL_CONNECTIONS)
MAX_SKEW_SECONDS = 5.0  # beyond the Date header's one-second resolution
INSTALL_FIX = "install FrameworkController: kubectl apply -f deploy/frameworkcontroller.yaml (deploy/README.md)"
RBAC_FILE = "deploy/rbac-user.yaml"


def label(need: Need) -> str:
    verb, _, resource, sub = need
    return f"{verb} {resource}{'/' + sub if sub else ''}"


def api_server(cluster: Cluster) -> tuple[Check, Check]:
    """The API server's version, and how far its clock is from this machine's. One try, no
    retries: a doctor says at once that the server cannot be reached."""
    before = time.time()
    try:
        response = cluster.send("GET", "/version")
    except Refused as e:
        raise cluster.error("read the API server's version", e) from e
    except TRANSPORT_ERRORS as e:
        host = cluster.api.configuration.host
        raise PlatformError(
            f"cannot reach the Kubernetes API at {host} ({cluster.context}): {e}"
        ) from e
    after = time.time()
    info = msgspec.json.decode(response.data) if response.data else {}
    version = passed(
        "API server reachable",
        f"{cluster.api.configuration.host}, Kubernetes {info.get('gitVersion', '?')}",
    )
    return version, _skew(response.headers.get("Date"), (before + after) / 2)


SKEW = "clock skew launcher vs API server"


def _skew(date: str | None, now: float) -> Check:
    name = SKEW
    if not date:
        return passed(name, "the API server sent no Date header; not measured")
    server = email.utils.parsedate_to_datetime(date).timestamp()
    skew = now - server  # the header is truncated to the second: up to 1 s late
    shown = (
        f"this machine is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the API server"
    )
    if abs(skew) > MAX_SKEW_SECONDS + 1:
        fix = "synchronise this machine's clock (NTP, e.g. timedatectl set-ntp true): trial times and durations compare both clocks"
        return failed(name, shown, fix)
    return passed(name, f"{abs(skew):.0f} s (within {MAX_SKEW_SECONDS:.0f} s)")


def crd(cluster: Cluster) -> Check:
    """The CRD that proves FrameworkController is installed, serving the version nnifc speaks."""
    name = "FrameworkController CRD"
    missing = failed(
        name,
        f"FrameworkController is not installed in the cluster of context {cluster.context!r}: "
        f"there is no {CRD} CustomResourceDefinition",
        INSTALL_FIX,
    )
    try:
        found = cluster.request(
            "read the Framework CRD",
            "GET",
            f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD}",
        )
        served = [
            str(v.get("name"))
            for v in (found.get("spec") or {}).get("versions") or []
            if v.get("served")
        ]
        if VERSION not in served:
            why = f"the {CRD} CRD serves {', '.join(served) or 'no version'}, not {VERSION}, which nnifc creates"
            return failed(name, why, INSTALL_FIX)
        return passed(name, f"{CRD} serves {', '.join(served)}")
    except NotAuthorized:
        pass  # reading CRDs is cluster-scoped; many users may not: try the frameworks themselves
    except PlatformError as e:
        if e.status == 404:
            return missing
        raise
    try:
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{quote(cluster.namespace)}/{PLURAL}"
        cluster.request("list Frameworks", "GET", path, query={"limit": "1"})
    except PlatformError as e:
        if e.status == 404:
            return missing
        raise
    return passed(
        name, f"{GROUP}/{VERSION} Frameworks can be listed (the CRD itself may not be read)"
    )


def permissions(cluster: Cluster, needed: list[Need]) -> list[Check]:
    """One SelfSubjectAccessReview per permission, a few at once."""
    with ThreadPoolExecutor(REVIEWS_AT_ONCE, thread_name_prefix="nnifc-review") as pool:
        allowed = list(pool.map(lambda need: _allowed(cluster, *need), needed))
    checks = []
    for need, ok in zip(needed, allowed, strict=True):
        name = f"may {label(need)}"
        where = f"in namespace {cluster.namespace!r}"
        if ok:
            checks.append(passed(name, where))
            continue
        group = need[1] or "core"
        fix = (
            f"ask your cluster admin for a Role granting {need[0]} on {need[2]}"
            f"{'/' + need[3] if need[3] else ''} (API group {group}) {where}; {RBAC_FILE} has one"
        )
        checks.append(failed(name, f"context {cluster.context!r} may not, {where}", fix))
    return checks


def service_account(cluster: Cluster, name: str) -> Check:
    check = f"service account {name!r}"
    try:
        cluster.request(
            "read the service account",
            "GET",
            f"/api/v1/namespaces/{quote(cluster.namespace)}/serviceaccounts/{quote(name, safe='')}",
        )
    except PlatformError as e:
        if e.status != 404:
            raise
        found = (
            f"serviceAccountName {name!r} does not exist in namespace {cluster.namespace!r} "
            f"(context {cluster.context!r}); create it or fix frameworkcontrollerConfig.serviceAccountName"
        )
        fix = f"kubectl -n {cluster.namespace} create serviceaccount {name} (deploy/namespace.yaml makes 'frameworkcontroller')"
        return failed(check, found, fix)
    return passed(check, f"exists in namespace {cluster.namespace!r}")


def _allowed(cluster: Cluster, verb: str, group: str, resource: str, subresource: str) -> bool:
    attributes = {"namespace": cluster.namespace, "verb": verb, "group": group}
    attributes |= {"resource": resource} | ({"subresource": subresource} if subresource else {})
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }
    answer = cluster.request(
        "ask what we may do (SelfSubjectAccessReview)",
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        body=review,
    )
    return bool((answer.get("status") or {}).get("allowed"))
