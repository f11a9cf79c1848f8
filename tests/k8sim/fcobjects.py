"""The objects FrameworkController writes: initial attempt status, the ConfigMap, task pods.

Why: names, labels, annotations, ownerReferences and injected FC_* variables are what the
launcher selects on and what trial code reads (research notes section 3), so they are built
in one place, field by field, from FC's conventions.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from .store import now

Obj = dict[str, Any]


def retry_status() -> Obj:
    return {"totalRetriedCount": 0, "accountableRetriedCount": 0, "retryDelaySec": None}


def task_attempt(fw_name: str, role: str, index: int, attempt: int) -> Obj:
    return {
        "id": attempt,
        "startTime": now(),
        "runTime": None,
        "completionTime": None,
        "instanceUID": None,
        "podName": f"{fw_name}-{role}-{index}",
        "podUID": None,
        "podNodeName": None,
        "podIP": None,
        "podHostIP": None,
        "completionStatus": None,
    }


def new_attempt(fw: Obj, attempt: int) -> Obj:
    name = fw["metadata"]["name"]
    roles = []
    for role in fw["spec"].get("taskRoles") or []:
        task = role.get("task") or {}
        tasks = []
        for index in range(int(role.get("taskNumber", 0))):
            tasks.append(
                {
                    "index": index,
                    "instanceUID": str(uuid.uuid4()),
                    "startTime": now(),
                    "runTime": None,
                    "completionTime": None,
                    "state": "AttemptCreationPending",
                    "transitionTime": now(),
                    "deletionPending": False,
                    "retryPolicyStatus": retry_status(),
                    "attemptStatus": task_attempt(name, role["name"], index, 0),
                }
            )
        roles.append(
            {
                "name": role["name"],
                "instanceUID": str(uuid.uuid4()),
                "podGracefulDeletionTimeoutSec": task.get("podGracefulDeletionTimeoutSec"),
                "taskStatuses": tasks,
            }
        )
    return {
        "id": attempt,
        "startTime": now(),
        "runTime": None,
        "completionTime": None,
        "instanceUID": None,
        "configMapName": f"{name}-attempt",
        "configMapUID": None,
        "completionStatus": None,
        "taskRoleStatuses": roles,
    }


def configmap(fw: Obj) -> Obj:
    meta = fw["metadata"]
    return {
        "metadata": {
            "name": f"{meta['name']}-attempt",
            "labels": {"FC_FRAMEWORK_NAME": meta["name"]},
            "annotations": {
                "FC_FRAMEWORK_NAMESPACE": meta["namespace"],
                "FC_FRAMEWORK_NAME": meta["name"],
                "FC_FRAMEWORK_UID": meta["uid"],
                "FC_FRAMEWORK_ATTEMPT_ID": str(fw["status"]["attemptStatus"]["id"]),
                "FC_CONFIGMAP_NAME": f"{meta['name']}-attempt",
            },
            "ownerReferences": [
                {
                    "apiVersion": fw["apiVersion"],
                    "kind": "Framework",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "data": {},
    }


def new_pod(fw: Obj, st: Obj, cm: Obj, role_spec: Obj, task: Obj) -> Obj:
    meta, att, task_att = fw["metadata"], st["attemptStatus"], task["attemptStatus"]
    role = role_spec["name"]
    role_uid = next(r["instanceUID"] for r in att["taskRoleStatuses"] if r["name"] == role)
    pod_name = task_att["podName"]
    placeholders = {
        "FC_FRAMEWORK_NAMESPACE": meta["namespace"],
        "FC_FRAMEWORK_NAME": meta["name"],
        "FC_TASKROLE_NAME": role,
        "FC_TASK_INDEX": str(task["index"]),
        "FC_CONFIGMAP_NAME": att["configMapName"],
        "FC_POD_NAME": pod_name,
    }
    text = json.dumps((role_spec.get("task") or {}).get("pod") or {})
    for key, value in placeholders.items():
        text = text.replace("{{" + key + "}}", value)
    template = json.loads(text)
    ids = {
        **placeholders,
        "FC_FRAMEWORK_UID": meta["uid"],
        "FC_FRAMEWORK_ATTEMPT_ID": str(att["id"]),
        "FC_FRAMEWORK_ATTEMPT_INSTANCE_UID": att["instanceUID"],
        "FC_CONFIGMAP_UID": cm["metadata"]["uid"],
        "FC_TASKROLE_UID": role_uid,
        "FC_TASK_UID": task["instanceUID"],
        "FC_TASK_ATTEMPT_ID": str(task_att["id"]),
    }
    pod_meta = template.get("metadata") or {}
    labels = {
        **(pod_meta.get("labels") or {}),
        "FC_FRAMEWORK_NAME": meta["name"],
        "FC_TASKROLE_NAME": role,
        "FC_TASK_INDEX": str(task["index"]),
    }
    owners = [
        *(pod_meta.get("ownerReferences") or []),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": att["configMapName"],
            "uid": cm["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        },
    ]
    env = [{"name": k, "value": v} for k, v in ids.items()]
    env += [
        {"name": "FC_POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
        {"name": "FC_TASK_ATTEMPT_INSTANCE_UID", "value": f"{task_att['id']}_$(FC_POD_UID)"},
    ]
    spec = template.get("spec") or {}
    for group in ("initContainers", "containers"):
        for container in spec.get(group) or []:
            container["env"] = env + (container.get("env") or [])
            container.setdefault("terminationMessagePolicy", "FallbackToLogsOnError")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            **pod_meta,
            "name": pod_name,
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": {**(pod_meta.get("annotations") or {}), **ids},
            "ownerReferences": owners,
        },
        "spec": spec,
    }
