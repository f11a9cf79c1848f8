"""The process that runs an experiment's loop: start it detached, tell if it lives, stop it.

`create` runs the loop in its own process (foreground) or in a detached child (`--detach`);
either way its pid is in the store. `stop` asks through the store and a SIGTERM, waits, and
if no loop is left to do it, cancels the trials itself, so stopping works even after a crash.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from nnifc import private
from nnifc.budget import Budget, plural
from nnifc.errors import NnifcError
from nnifc.rebuild import platform_for
from nnifc.records import ExperimentStatus, TrialStatus
from nnifc.store import ExperimentRow, Store, experiment_dir

if TYPE_CHECKING:  # loading configs and tuners is for the commands that run experiments
    pass

STOP_WAIT_SECONDS = 60.0
STOP_DRAIN_SECONDS = 30.0  # then stop says how many trials are still terminating
LOCK_NAME = "loop.lock"
CLAIM_FD_ENV = "NNIFC_CLAIM_FD"  # a detached loop's inherited claim


def loop_alive(row: ExperimentRow) -> bool:
    """Whether the process recorded as running this experiment's loop is still an nnifc process."""
    if row.pid is None:
        return False
    try:
        os.kill(row.pid, 0)
        cmdline = Path(f"/proc/{row.pid}/cmdline").read_bytes()
    except (ProcessLookupError, PermissionError):
        return False
    except OSError:
        return True  # no /proc: trust the signal check
    return b"nnifc" in cmdline


def effective_status(row: ExperimentRow) -> str:
    """The stored status, or a warning when the loop that should be running it is gone."""
    if not row.status.final and not loop_alive(row):
        return f"{row.status.value} (launcher not running)"
    return row.status.value


def claim(exp_id: str) -> int:
    """Make this process the one that runs the experiment's loop, for as long as it (or a child
    it hands the returned descriptor to) lives; another one running it is an error.

    A lock, not a check followed by a write: two `resume` at once cannot both pass.
    """
    path = experiment_dir(exp_id) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise NnifcError(f"experiment {exp_id} is already running (pid {holder})") from None
    mark_claim(fd)
    return fd


def mark_claim(fd: int, pid: int | None = None) -> None:
    """Write the pid of the process that holds the claim (this one unless told)."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{pid or os.getpid()}\n".encode(), 0)


def start_detached(exp_id: str, *, resuming: bool = False, claim_fd: int | None = None) -> int:
    """The loop in a new background process; `claim_fd`, this process's claim, passes to it."""
    log = experiment_dir(exp_id) / "launcher.log"
    passed = (claim_fd,) if claim_fd is not None else ()
    env = {**os.environ, CLAIM_FD_ENV: str(claim_fd)} if claim_fd is not None else None
    with private.open_append(log) as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nnifc",
                "run-loop",
                exp_id,
                *(["--resuming"] if resuming else []),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            pass_fds=passed,
            env=env,
        )
    if claim_fd is not None:  # named before this process exits, not when the child gets going
        mark_claim(claim_fd, proc.pid)
    return proc.pid


@dataclasses.dataclass(frozen=True)
class Stopped:
    status: ExperimentStatus
    terminating: int = 0  # trials' Frameworks or processes not gone after STOP_DRAIN_SECONDS

    def __str__(self) -> str:
        text = self.status.value
        if self.terminating:
            text += f" ({plural(self.terminating, 'trial')} still terminating)"
        return text


def stop(store: Store) -> Stopped:
    """Stop the loop and every unfinished trial, and wait for them to be gone; idempotent."""
    row = store.experiment()
    if row.status.final and not any(not t.status.final for t in store.trials()):
        return Stopped(row.status)
    store.request_stop()
    if loop_alive(row):
        assert row.pid is not None
        os.kill(row.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while time.monotonic() < deadline and loop_alive(row):
            if store.experiment().status.final:
                break
            time.sleep(0.1)
        if loop_alive(row) and not store.experiment().status.final:
            os.kill(row.pid, signal.SIGKILL)  # hung for a minute: finish the job from here
    row = store.experiment()
    platform = platform_for(row)
    try:
        for trial in store.trials():
            if trial.status.final:
                continue
            if trial.handle is not None:
                platform.cancel(trial.id, trial.handle)
            store.set_status(trial.id, TrialStatus.USER_CANCELED, message="stopped by the user")
            store.set_told(trial.id, "nothing", None)
        platform.cleanup()
        terminating = platform.drain(STOP_DRAIN_SECONDS)
    finally:
        platform.close()
    if not row.status.final:
        store.end(ExperimentStatus.STOPPED, reason="stopped by the user")
    return Stopped(store.experiment().status, terminating)


def prepare_resume(store: Store) -> None:
    """Make a dead experiment's store ready for a new loop: it counts no time it was down."""
    row = store.experiment()
    if loop_alive(row):
        raise NnifcError(f"experiment {row.id} is running (pid {row.pid}); nothing to resume")
    now = time.time()
    if row.status is ExperimentStatus.DONE:
        spent = Budget.of(row).exhausted_by(len(store.trials()), row.ended or now)
        if spent is not None:
            raise NnifcError(
                f"experiment {row.id} is DONE: {spent}; give it more with"
                f" `nnifc update {row.id} --max-trials N` or `--duration D`, then resume"
            )
    if row.status is ExperimentStatus.FAILED:  # fixed, one hopes: earlier failures do not count
        store.add_changes([("resumed after failure", str(len(store.trials())), {})])
    down = now - (row.heartbeat or row.ended or now)
    store.resume(pid=os.getpid(), paused=row.paused + max(0.0, down), at=now)
