"""Objects nnifc left in a cluster whose experiment no longer runs anywhere it can see.

A launcher killed without a resume leaves running Frameworks and its Secrets behind. They all
carry the `nnifc/experiment` label, so one list per kind finds them; what belongs to an
experiment whose loop is alive on this machine is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from nnifc.errors import PlatformError
from nnifc.framework import EXPERIMENT_LABEL, GROUP, PLURAL, VERSION
from nnifc.platforms.k8s import Cluster


@dataclass
class Orphans:
    frameworks: dict[str, list[str]] = field(default_factory=dict)  # experiment -> names
    secrets: dict[str, list[str]] = field(default_factory=dict)

    @property
    def experiments(self) -> list[str]:
        return sorted(set(self.frameworks) | set(self.secrets))


def find(cluster: Cluster, *, running: Collection[str]) -> Orphans:
    """nnifc's Frameworks and Secrets in the cluster's namespace whose experiment is not running."""
    found = Orphans()
    frameworks: Any = cluster.call(
        "list nnifc's Frameworks",
        cluster.custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        cluster.namespace,
        PLURAL,
        label_selector=EXPERIMENT_LABEL,
    )
    for raw in frameworks["items"]:
        experiment = raw["metadata"]["labels"][EXPERIMENT_LABEL]
        if experiment not in running:
            found.frameworks.setdefault(experiment, []).append(raw["metadata"]["name"])
    secrets = cluster.call(
        "list nnifc's Secrets",
        cluster.core.list_namespaced_secret,
        cluster.namespace,
        label_selector=EXPERIMENT_LABEL,
    )
    for secret in secrets.items:
        labels = (secret.metadata.labels if secret.metadata else None) or {}
        experiment = labels.get(EXPERIMENT_LABEL)
        if experiment and experiment not in running and secret.metadata and secret.metadata.name:
            found.secrets.setdefault(experiment, []).append(secret.metadata.name)
    return found


def delete(cluster: Cluster, orphans: Orphans) -> None:
    """Stop and delete the Frameworks (foreground), then delete the Secrets; gone ones are fine."""
    for names in orphans.frameworks.values():
        for name in names:
            _ignore_gone(
                cluster,
                f"stop Framework {name}",
                cluster.custom.patch_namespaced_custom_object,
                GROUP,
                VERSION,
                cluster.namespace,
                PLURAL,
                name,
                body={"spec": {"executionType": "Stop"}},
            )
            _ignore_gone(
                cluster,
                f"delete Framework {name}",
                cluster.custom.delete_namespaced_custom_object,
                GROUP,
                VERSION,
                cluster.namespace,
                PLURAL,
                name,
                body=client.V1DeleteOptions(propagation_policy="Foreground"),
            )
    for names in orphans.secrets.values():
        for name in names:
            _ignore_gone(
                cluster,
                f"delete Secret {name}",
                cluster.core.delete_namespaced_secret,
                name,
                cluster.namespace,
            )


def _ignore_gone(
    cluster: Cluster, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any
) -> None:
    try:
        cluster.call(what, fn, *args, **kwargs)
    except PlatformError as e:
        if e.status != 404:
            raise
