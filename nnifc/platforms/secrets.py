"""The experiment's Secrets: what its pods need besides the Framework, made once per experiment.

The storage's credentials (Azure's account key) and one image-pull Secret per registry auth
file, all labelled with the experiment, created before the first trial and deleted with one
label-selected call when the experiment ends or is stopped.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from nnifc import framework
from nnifc.errors import PlatformError
from nnifc.experiment import FrameworkControllerExperimentConfig
from nnifc.platforms.k8s import Cluster
from nnifc.storage import Storage


def used(config: FrameworkControllerExperimentConfig) -> bool:
    """Whether the experiment creates any Secret: Azure Files' key, or an image pull secret."""
    return config.frameworkcontroller_config.storage == "azureStorage" or any(
        role.private_registry_auth_path is not None for role in config.trial.task_roles
    )


def create(
    cluster: Cluster,
    storage: Storage,
    config: FrameworkControllerExperimentConfig,
    experiment_id: str,
) -> None:
    """Create them all; one already there (an earlier start of the experiment) is fine."""
    bodies = storage.secrets(experiment_id) + _pull_secret_bodies(config, experiment_id)
    for body in bodies:
        body["metadata"]["labels"] = framework.labels(experiment_id)
        try:
            cluster.call(
                f"create Secret {body['metadata']['name']}",
                cluster.core.create_namespaced_secret,
                cluster.namespace,
                body,
            )
        except PlatformError as e:
            if e.status != 409:
                raise


def delete(cluster: Cluster, experiment_id: str) -> None:
    """Plain HTTP: the generated client's CoreV1Api takes 2 s of CPU to import."""
    cluster.request(
        "delete the experiment's Secrets",
        "DELETE",
        f"/api/v1/namespaces/{quote(cluster.namespace)}/secrets",
        query={"labelSelector": framework.selector(experiment_id)},
    )


def _pull_secret_bodies(
    config: FrameworkControllerExperimentConfig, experiment_id: str
) -> list[dict[str, Any]]:
    names = framework.pull_secrets(config, experiment_id)
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
