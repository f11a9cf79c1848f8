"""The FrameworkController simulator: Framework state machine, pods, completion policy.

Why: the launcher's correctness hinges on FC's observable behaviour (research notes sections
2-4): which states appear in which order, which pods and ConfigMap exist and are named how,
which codes end a task or an attempt, and that pods vanish as soon as tasks end. This module
reproduces that on top of the shared store; the kubelet runs the pods it creates.

A Framework's next step depends only on it, its ConfigMap and its pods, so `sync()` acts only
on those whose resourceVersions moved since it last acted, found in O(changes) (see
fcqueue.py). `completed_at` records when each one reached Completed.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from . import completion, fcobjects
from .errors import ApiError
from .fcqueue import FrameworkQueue
from .objects import clone
from .store import Store, now

Obj = dict[str, Any]
LIVE = ("AttemptPreparing", "AttemptRunning")
DELETING = ("AttemptDeletionPending", "AttemptDeletionRequested", "AttemptDeleting")


def _transition(obj: Obj, state: str) -> None:
    obj["state"] = state
    obj["transitionTime"] = now()


def _tasks(status: Obj) -> list[tuple[Obj, Obj]]:
    return [
        (role, task)
        for role in status["attemptStatus"]["taskRoleStatuses"]
        for task in role["taskStatuses"]
    ]


class FrameworkController:
    """One `sync()` moves every Framework at most one write further."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.completed_at: dict[tuple[str, str], float] = {}  # (namespace, name) -> time.time()
        self._queue = FrameworkQueue(store)

    def sync(self) -> None:
        frameworks = self._queue.take()
        for i, fw in enumerate(frameworks):
            try:
                self._sync_one(fw)
            except BaseException:  # look at this one and the rest again on the next pass
                self._queue.retry(frameworks[i:])
                raise

    def _sync_one(self, fw: Obj) -> None:
        status = fw.get("status")
        if not status:
            start = now()
            status = {
                "startTime": start,
                "runTime": None,
                "completionTime": None,
                "state": "AttemptCreationPending",
                "transitionTime": start,
                "retryPolicyStatus": fcobjects.retry_status(),
                "attemptStatus": fcobjects.new_attempt(fw, 0),
            }
            self._write(fw, status)
        elif status.get("state") != "Completed":
            status = clone(status)
            if self._step(fw, status):
                self._write(fw, status)

    def _write(self, fw: Obj, status: Obj) -> None:
        meta = fw["metadata"]

        def change(obj: Obj) -> Obj:
            obj["status"] = status
            return obj

        with contextlib.suppress(ApiError):
            self.store.update(
                "frameworks",
                meta["namespace"],
                meta["name"],
                change,
                expect_rv=meta["resourceVersion"],
                validate=False,  # only the status changes; the spec was validated when written
                view=True,
                shallow=True,
            )
            if status.get("state") == "Completed":
                self.completed_at[(meta["namespace"], meta["name"])] = time.time()

    # ---- the framework attempt -------------------------------------------------------------

    def _step(self, fw: Obj, st: Obj) -> bool:
        meta, spec = fw["metadata"], fw["spec"]
        ns, state, att = meta["namespace"], st["state"], st["attemptStatus"]
        cm = self.store.peek("configmaps", ns, att["configMapName"])
        ours = cm is not None and any(
            r.get("uid") == meta["uid"] for r in cm["metadata"].get("ownerReferences") or []
        )
        if (
            spec.get("executionType") == "Stop"
            and att["completionStatus"] is None
            and state not in ("AttemptCompleted", "Completed")
        ):
            self._complete(st, completion.status(-210, "User has requested to stop the Framework"))
            return True
        if state == "AttemptCreationPending":
            if spec.get("executionType") == "Create" or (cm is not None and not ours):
                return False
            if cm is None:
                try:
                    self.store.create("configmaps", ns, fcobjects.configmap(fw), view=True)
                except ApiError:
                    return False
            _transition(st, "AttemptCreationRequested")
            return True
        if state == "AttemptCreationRequested":
            if not ours or cm is None:
                return False
            att["configMapUID"] = cm["metadata"]["uid"]
            att["instanceUID"] = f"{att['id']}_{cm['metadata']['uid']}"
            _transition(st, "AttemptPreparing")
            return True
        if state in LIVE:
            if cm is None or not ours or cm["metadata"].get("deletionTimestamp"):
                self._complete(
                    st,
                    completion.status(
                        -100, f"ConfigMap {att['configMapName']} was deleted by others"
                    ),
                )
                return True
            changed, trigger = False, None
            for (role_status, task), role_spec in zip(
                _tasks(st), self._role_specs(fw, st), strict=True
            ):
                moved, done = self._sync_task(fw, st, cm, role_spec, task)
                changed |= moved
                if done and trigger is None:
                    trigger = self._policy(st, role_status, role_spec, task)
            if state == "AttemptPreparing" and any(
                t["attemptStatus"]["runTime"] for _, t in _tasks(st)
            ):
                _transition(st, "AttemptRunning")
                st["runTime"] = st["runTime"] or now()
                att["runTime"] = now()
                changed = True
            if trigger is not None:
                self._complete(st, trigger)
                changed = True
            return changed
        if state == "AttemptDeletionPending":
            for _, task in _tasks(st):
                if task["state"] != "Completed":
                    self._delete_pod(ns, task)
            if cm is not None and ours:
                self._delete(("configmaps", ns, cm["metadata"]["name"]), "Foreground")
                _transition(st, "AttemptDeletionRequested")
            else:
                _transition(st, "AttemptDeleting")
            return True
        if state in ("AttemptDeletionRequested", "AttemptDeleting"):
            changed = False
            for _, task in _tasks(st):
                if task["state"] != "Completed" and self._pod(ns, task) is None:
                    task["attemptStatus"]["completionTime"] = now()
                    task["completionTime"] = now()
                    _transition(task, "Completed")
                    changed = True
            if (
                state == "AttemptDeletionRequested"
                and cm is not None
                and cm["metadata"].get("deletionTimestamp")
            ):
                _transition(st, "AttemptDeleting")
                changed = True
            if (cm is None or not ours) and all(t["state"] == "Completed" for _, t in _tasks(st)):
                att["completionTime"] = now()
                _transition(st, "AttemptCompleted")
                changed = True
            return changed
        if state == "AttemptCompleted":
            retry = st["retryPolicyStatus"]
            if completion.should_retry(
                spec.get("retryPolicy") or {}, retry, att["completionStatus"]
            ):
                retry["totalRetriedCount"] += 1
                transient = "Transient" in att["completionStatus"]["type"]["attributes"]
                if not ((spec.get("retryPolicy") or {}).get("fancyRetryPolicy") and transient):
                    retry["accountableRetriedCount"] += 1
                st["attemptStatus"] = fcobjects.new_attempt(fw, retry["totalRetriedCount"])
                _transition(st, "AttemptCreationPending")
            else:
                st["completionTime"] = now()
                _transition(st, "Completed")
            return True
        return False

    def _role_specs(self, fw: Obj, st: Obj) -> list[Obj]:
        by_name = {r["name"]: r for r in fw["spec"].get("taskRoles") or []}
        return [by_name.get(role["name"], {}) for role, _ in _tasks(st)]

    def _complete(self, st: Obj, result: Obj) -> None:
        st["attemptStatus"]["completionStatus"] = result
        for _, task in _tasks(st):
            if task["state"] == "Completed":
                continue
            if task["attemptStatus"]["completionStatus"] is None:
                task["attemptStatus"]["completionStatus"] = completion.status(
                    -220, "Stop to complete current FrameworkAttempt"
                )
            if task["state"] not in DELETING:
                _transition(task, "AttemptDeletionPending")
        _transition(st, "AttemptDeletionPending")

    def _policy(self, st: Obj, role_status: Obj, role_spec: Obj, task: Obj) -> Obj | None:
        policy = role_spec.get("frameworkAttemptCompletionPolicy") or {}
        tasks = [t for t in role_status["taskStatuses"] if t["state"] == "Completed"]
        result = task["attemptStatus"]["completionStatus"]
        failed = sum(
            1 for t in tasks if t["attemptStatus"]["completionStatus"]["type"]["name"] == "Failed"
        )
        succeeded = len(tasks) - failed
        min_failed = int(policy.get("minFailedTaskCount", -1))
        min_succeeded = int(policy.get("minSucceededTaskCount", -1))
        where = {"taskRoleName": role_status["name"], "taskIndex": task["index"]}
        if result["type"]["name"] == "Failed" and min_failed >= 1 and failed >= min_failed:
            message = f"FailedTaskCount {failed} has reached MinFailedTaskCount {min_failed} in the TaskRole"
        elif (
            result["type"]["name"] == "Succeeded"
            and min_succeeded >= 1
            and succeeded >= min_succeeded
        ):
            message = f"SucceededTaskCount {succeeded} has reached MinSucceededTaskCount {min_succeeded} in the TaskRole"
        elif all(t["state"] == "Completed" for _, t in _tasks(st)):
            total = len(_tasks(st))
            all_failed = sum(
                1
                for _, t in _tasks(st)
                if t["attemptStatus"]["completionStatus"]["type"]["name"] == "Failed"
            )
            message = f"All Tasks are completed and no user specified conditions in FrameworkAttemptCompletionPolicy have ever been triggered: TotalTaskCount: {total}, FailedTaskCount: {all_failed}"
            outcome = completion.status(0, message)
            outcome["trigger"] = {"message": message, **where}
            return outcome
        else:
            return None
        outcome = {k: clone(v) for k, v in result.items() if k != "pod"}
        outcome["diagnostics"] = (
            f"{message}: TriggerTaskRoleName: {role_status['name']}, TriggerTaskIndex: {task['index']}: {result.get('diagnostics', '')}"
        )
        outcome["trigger"] = {"message": message, **where}
        return outcome

    # ---- tasks -----------------------------------------------------------------------------

    def _pod(self, ns: str, task: Obj) -> Obj | None:
        att = task["attemptStatus"]
        pod = self.store.peek("pods", ns, att["podName"])
        if pod is None or (att["podUID"] and pod["metadata"]["uid"] != att["podUID"]):
            return None
        return pod

    def _delete(self, key: tuple[str, str, str], policy: str | None = None) -> None:
        with contextlib.suppress(ApiError):
            self.store.delete(*key, propagation=policy)

    def _delete_pod(self, ns: str, task: Obj) -> None:
        pod = self._pod(ns, task)
        if pod is not None and not pod["metadata"].get("deletionTimestamp"):
            self._delete(("pods", ns, pod["metadata"]["name"]))
        if task["state"] not in ("AttemptDeletionRequested", "AttemptDeleting"):
            _transition(task, "AttemptDeleting")

    def _sync_task(self, fw: Obj, st: Obj, cm: Obj, role_spec: Obj, task: Obj) -> tuple[bool, bool]:
        """Advance one task; returns (changed, task just became Completed)."""
        ns = fw["metadata"]["namespace"]
        att, state = task["attemptStatus"], task["state"]
        pod = self.store.peek("pods", ns, att["podName"])
        if state == "AttemptCreationPending":
            if pod is not None:
                if not any(
                    r.get("uid") == cm["metadata"]["uid"]
                    for r in pod["metadata"].get("ownerReferences") or []
                ):
                    return (
                        False,
                        False,
                    )  # a stale pod of an earlier attempt or framework is still there
            else:
                try:
                    pod = self.store.create(
                        "pods", ns, fcobjects.new_pod(fw, st, cm, role_spec, task), view=True
                    )
                except ApiError as exc:
                    if exc.code != 422:
                        return False, False
                    att["completionStatus"] = completion.status(
                        -200, f"Pod creation failed: {exc.message}"
                    )
                    task["completionTime"] = att["completionTime"] = now()
                    _transition(task, "Completed")
                    return True, True
            att["podUID"] = pod["metadata"]["uid"]
            att["instanceUID"] = f"{att['id']}_{att['podUID']}"
            _transition(task, "AttemptCreationRequested")
            return True, False
        if pod is not None and pod["metadata"]["uid"] != att["podUID"]:
            pod = None
        if state in ("AttemptCreationRequested", *LIVE):
            if pod is None or pod["metadata"].get("deletionTimestamp"):
                att["completionStatus"] = completion.status(
                    -101, f"Pod {att['podName']} was deleted by others"
                )
                _transition(task, "AttemptDeleting")
                return True, False
            pod_status = pod.get("status") or {}
            before = clone(task)
            att.update(
                podNodeName=(pod.get("spec") or {}).get("nodeName"),
                podIP=pod_status.get("podIP"),
                podHostIP=pod_status.get("hostIP"),
            )
            phase = pod_status.get("phase", "Pending")
            if state == "AttemptCreationRequested":
                _transition(task, "AttemptPreparing")
            if phase == "Running" and task["state"] != "AttemptRunning":
                _transition(task, "AttemptRunning")
                task["runTime"] = task["runTime"] or now()
                att["runTime"] = now()
            if phase in ("Succeeded", "Failed"):
                att["completionStatus"] = completion.from_pod(pod)
                _transition(task, "AttemptDeletionPending")
                self._delete_pod(ns, task)
            return task != before, False
        if state in DELETING:
            if pod is None:
                task["completionTime"] = att["completionTime"] = now()
                task_retry = (role_spec.get("task") or {}).get("retryPolicy") or {}
                if completion.should_retry(
                    task_retry, task["retryPolicyStatus"], att["completionStatus"]
                ):
                    task["retryPolicyStatus"]["totalRetriedCount"] += 1
                    task["retryPolicyStatus"]["accountableRetriedCount"] += 1
                    task["attemptStatus"] = fcobjects.task_attempt(
                        fw["metadata"]["name"],
                        role_spec["name"],
                        task["index"],
                        task["retryPolicyStatus"]["totalRetriedCount"],
                    )
                    _transition(task, "AttemptCreationPending")
                    return True, False
                _transition(task, "Completed")
                return True, True
            if state == "AttemptDeletionPending":
                self._delete_pod(ns, task)
                return True, False
        return False, False

    # ---- objects FC creates ----------------------------------------------------------------
