"""FrameworkController's completion codes, the exit-code mapping and the retry decision.

Why: the launcher maps `completionStatus.code`/`type` to trial outcomes, so the codes must be
FC's own (research notes, section 2.3 and 2.5): 0, the 200/201/210 exit-code contract, the
default podFailureSpec for signals, -101/-210/-220, and ContainerUnrecognizedFailed otherwise.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

CODES: dict[int, tuple[str, list[str]]] = {
    0: ("Succeeded", []),
    200: ("ContainerTransientFailed", ["Transient"]),
    201: ("ContainerTransientConflictFailed", ["Transient", "Conflict"]),
    210: ("ContainerPermanentFailed", ["Permanent"]),
    130: ("ContainerSigIntReceived", ["Transient"]),
    137: ("ContainerSigKillReceived", ["Transient"]),
    143: ("ContainerSigTermReceived", ["Transient"]),
    132: ("ContainerSigIllReceived", ["Permanent"]),
    135: ("ContainerSigBusReceived", ["Permanent"]),
    136: ("ContainerSigFpeReceived", ["Permanent"]),
    139: ("ContainerSigSegvReceived", ["Permanent"]),
    141: ("ContainerSigPipeReceived", ["Permanent"]),
    134: ("ContainerSigAbrtReceived", []),
    -100: ("ConfigMapExternalDeleted", ["Transient"]),
    -101: ("PodExternalDeleted", ["Transient"]),
    -200: ("PodCreationPermanentError", ["Permanent"]),
    -210: ("StopFrameworkRequested", ["Permanent"]),
    -220: ("FrameworkAttemptCompletion", ["Permanent"]),
    -300: ("PodFailedWithoutFailedContainer", []),
}
NEVER_RETRIED = {-210, -220, -230}


def status(
    code: int, diagnostics: str = "", phrase: str | None = None, attributes: list[str] | None = None
) -> Obj:
    known_phrase, known_attrs = CODES.get(code, ("ContainerUnrecognizedFailed", []))
    return {
        "code": code,
        "phrase": phrase or known_phrase,
        "type": {
            "name": "Succeeded" if code == 0 else "Failed",
            "attributes": list(attributes if attributes is not None else known_attrs),
        },
        "diagnostics": diagnostics,
    }


def from_pod(pod: Obj) -> Obj:
    """The task completion status for a pod in phase Succeeded or Failed."""
    pod_status = pod.get("status") or {}
    containers = []
    failed: Obj | None = None
    for entry in (pod_status.get("initContainerStatuses") or []) + (
        pod_status.get("containerStatuses") or []
    ):
        term = (entry.get("state") or {}).get("terminated")
        if term and term.get("exitCode", 0) != 0:
            failed = {
                "name": entry["name"],
                "reason": term.get("reason", ""),
                "message": term.get("message", ""),
                "code": term["exitCode"],
            }
            containers.append(failed)
    detail = {
        "reason": pod_status.get("reason", ""),
        "message": pod_status.get("message", ""),
        "containers": containers,
    }
    if pod_status.get("phase") == "Succeeded":
        result = status(0, "Pod succeeded")
    elif failed is None:
        result = status(-300, "Pod failed without any failed container")
    else:
        code = int(failed["code"])
        result = status(
            code,
            f"Pod failed: container {failed['name']} exited with {code}: {failed['message']}".rstrip(
                ": "
            ),
        )
    result["pod"] = detail
    return result


def should_retry(policy: Obj, retry_status: Obj, completion: Obj) -> bool:
    """FC's ShouldRetry (section 2.5), without the random delay for Conflict."""
    code = completion["code"]
    kind = completion["type"]
    if code in NEVER_RETRIED:
        return False
    if policy.get("fancyRetryPolicy"):
        if kind["name"] == "Failed" and "Transient" in kind["attributes"]:
            return True
        if kind["name"] == "Failed" and "Permanent" in kind["attributes"]:
            return False
    max_count = int(policy.get("maxRetryCount", 0))
    if max_count == -2:
        return True
    if kind["name"] == "Succeeded":
        return False
    return max_count == -1 or int(retry_status.get("accountableRetriedCount", 0)) < max_count
