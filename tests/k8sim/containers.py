"""Per-pod runtime state, container environments and the pod status the kubelet reports.

Why: the pod status is what FrameworkController (and the launcher) read, so it is derived in
one pure function from the kubelet's record of each container (waiting, running, terminated,
restarts); environments follow Kubernetes rules (`$(VAR)` expansion, fieldRef, secretKeyRef).
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fast import FastContainer
from .store import Store

Obj = dict[str, Any]
NODE = "k8sim-node"
POD_IP = "127.0.0.1"


@dataclass
class Run:
    """Everything the kubelet knows about one pod (by UID)."""

    uid: str
    dir: Path
    started: str
    volumes: dict[str, Path] | None = None
    mount_error: str | None = None
    pull_started: float = 0.0
    init_done: int = 0
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    fast: dict[str, FastContainer] = field(default_factory=dict)  # fast mode's "processes"
    quiet_rv: str | None = None  # the pod's RV when nothing but time could change it
    states: dict[str, Obj] = field(default_factory=dict)
    last_states: dict[str, Obj] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    restart_at: dict[str, float] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    phase: str = "Pending"
    kill_sent: float | None = None
    events: set[str] = field(default_factory=set)

    def wake_at(self) -> float | None:
        """When a fast container next has something to do (time.monotonic()), if any."""
        return min((f.next_due for f in self.fast.values()), default=None)


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion; `$$(VAR)` escapes it."""
    return re.sub(
        r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
        lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
        text,
    )


def field_ref(pod: Obj, path: str) -> str:
    meta = pod["metadata"]
    match = re.match(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": NODE,
        "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName"),
        "status.podIP": POD_IP,
        "status.hostIP": POD_IP,
    }
    return str(simple.get(path) or "")


def container_env(store: Store, pod: Obj, container: Obj) -> dict[str, str]:
    env = dict(os.environ)
    namespace = pod["metadata"]["namespace"]
    for item in container.get("env") or []:
        if "valueFrom" not in item:
            env[item["name"]] = expand(str(item.get("value", "")), env)
            continue
        source = item["valueFrom"]
        if "fieldRef" in source:
            env[item["name"]] = field_ref(pod, source["fieldRef"].get("fieldPath", ""))
        elif "secretKeyRef" in source or "configMapKeyRef" in source:
            plural, ref = (
                ("secrets", source["secretKeyRef"])
                if "secretKeyRef" in source
                else ("configmaps", source["configMapKeyRef"])
            )
            obj = store.find(plural, namespace, ref.get("name", "")) or {}
            value = (obj.get("data") or {}).get(ref.get("key", ""))
            if value is not None:
                env[item["name"]] = (
                    base64.b64decode(value).decode() if plural == "secrets" else value
                )
    return env


def pod_status(pod: Obj, run: Run) -> Obj:
    spec = pod.get("spec") or {}
    inits, mains = spec.get("initContainers") or [], spec.get("containers") or []
    waiting_reason = "PodInitializing" if run.init_done < len(inits) else "ContainerCreating"

    def statuses(containers: list[Obj], default: str) -> list[Obj]:
        out = []
        for c in containers:
            state = run.states.get(c["name"]) or {"waiting": {"reason": default}}
            entry: Obj = {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": "running" in state,
                "started": "running" in state,
                "restartCount": run.restarts.get(c["name"], 0),
                "state": state,
            }
            if c["name"] in run.last_states:
                entry["lastState"] = run.last_states[c["name"]]
            out.append(entry)
        return out

    ready = "True" if run.phase == "Running" else "False"
    conditions = [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": run.started},
        {
            "type": "Initialized",
            "status": "True" if run.init_done >= len(inits) else "False",
            "lastTransitionTime": run.started,
        },
        {"type": "ContainersReady", "status": ready, "lastTransitionTime": run.started},
        {"type": "Ready", "status": ready, "lastTransitionTime": run.started},
    ]
    status: Obj = {
        "phase": run.phase,
        "conditions": conditions,
        "hostIP": POD_IP,
        "podIP": POD_IP,
        "podIPs": [{"ip": POD_IP}],
        "startTime": run.started,
        "qosClass": "BestEffort",
        "containerStatuses": statuses(mains, waiting_reason),
    }
    if inits:
        status["initContainerStatuses"] = statuses(inits, "PodInitializing")
    if run.mount_error:
        status["message"] = run.mount_error
    return status
