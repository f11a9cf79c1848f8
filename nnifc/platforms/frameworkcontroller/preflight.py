"""Before the first trial: is FrameworkController there, and may we do what trials need?

Every check runs before anything is created, and each failure is one line saying what to fix:
the CRD that proves FrameworkController is installed, a SelfSubjectAccessReview per permission
nnifc uses (all missing ones listed together, asked at once), and the pods' service account.
The checks themselves are checks.py's, which `nnifc doctor` runs too.
"""

from __future__ import annotations

from nnifc.errors import NotAuthorized, PlatformError
from nnifc.platforms.frameworkcontroller import checks
from nnifc.platforms.frameworkcontroller.checks import CRD, FOR_SECRETS, NEEDED, Need
from nnifc.platforms.frameworkcontroller.k8s import Cluster

__all__ = ["CRD", "FOR_SECRETS", "NEEDED", "check_cluster", "needed"]


def needed(*, secrets: bool) -> list[Need]:
    """The permissions an experiment needs; those on Secrets only when it creates some."""
    return NEEDED + (FOR_SECRETS if secrets else [])


def check_cluster(cluster: Cluster, *, service_account: str | None, secrets: bool) -> None:
    """Raise PlatformError naming every problem found with the cluster, context and namespace;
    the permissions on Secrets are asked only when the experiment will create some."""
    crd = checks.crd(cluster)
    if crd.failed:
        raise PlatformError(crd.found)
    asked = needed(secrets=secrets)
    answers = checks.permissions(cluster, asked)
    denied = [
        checks.label(need) for need, check in zip(asked, answers, strict=True) if check.failed
    ]
    if denied:
        raise NotAuthorized(
            f"context {cluster.context!r} lacks permissions in namespace {cluster.namespace!r}: "
            f"{', '.join(denied)}; ask your cluster admin for a Role granting them",
            status=403,
        )
    if service_account:
        account = checks.service_account(cluster, service_account)
        if account.failed:
            raise PlatformError(account.found)
