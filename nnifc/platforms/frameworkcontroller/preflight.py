"""Before the first trial: is FrameworkController there, and may we do what trials need?

Every check runs before anything is created, and each failure is one line saying what to fix:
the CRD that proves FrameworkController is installed, a SelfSubjectAccessReview per permission
nnifc uses (all missing ones listed together, asked at once), and the pods' service account.
Plain HTTP (`Cluster.request`): the generated client's CRD and review models are slow to
import and fill, on the path of every `nnifc create`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from nnifc.errors import NotAuthorized, PlatformError
from nnifc.platforms.frameworkcontroller.k8s import Cluster
from nnifc.platforms.frameworkcontroller.manifest import GROUP, PLURAL, VERSION

CRD = f"{PLURAL}.{GROUP}"
# (verb, API group, resource, subresource)
NEEDED = [
    *((verb, GROUP, PLURAL, "") for verb in ("create", "get", "list", "watch", "patch", "delete")),
    ("get", "", "pods", ""),
    ("list", "", "pods", ""),
    ("get", "", "pods", "log"),
]
# only for an experiment that creates Secrets (Azure Files' key, an image pull secret)
FOR_SECRETS = [(verb, "", "secrets", "") for verb in ("create", "list", "delete")]
REVIEWS_AT_ONCE = 4  # within the client's connection pool (k8s.POOL_CONNECTIONS)


def check_cluster(cluster: Cluster, *, service_account: str | None, secrets: bool) -> None:
    """Raise PlatformError naming every problem found with the cluster, context and namespace;
    the permissions on Secrets are asked only when the experiment will create some."""
    _check_crd(cluster)
    needed = NEEDED + (FOR_SECRETS if secrets else [])
    with ThreadPoolExecutor(REVIEWS_AT_ONCE, thread_name_prefix="nnifc-review") as pool:
        allowed = list(pool.map(lambda need: _allowed(cluster, *need), needed))
    denied = [
        f"{verb} {resource}{'/' + sub if sub else ''}"
        for (verb, _, resource, sub), ok in zip(needed, allowed, strict=True)
        if not ok
    ]
    if denied:
        raise NotAuthorized(
            f"context {cluster.context!r} lacks permissions in namespace {cluster.namespace!r}: "
            f"{', '.join(denied)}; ask your cluster admin for a Role granting them",
            status=403,
        )
    if service_account:
        try:
            cluster.request(
                "read the service account",
                "GET",
                f"/api/v1/namespaces/{quote(cluster.namespace)}/serviceaccounts/"
                f"{quote(service_account, safe='')}",
            )
        except PlatformError as e:
            if e.status != 404:
                raise
            raise PlatformError(
                f"serviceAccountName {service_account!r} does not exist in namespace {cluster.namespace!r} "
                f"(context {cluster.context!r}); create it or fix frameworkcontrollerConfig.serviceAccountName"
            ) from e


def _check_crd(cluster: Cluster) -> None:
    missing = PlatformError(
        f"FrameworkController is not installed in the cluster of context {cluster.context!r}: "
        f"there is no {CRD} CustomResourceDefinition"
    )
    try:
        path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD}"
        cluster.request("read the Framework CRD", "GET", path)
        return
    except NotAuthorized:
        pass  # reading CRDs is cluster-scoped; many users may not: try the frameworks themselves
    except PlatformError as e:
        if e.status == 404:
            raise missing from e
        raise
    try:
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{quote(cluster.namespace)}/{PLURAL}"
        cluster.request("list Frameworks", "GET", path, query={"limit": "1"})
    except PlatformError as e:
        if e.status == 404:
            raise missing from e
        raise


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
