"""A one-node kubelet: schedules pods, sets up volumes, runs containers as local processes.

Why: FrameworkController reacts only to pod phases and container exit codes, so the most
faithful way to simulate a task is to really run its command: the launcher's trial script
then writes real files to the (simulated) shared storage, prints real logs and exits with a
real code. Images are not pulled; the command runs with whatever is on PATH here. Pods whose
image is marked bad, or that need a GPU when GPUs are switched off, stay Pending forever.

With `fast_seconds` set, containers start no process: each is a `fast.FastContainer` that
writes what an nnifc task would and exits 0 after that many seconds (for load tests). Pods
whose state only time can change are skipped by `sync()`, so it costs O(pods that changed):
it looks only at pods the store reports written or removed since the last pass (a change feed),
pods that need a look on every pass, and runs whose wake time has come (see agenda.py).
One container's start, exit and restarts are in lifecycle.py, the Events about pods in
podevents.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from .agenda import Agenda
from .barrier import write_injector
from .containers import NODE, Run, pod_status
from .errors import ApiError
from .lifecycle import drive_container
from .podevents import record_event
from .store import Store, now
from .volumes import MountError, VolumeSources, resolve

Obj = dict[str, Any]


class Kubelet:
    """Driven by `sync()` from the simulator thread; `log_file()` is read by the API server."""

    def __init__(self, store: Store, workdir: Path, sources: VolumeSources) -> None:
        self.store = store
        self.workdir = workdir
        self.sources = sources
        self.bad_images: set[str] = set()
        self.gpu_unschedulable = False
        self.kill_grace = 1.0  # seconds between SIGTERM and SIGKILL (capped by the pod's own)
        # as a real container whose PID 1 (a shell) ignores SIGTERM: it lives out its grace
        self.term_ignored = False
        self.backoff_after = 0.3  # seconds of ErrImagePull before ImagePullBackOff
        self.fast_seconds: float | None = None  # set: containers run no process (fast.py)
        self._agenda = Agenda(store)
        self._runs = self._agenda.runs  # by pod UID
        self._zombies: list[subprocess.Popen[bytes]] = []
        self._lock = threading.RLock()

    # ---- queries ---------------------------------------------------------------------------

    def busy(self) -> bool:
        with self._lock:
            return bool(self._zombies) or self._agenda.busy()

    def processes(self) -> list[int]:
        with self._lock:
            procs = [p for r in self._runs.values() for p in r.procs.values()] + self._zombies
            return [p.pid for p in procs if p.poll() is None]

    def log_file(self, pod: Obj, container: str) -> tuple[Path | None, bool]:
        with self._lock:
            run = self._runs.get(pod["metadata"]["uid"])
            if run is None or container not in run.logs:
                return None, False
            finished = (
                "terminated" in run.states.get(container, {}) and container not in run.restart_at
            )
            return run.logs[container], finished

    def bad_image(self, image: str) -> bool:
        return image in self.bad_images or "unpullable" in image

    def next_wake(self) -> float | None:
        """The earliest time.monotonic() at which a fast container has something to do."""
        with self._lock:
            return self._agenda.next_wake()

    # ---- the loop --------------------------------------------------------------------------

    def _wants(self, pod: Obj, now: float) -> bool:
        """Whether `sync` must look at this (stored, read-only) pod now."""
        meta = pod["metadata"]
        run = self._runs.get(meta["uid"])
        if run is None or meta.get("deletionTimestamp"):
            return True
        if run.phase in ("Succeeded", "Failed"):
            return False  # _progress would return at once
        if run.quiet_rv != meta.get("resourceVersion"):
            return True
        wake = run.wake_at()
        return wake is not None and wake <= now

    def sync(self) -> None:
        with self._lock:
            now = time.monotonic()
            keys, pods, gone = self._agenda.candidates(now, self._wants)
            for pod in pods:
                uid = pod["metadata"]["uid"]
                run = self._runs.get(uid)
                if pod["metadata"].get("deletionTimestamp"):
                    self._terminate(pod, run)
                elif run is None:
                    self._schedule(pod)
                else:
                    self._progress(pod, run)
            for uid in gone:  # removed without a graceful stop
                if uid in self._runs:
                    for proc in self._agenda.forget(uid).procs.values():
                        self._signal(proc, signal.SIGKILL)
                        self._zombies.append(proc)
            self._zombies = [p for p in self._zombies if p.poll() is None]
            self._agenda.settle(keys)

    def shutdown(self) -> None:
        with self._lock:
            procs = [p for r in self._runs.values() for p in r.procs.values()] + self._zombies
            for proc in procs:
                self._signal(proc, signal.SIGKILL)
            for proc in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(3)
            self._agenda.clear()
            self._zombies.clear()

    # ---- steps -----------------------------------------------------------------------------

    def _write(self, pod: Obj, status: Obj, spec: Obj | None = None) -> str | None:
        """Write the pod's status (and spec); its resourceVersion afterwards, None if it failed."""

        def change(obj: Obj) -> Obj:
            obj["status"] = status
            if spec is not None:
                obj["spec"] = spec
            return obj

        try:
            meta = pod["metadata"]
            new = self.store.update(
                "pods",
                meta["namespace"],
                meta["name"],
                change,
                validate=False,
                view=True,
                shallow=True,
            )
        except ApiError:
            return None
        return str(new["metadata"]["resourceVersion"])

    def _schedule(self, pod: Obj) -> None:
        spec = pod.get("spec") or {}
        wants_gpu = any(
            "nvidia.com/gpu"
            in {
                **((c.get("resources") or {}).get("limits") or {}),
                **((c.get("resources") or {}).get("requests") or {}),
            }
            for c in spec.get("containers") or []
        )
        if self.gpu_unschedulable and wants_gpu:
            message = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
            status = {
                "phase": "Pending",
                "qosClass": "BestEffort",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": message,
                        "lastProbeTime": None,
                        "lastTransitionTime": pod["metadata"]["creationTimestamp"],
                    }
                ],
            }
            if pod.get("status") != status:
                self._write(pod, status)
                record_event(self.store, pod, None, "Warning", "FailedScheduling", message)
            return
        uid = pod["metadata"]["uid"]
        run = Run(
            uid=uid,
            dir=self.workdir
            / f"{pod['metadata']['namespace']}_{pod['metadata']['name']}_{uid[:8]}",
            started=now(),
            pull_started=time.monotonic(),
        )
        (run.dir / "logs").mkdir(parents=True, exist_ok=True)
        self._agenda.add(pod, run)
        self._write(pod, pod_status(pod, run), {**spec, "nodeName": NODE})
        record_event(
            self.store,
            pod,
            run,
            "Normal",
            "Scheduled",
            f"Successfully assigned {pod['metadata']['namespace']}/{pod['metadata']['name']} to {NODE}",
        )

    def _progress(self, pod: Obj, run: Run) -> None:
        spec = pod.get("spec") or {}
        if run.phase in ("Succeeded", "Failed"):
            return
        if run.volumes is None:
            try:
                run.volumes = resolve(self.store, self.sources, pod, run.dir)
                run.mount_error = None
            except MountError as exc:
                run.mount_error = str(exc)
                record_event(self.store, pod, run, "Warning", "FailedMount", str(exc))
                self._write(pod, pod_status(pod, run))
                return
        inits, mains = spec.get("initContainers") or [], spec.get("containers") or []
        bad = [c for c in inits + mains if self.bad_image(c.get("image", ""))]
        if bad:
            backoff = time.monotonic() - run.pull_started > self.backoff_after
            for c in bad:
                image = c.get("image", "")
                if backoff:
                    state = {
                        "reason": "ImagePullBackOff",
                        "message": f'Back-off pulling image "{image}"',
                    }
                else:
                    state = {
                        "reason": "ErrImagePull",
                        "message": f'failed to pull and unpack image "{image}": not found',
                    }
                run.states[c["name"]] = {"waiting": state}
                record_event(
                    self.store,
                    pod,
                    run,
                    "Warning",
                    "Failed",
                    f'Failed to pull image "{image}": not found',
                )
                if backoff:
                    record_event(
                        self.store,
                        pod,
                        run,
                        "Normal",
                        "BackOff",
                        f'Back-off pulling image "{image}"',
                    )
            self._write(pod, pod_status(pod, run))
            return
        policy = spec.get("restartPolicy", "Always")
        while run.init_done < len(inits):
            container = inits[run.init_done]
            if "frameworkbarrier" in container.get("image", ""):
                log = run.logs.setdefault(
                    container["name"], run.dir / "logs" / f"{container['name']}.log"
                )
                if not write_injector(self.store, pod, container, run.volumes or {}, log):
                    run.states[container["name"]] = {"running": {"startedAt": run.started}}
                    break
                run.states[container["name"]] = {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": run.started,
                        "finishedAt": now(),
                    }
                }
                run.init_done += 1
                continue
            done = drive_container(
                self.store,
                pod,
                run,
                container,
                "Never" if policy == "Never" else "OnFailure",
                self.fast_seconds,
            )
            if done is None:
                break
            if done != 0 and policy == "Never":
                run.phase = "Failed"
                break
            if done == 0:
                run.init_done += 1
        else:
            codes = [
                drive_container(self.store, pod, run, c, policy, self.fast_seconds) for c in mains
            ]
            if all(code is not None for code in codes):
                run.phase = "Succeeded" if all(code == 0 for code in codes) else "Failed"
            elif all(
                c["name"] in run.procs
                or c["name"] in run.fast
                or "terminated" in run.states.get(c["name"], {})
                for c in mains
            ):
                run.phase = "Running"
        rv = self._write(pod, pod_status(pod, run))
        settled = not run.procs and not run.restart_at and run.phase != "Pending"
        run.quiet_rv = rv if settled else None
        return None

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    def _terminate(self, pod: Obj, run: Run | None) -> None:
        meta = pod["metadata"]
        live = {n: p for n, p in (run.procs if run else {}).items() if p.poll() is None}
        if run is not None and live:
            grace = min(float(meta.get("deletionGracePeriodSeconds") or 30), self.kill_grace)
            if run.kill_sent is None:
                run.kill_sent = time.monotonic()
                for name, proc in live.items():
                    record_event(
                        self.store, pod, run, "Normal", "Killing", f"Stopping container {name}"
                    )
                    if not self.term_ignored:
                        self._signal(proc, signal.SIGTERM)
            elif time.monotonic() - run.kill_sent >= grace:
                for proc in live.values():
                    self._signal(proc, signal.SIGKILL)
            return
        if run is not None:
            for proc in run.procs.values():
                proc.wait()
            if run.uid in self._runs:
                self._agenda.forget(run.uid)
        with contextlib.suppress(ApiError):
            self.store.delete(
                "pods", meta["namespace"], meta["name"], grace=0, preconditions={"uid": meta["uid"]}
            )
