"""Before the first trial: is FrameworkController there, and may we do what trials need?

Every check runs before anything is created, and each failure is one line saying what to fix:
the CRD that proves FrameworkController is installed, a SelfSubjectAccessReview per permission
nnifc uses (all missing ones listed together), and the pods' service account.
"""

from __future__ import annotations

from kubernetes import client

from nnifc.errors import NotAuthorized, PlatformError
from nnifc.framework import GROUP, PLURAL, VERSION
from nnifc.platforms.k8s import Cluster

CRD = f"{PLURAL}.{GROUP}"
# (verb, API group, resource, subresource)
NEEDED = [
    *((verb, GROUP, PLURAL, "") for verb in ("create", "get", "list", "watch", "patch", "delete")),
    ("get", "", "pods", ""),
    ("list", "", "pods", ""),
    ("get", "", "pods", "log"),
    ("create", "", "secrets", ""),
    ("list", "", "secrets", ""),
    ("delete", "", "secrets", ""),
]


def check_cluster(cluster: Cluster, *, service_account: str | None) -> None:
    """Raise PlatformError naming every problem found with the cluster, context and namespace."""
    _check_crd(cluster)
    denied = [
        f"{verb} {resource}{'/' + sub if sub else ''}"
        for verb, group, resource, sub in NEEDED
        if not _allowed(cluster, verb, group, resource, sub)
    ]
    if denied:
        raise NotAuthorized(
            f"context {cluster.context!r} lacks permissions in namespace {cluster.namespace!r}: "
            f"{', '.join(denied)}; ask your cluster admin for a Role granting them",
            status=403,
        )
    if service_account:
        try:
            cluster.call(
                "read the service account",
                cluster.core.read_namespaced_service_account,
                service_account,
                cluster.namespace,
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
    extensions = client.ApiextensionsV1Api(cluster.api)
    try:
        cluster.call("read the Framework CRD", extensions.read_custom_resource_definition, CRD)
        return
    except NotAuthorized:
        pass  # reading CRDs is cluster-scoped; many users may not: try the frameworks themselves
    except PlatformError as e:
        if e.status == 404:
            raise missing from e
        raise
    try:
        cluster.call(
            "list Frameworks",
            cluster.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            cluster.namespace,
            PLURAL,
            limit=1,
        )
    except PlatformError as e:
        if e.status == 404:
            raise missing from e
        raise


def _allowed(cluster: Cluster, verb: str, group: str, resource: str, subresource: str) -> bool:
    review = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(
                namespace=cluster.namespace,
                verb=verb,
                group=group,
                resource=resource,
                subresource=subresource or None,
            )
        )
    )
    answer = cluster.call(
        "ask what we may do (SelfSubjectAccessReview)",
        client.AuthorizationV1Api(cluster.api).create_self_subject_access_review,
        review,
    )
    return bool(answer.status and answer.status.allowed)
