"""The experiment's Secrets: what its pods need besides the Framework, made once per experiment.

Why apart: Secrets outlive single trials and are found again by `stop --orphans`.

The storage's credentials (Azure's account key) and one image-pull Secret per registry auth
file, all labelled with the experiment, created before the first trial and deleted with one
label-selected call when the experiment ends or is stopped.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from nnifc.errors import PlatformError
from nnifc.platforms.frameworkcontroller import manifest
from nnifc.platforms.frameworkcontroller.k8s import Cluster
from nnifc.platforms.frameworkcontroller.settings import FrameworkControllerSettings
from nnifc.storage import STORAGES, Storage


def used(config: FrameworkControllerSettings) -> bool:
    """Whether the experiment creates any Secret: the storage's (Azure Files' key), or an image
    pull secret."""
    return STORAGES[config.storage_kind].makes_secrets or any(
        role.private_registry_auth_path is not None for role in config.trial.task_roles
    )


def create(
    cluster: Cluster,
    storage: Storage[Any],
    config: FrameworkControllerSettings,
    experiment_id: str,
) -> None:
    """Create them all; one already there (an earlier start of the experiment) is fine."""
    bodies = storage.secrets(experiment_id) + _pull_secret_bodies(config, experiment_id)
    for body in bodies:
        body["metadata"]["labels"] = manifest.labels(experiment_id)
        what = f"create Secret {body['metadata']['name']}"
        try:
            cluster.request(what, "POST", _path(cluster), body=body)
        except PlatformError as e:
            if e.status != 409:
                raise


def delete(cluster: Cluster, experiment_id: str) -> None:
    cluster.request(
        "delete the experiment's Secrets",
        "DELETE",
        _path(cluster),
        query={"labelSelector": manifest.selector(experiment_id)},
    )


def labelled(cluster: Cluster, label_selector: str) -> list[dict[str, Any]]:
    """The namespace's Secrets that `label_selector` picks."""
    query = {"labelSelector": label_selector}
    answer = cluster.request("list nnifc's Secrets", "GET", _path(cluster), query=query)
    return list(answer.get("items") or [])


def delete_named(cluster: Cluster, name: str) -> None:
    cluster.request(f"delete Secret {name}", "DELETE", f"{_path(cluster)}/{quote(name, safe='')}")


def _path(cluster: Cluster) -> str:
    return f"/api/v1/namespaces/{quote(cluster.namespace)}/secrets"


def _pull_secret_bodies(
    config: FrameworkControllerSettings, experiment_id: str
) -> list[dict[str, Any]]:
    names = manifest.pull_secrets(config, experiment_id)
    bodies: dict[str, dict[str, Any]] = {}
    for role in config.trial.task_roles:
        path, name = role.private_registry_auth_path, names.get(role.name)
        if path is None or name is None or name in bodies:
            continue
        data = base64.b64encode(path.read_bytes()).decode()
        bodies[name] = {
            "metadata": {"name": name},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": data},
        }
    return list(bodies.values())
