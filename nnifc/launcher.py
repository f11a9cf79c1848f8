"""The process that runs an experiment's loop: start it detached, tell if it lives, stop it.

`create` runs the loop in its own process (foreground) or in a detached child (`--detach`);
either way its pid is in the store. `stop` asks through the store and a SIGTERM, waits, and
if no loop is left to do it, cancels the trials itself, so stopping works even after a crash.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from nnifc import private
from nnifc.budget import Budget, plural
from nnifc.errors import ExperimentNotFound, NnifcError
from nnifc.platforms import PLATFORMS, Platform
from nnifc.records import ExperimentStatus, TrialStatus
from nnifc.store import ExperimentRow, Store, experiment_dir, experiment_ids, home

if TYPE_CHECKING:  # loading configs and tuners is for the commands that run experiments
    from nnifc.experiment import Experiment

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


def reload(row: ExperimentRow) -> Experiment:
    """The experiment as it was validated at create time (its config and search space as stored)."""
    from nnifc import config

    return config.load(Path(row.config_path), text=row.config_text, space_text=row.space_text)


def platform_for(row: ExperimentRow, experiment: Experiment | None = None) -> Platform:
    exp_dir = experiment_dir(row.id)
    experiment = _expanded(experiment or reload(row), exp_dir)
    return PLATFORMS[row.platform](experiment, exp_dir, json.loads(row.options))


def _expanded(experiment: Experiment, exp_dir: Path) -> Experiment:
    """useAnnotation: trials run a copy of codeDir with the annotations expanded, made once."""
    if not experiment.config.use_annotation:
        return experiment
    from nnifc.annotations import expand

    code = exp_dir / "code"
    if not code.is_dir():
        partial = exp_dir / "code.partial"
        shutil.rmtree(partial, ignore_errors=True)
        expand(experiment.config.trial.code_dir, partial)
        partial.rename(code)
    trial = experiment.config.trial.model_copy(update={"code_dir": code})
    return dataclasses.replace(
        experiment, config=experiment.config.model_copy(update={"trial": trial})
    )


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


def mark_claim(fd: int) -> None:
    """Write this process's pid in the claim it holds (a detached loop, after its parent)."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


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


def register(experiment: Experiment, options: Mapping[str, str] | None = None) -> Store:
    """Give a validated experiment an id and a store; nothing runs yet."""
    from nnifc.scheduler import new_id

    exp_id = new_id(8)
    while experiment_dir(exp_id).exists():
        exp_id = new_id(8)
    seed = experiment.tuner_options.seed
    store = Store(experiment_dir(exp_id) / "nnifc.db", create=True)
    store.add_experiment(
        ExperimentRow(
            id=exp_id,
            name=experiment.config.experiment_name,
            platform=experiment.platform,
            config_path=str(experiment.source),
            config_text=experiment.config_text,
            space_text=experiment.space_text,
            seed=seed if seed is not None else secrets.randbits(32),
            optimize_mode=experiment.optimize_mode,
            max_trials=experiment.config.max_trial_num,
            max_seconds=experiment.config.max_exec_seconds,
            status=ExperimentStatus.RUNNING,
            started=time.time(),
            ended=None,
            pid=os.getpid(),
            stop_requested=False,
            message="",
            options=json.dumps(dict(options or {})),
            concurrency=experiment.config.trial_concurrency,
        )
    )
    return store


def resolve(prefix: str) -> str:
    """An experiment id from its full id or a unique prefix of it."""
    if not prefix:
        raise ExperimentNotFound("an experiment id must not be empty; `nnifc status` lists them")
    ids = experiment_ids()
    if prefix in ids:
        return prefix
    matches = [i for i in ids if i.startswith(prefix)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ExperimentNotFound(f"{prefix!r} matches several experiments: {', '.join(matches)}")
    raise ExperimentNotFound(
        f"no experiment {prefix!r} in {home()}; run `nnifc status` to list them"
    )


def find_trial(trial_prefix: str, exp_prefix: str | None = None) -> tuple[Store, str]:
    """The store holding the trial whose id is `trial_prefix` or starts with it (searched in
    every experiment unless one is named), and the trial's full id."""
    if exp_prefix:
        from nnifc.steering import resolve_trial

        store = Store.open(resolve(exp_prefix))
        try:
            return store, resolve_trial(store, trial_prefix)
        except ExperimentNotFound:
            store.close()
            raise
    if not trial_prefix:
        raise ExperimentNotFound("a trial id must not be empty")
    found: list[tuple[Store, str]] = []
    for exp_id in experiment_ids():
        store = Store.open(exp_id)
        ids = store.trial_ids(trial_prefix)
        if trial_prefix in ids:
            ids = [trial_prefix]
        found.extend((store, trial_id) for trial_id in ids)
        if not ids:
            store.close()
    if len(found) == 1:
        return found[0]
    if not found:
        raise ExperimentNotFound(
            f"no trial {trial_prefix!r} in any experiment; list an experiment's trials with"
            " `nnifc status EXP`"
        )
    names = ", ".join(f"{s.experiment().id} {t}" for s, t in found[:10])
    raise ExperimentNotFound(
        f"trial {trial_prefix!r} matches several trials ({names}); name the experiment"
        f" or more of the id: nnifc logs EXP TRIAL"
    )
