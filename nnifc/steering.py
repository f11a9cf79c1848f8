"""Steering an experiment from another shell: new budgets or search space, killing one trial,
deleting what it left.

Changes are validated like the config, then written to the store in one transaction with an
entry in its change log; a running loop reads them within a second (`Scheduler._read_store`).
When no loop runs, `kill` stops the trial itself and `update` takes effect at `resume`.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from nnifc import document, launcher, rebuild, space, stopping
from nnifc.budget import duration_text
from nnifc.errors import ExperimentNotFound, NnifcError
from nnifc.experiment import DURATION, duration_seconds
from nnifc.records import TrialStatus
from nnifc.store import Store, experiment_dir

MAX_COUNT = 99999
MAX_SECONDS = 99999 * 86400
KILL_WAIT_SECONDS = 15.0
KILLED = "killed by the user"


@dataclass(frozen=True)
class Update:
    """What `nnifc update` asks; None leaves a setting as it is."""

    concurrency: int | None = None
    max_trials: int | None = None
    duration: str | None = None
    search_space: Path | None = None


def update(store: Store, asked: Update) -> list[str]:
    """Validate and record `asked`; returns one line per change made."""
    row = store.experiment()
    checked: list[tuple[str, str, dict[str, object]]] = []  # (what, shown, columns)
    for option, what, column, now, value in (
        ("--concurrency", "trialConcurrency", "concurrency", row.concurrency, asked.concurrency),
        ("--max-trials", "maxTrialNum", "max_trials", row.max_trials, asked.max_trials),
    ):
        if value is not None:
            _count(option, value, low=1)
            checked.append((what, f"{what} {now} -> {value}", {column: value}))
    if asked.duration is not None:
        if not DURATION.match(asked.duration):
            raise NnifcError(
                f"--duration: must be a whole number and a unit s, m, h or d, like 30m or 10h,"
                f" got {json.dumps(asked.duration)}"
            )
        seconds = duration_seconds(asked.duration)
        if seconds > MAX_SECONDS:
            raise NnifcError(f"--duration: must be at most 99999d, got {asked.duration}")
        checked.append(
            (
                "maxExecDuration",
                f"maxExecDuration {duration_text(row.max_seconds)} -> {asked.duration}",
                {"max_seconds": seconds},
            )
        )
    if asked.search_space is not None:
        text = _search_space(store, asked.search_space)
        checked.append(
            ("searchSpace", f"search space <- {asked.search_space}", {"space_text": text})
        )
    if not checked:
        raise NnifcError(
            "nothing to update: give --concurrency, --max-trials, --duration or --search-space"
        )
    changes: list[tuple[str, str, dict[str, object]]] = []
    for what, _, columns in checked:
        said = str(asked.search_space) if what == "searchSpace" else str(*columns.values())
        changes.append((what, said, columns))
    store.add_changes(changes)
    return [shown for _, shown, _ in checked]


def _count(option: str, value: int, *, low: int) -> None:
    if not low <= value <= MAX_COUNT:
        raise NnifcError(f"{option}: must be between {low} and {MAX_COUNT}, got {value}")


def _search_space(store: Store, path: Path) -> str:
    """The new search space as JSON text, checked as `create` checks one (file:line errors),
    and accepted by the experiment's tuner."""
    path = path.expanduser().absolute()
    doc = document.load(path, limit=document.MAX_SPACE_BYTES, what="search space file")
    parsed = space.parse(doc)
    experiment = rebuild.reload(store.experiment())
    try:
        experiment.tuner_class(parsed, experiment.tuner_options)
    except ValueError as e:
        raise NnifcError(f"{path}: {e}") from None
    return json.dumps(doc.data)


def kill(store: Store, trial_id: str) -> TrialStatus:
    """End one trial as USER_CANCELED (or as it ended, if it ended first); returns its status.

    A running loop does it (and starts the next trial in its place); otherwise it is done here.
    """
    trial = store.trial(trial_id)
    if trial.status.final:
        return trial.status
    row = store.experiment()
    if launcher.loop_alive(row):
        store.add_changes([("kill", trial_id, {})])
        deadline = time.monotonic() + KILL_WAIT_SECONDS
        while time.monotonic() < deadline:
            now = store.trial(trial_id)
            if now.status.final and now.told is not None:  # the loop has settled it
                return now.status
            time.sleep(0.1)
        raise NnifcError(
            f"the loop of experiment {row.id} did not end trial {trial_id} within"
            f" {KILL_WAIT_SECONDS:.0f}s; it is asked to, see `nnifc status {row.id}`"
        )
    platform = rebuild.platform_for(row)
    try:
        found = stopping.stop_trial(
            store, platform, trial_id, trial.handle or "", TrialStatus.USER_CANCELED, KILLED
        )
        stopping.record(store, found)
    finally:
        platform.close()
    ended = store.trial(trial_id)
    succeeded = ended.status is TrialStatus.SUCCEEDED and ended.final is not None
    store.set_told(
        trial_id, "final" if succeeded else "nothing", ended.final if succeeded else None
    )
    return ended.status


def delete(exp_id: str, *, storage: bool, force: bool) -> list[str]:
    """Remove an experiment's local state (and with `storage`, its directory on the share).

    A running experiment is refused unless `force`, which stops it first. Returns what was done.
    """
    store = Store.open(exp_id)
    done: list[str] = []
    try:
        row = store.experiment()
        unfinished = any(not t.status.final for t in store.trials())
        running = not row.status.final or launcher.loop_alive(row) or unfinished
        if running and not force:
            raise NnifcError(
                f"experiment {exp_id} is {launcher.effective_status(row)}; stop it first"
                f" (nnifc stop {exp_id}) or delete it with --force"
            )
        if running:
            done.append(f"stopped: {launcher.stop(store)}")
            deadline = time.monotonic() + KILL_WAIT_SECONDS
            while launcher.loop_alive(store.experiment()) and time.monotonic() < deadline:
                time.sleep(0.1)  # its last writes land before its files go
        if storage:
            platform = rebuild.platform_for(store.experiment())
            try:
                done.append(platform.remove_storage())
            finally:
                platform.close()
    finally:
        store.close()
    try:
        shutil.rmtree(experiment_dir(exp_id))
    except OSError as e:
        raise NnifcError(f"cannot remove {experiment_dir(exp_id)}: {e.strerror or e}") from None
    done.append(f"removed {experiment_dir(exp_id)}")
    return done


def resolve_trial(store: Store, prefix: str) -> str:
    """A trial id of this experiment from its full id or a unique prefix of it."""
    if not prefix:
        raise ExperimentNotFound("a trial id must not be empty")
    ids = store.trial_ids(prefix)
    if prefix in ids:
        return prefix
    exp_id = store.experiment().id
    if len(ids) == 1:
        return ids[0]
    if ids:
        shown = ", ".join(ids[:10]) + (", ..." if len(ids) > 10 else "")
        raise ExperimentNotFound(
            f"{prefix!r} matches several trials of experiment {exp_id}: {shown}"
        )
    raise ExperimentNotFound(
        f"no trial {prefix!r} in experiment {exp_id}; list them with `nnifc status {exp_id}`"
    )
