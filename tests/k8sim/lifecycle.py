"""One container's life in the kubelet: start, poll, exit code and restart back-off.

Why: the exit codes, restart counts and CrashLoopBackOff states a pod reports are what
FrameworkController decides on, so the bookkeeping of one container (a real process, or a
`FastContainer` in fast mode) from its start to its final exit is kept together here.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from .containers import Run, container_env, expand
from .fast import FastContainer
from .podevents import record_event
from .store import Store, now
from .volumes import mount_prologue, mounts

Obj = dict[str, Any]


def drive_container(
    store: Store,
    pod: Obj,
    run: Run,
    container: Obj,
    policy: str,
    fast_seconds: float | None,
) -> int | None:
    """Start, poll or restart one container; its exit code once it is finally done."""
    name = container["name"]
    proc = run.procs.get(name)
    fast = run.fast.get(name)
    state = run.states.get(name, {})
    if proc is None and fast is None and "terminated" in state and name not in run.restart_at:
        return int(state["terminated"]["exitCode"])
    if proc is None and fast is None:
        if name in run.restart_at and time.monotonic() < run.restart_at[name]:
            return None
        run.restart_at.pop(name, None)
        start_container(store, pod, run, container, fast_seconds)
        return None
    if fast is not None:
        code = fast.advance(time.monotonic())
        if code is None:
            return None
        del run.fast[name]
        container_id = f"k8sim://fast-{run.uid[:8]}-{name}"
    else:
        assert proc is not None
        code = proc.poll()
        if code is None:
            return None
        del run.procs[name]
        code = 128 - code if code < 0 else code
        container_id = f"k8sim://{proc.pid}"
    terminated: Obj = {
        "exitCode": code,
        "reason": "Completed" if code == 0 else "Error",
        "startedAt": state.get("running", {}).get("startedAt", run.started),
        "finishedAt": now(),
        "containerID": container_id,
    }
    if code != 0 and container.get("terminationMessagePolicy") == "FallbackToLogsOnError":
        tail = run.logs[name].read_bytes()[-2048:].decode(errors="replace").splitlines()[-80:]
        terminated["message"] = "\n".join(tail)
    if policy == "Always" or (policy == "OnFailure" and code != 0):
        count = run.restarts.get(name, 0)
        run.restarts[name] = count + 1
        run.last_states[name] = {"terminated": terminated}
        run.restart_at[name] = time.monotonic() + min(0.2 * 2**count, 5.0)
        run.states[name] = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off restarting failed container {name}",
            }
        }
        return None
    run.states[name] = {"terminated": terminated}
    return code


def start_container(
    store: Store, pod: Obj, run: Run, container: Obj, fast_seconds: float | None
) -> None:
    """Start the container: a process, or with `fast_seconds` a `FastContainer`."""
    name = container["name"]
    env = container_env(store, pod, container)
    argv = [
        expand(str(a), env)
        for a in (container.get("command") or []) + (container.get("args") or [])
    ]
    log = run.logs.setdefault(name, run.dir / "logs" / f"{name}.log")
    if not argv:
        log.write_text("k8sim: the container has no command, and images are not run here\n")
        run.states[name] = {
            "terminated": {
                "exitCode": 128,
                "reason": "ContainerCannotRun",
                "message": "no command",
                "startedAt": now(),
                "finishedAt": now(),
            }
        }
        return
    prologue, _ = mount_prologue(container, run.volumes or {})
    if fast_seconds is not None:
        run.fast[name] = FastContainer(
            env=env,
            mounts=mounts(container, run.volumes or {}),
            rootfs=run.dir / "rootfs" / name,
            container_log=log,
            delay=fast_seconds,
            started=time.monotonic(),
        )
        run.states[name] = {"running": {"startedAt": now()}}
        record_event(store, pod, run, "Normal", "Started", f"Started container {name}")
        return
    workdir = container.get("workingDir")
    steps = [prologue] if prologue else []
    if workdir:
        steps.append(f"mkdir -p '{workdir}' && cd '{workdir}'")
    script = " && ".join([*steps, 'exec "$@"'])
    command = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "/bin/sh",
        "-c",
        script,
        "k8sim",
        *argv,
    ]
    with log.open("ab") as out:
        run.procs[name] = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=run.dir,
            start_new_session=True,
        )
    run.states[name] = {"running": {"startedAt": now()}}
    record_event(store, pod, run, "Normal", "Started", f"Started container {name}")
