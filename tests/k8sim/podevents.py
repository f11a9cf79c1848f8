"""The Events the kubelet (and the scheduler) record about pods.

Why: users and the launcher's diagnostics read a pod's Events (Scheduled, Failed, BackOff,
Started, Killing, FailedMount, FailedScheduling) to see why it is stuck or what happened; each
is recorded once per pod run, with the source a real kubelet or scheduler would give.
"""

from __future__ import annotations

from typing import Any

from .containers import NODE, Run
from .errors import ApiError
from .store import Store, now

Obj = dict[str, Any]


def record_event(
    store: Store, pod: Obj, run: Run | None, kind: str, reason: str, message: str
) -> None:
    """Record an Event about the pod, once per reason and message for each run."""
    key = f"{reason}:{message}"
    if run is not None and key in run.events:
        return
    if run is not None:
        run.events.add(key)
    meta = pod["metadata"]
    event: dict[str, Any] = {
        "metadata": {"generateName": meta["name"] + "."},
        "involvedObject": {
            "kind": "Pod",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
            "apiVersion": "v1",
        },
        "reason": reason,
        "message": message,
        "type": kind,
        "source": {
            "component": "kubelet" if reason != "FailedScheduling" else "default-scheduler",
            "host": NODE,
        },
        "firstTimestamp": now(),
        "lastTimestamp": now(),
        "count": 1,
    }
    for attempt in range(5):  # a generated name can collide (409), as on a real server
        try:
            store.create(
                "events",
                meta["namespace"],
                dict(event, metadata=dict(event["metadata"])),
                view=True,
            )
            return
        except ApiError as e:
            if e.code != 409 or attempt == 4:
                raise
