"""Why a trial's pods are not running: the reason Kubernetes gives, for `status` to show.

Why apart: pods are FrameworkController's business; nnifc looks at them only for this.

FrameworkController keeps a task in AttemptPreparing forever when its image cannot be pulled or
it cannot be scheduled (by design, fc#14); the pods' own status says why.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from nnifc.platforms.frameworkcontroller.k8s import Cluster

BENIGN = {None, "ContainerCreating", "PodInitializing"}


def pending_reason(cluster: Cluster, framework_name: str) -> str:
    """'pod <name>: <Reason>: <message>' for the first pod stuck for a reason, else ''."""
    query = {"labelSelector": f"FC_FRAMEWORK_NAME={framework_name}"}
    path = f"/api/v1/namespaces/{quote(cluster.namespace)}/pods"
    answer = cluster.request("list the trial's pods", "GET", path, query=query)
    for pod in answer.get("items") or []:
        reason = _reason(pod)
        if reason:
            return f"pod {pod['metadata']['name']}: {reason}"
    return ""


def _reason(pod: dict[str, Any]) -> str:
    status = pod.get("status") or {}
    for container in (status.get("initContainerStatuses") or []) + (
        status.get("containerStatuses") or []
    ):
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") not in BENIGN:
            return _join(waiting.get("reason"), waiting.get("message"))
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return _join(condition.get("reason"), condition.get("message"))
    return ""


def _join(reason: str | None, message: str | None) -> str:
    return f"{reason}: {message}" if message else str(reason or "")
