"""Objects nnifc left in a cluster whose experiment no longer runs anywhere it can see.

Behind `stop --orphans`: a launcher killed without a resume leaves running Frameworks and its
Secrets behind. They all carry the `nnifc/experiment` label, so one list per kind finds them;
what belongs to an experiment whose loop is alive on this machine is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from nnifc.errors import PlatformError
from nnifc.platforms.frameworkcontroller import secrets
from nnifc.platforms.frameworkcontroller.client import Frameworks
from nnifc.platforms.frameworkcontroller.k8s import Cluster, connect
from nnifc.platforms.frameworkcontroller.manifest import EXPERIMENT_LABEL


@dataclass
class Orphans:
    frameworks: dict[str, list[str]] = field(default_factory=dict)  # experiment -> names
    secrets: dict[str, list[str]] = field(default_factory=dict)

    @property
    def experiments(self) -> list[str]:
        return sorted(set(self.frameworks) | set(self.secrets))


def remove(options: Mapping[str, str], *, running: Collection[str]) -> list[str]:
    """Find and delete the orphans in the namespace `options` name; a line per experiment."""
    cluster = connect(context=options.get("context"), namespace=options.get("namespace"))
    try:
        found = find(cluster, running=running)
        delete(cluster, found)
    finally:
        cluster.close()
    lines = []
    for experiment in found.experiments:
        names = found.frameworks.get(experiment, []) + found.secrets.get(experiment, [])
        lines.append(
            f"experiment {experiment}: deleted {len(names)} orphaned objects: {', '.join(names)}"
        )
    return lines or [
        f"no orphaned Frameworks or Secrets in namespace {cluster.namespace} ({cluster.context})"
    ]


def find(cluster: Cluster, *, running: Collection[str]) -> Orphans:
    """nnifc's Frameworks and Secrets in the cluster's namespace whose experiment is not running."""
    found = Orphans()
    listing = Frameworks(cluster).list(EXPERIMENT_LABEL, "list nnifc's Frameworks")
    for raw in listing.get("items") or []:
        experiment = raw["metadata"]["labels"][EXPERIMENT_LABEL]
        if experiment not in running:
            found.frameworks.setdefault(experiment, []).append(raw["metadata"]["name"])
    for secret in secrets.labelled(cluster, EXPERIMENT_LABEL):
        metadata = secret.get("metadata") or {}
        experiment = (metadata.get("labels") or {}).get(EXPERIMENT_LABEL)
        name = metadata.get("name")
        if experiment and experiment not in running and name:
            found.secrets.setdefault(experiment, []).append(name)
    return found


def delete(cluster: Cluster, orphans: Orphans) -> None:
    """Stop and delete the Frameworks (foreground), then delete the Secrets; gone ones are fine."""
    frameworks = Frameworks(cluster)
    for names in orphans.frameworks.values():
        for name in names:
            _ignore_gone(frameworks.stop, name)
            _ignore_gone(frameworks.delete, name)
    for names in orphans.secrets.values():
        for name in names:
            _ignore_gone(lambda n: secrets.delete_named(cluster, n), name)


def _ignore_gone(call: Callable[[str], object], name: str) -> None:
    try:
        call(name)
    except PlatformError as e:
        if e.status != 404:
            raise
