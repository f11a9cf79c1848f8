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

from nnifc import document, launcher, space
from nnifc.budget import duration_text
from nnifc.errors import ExperimentNotFound, NnifcError
from nnifc.experiment import DURATION, duration_seconds
from nnifc.records import TrialStatus
from nnifc.store import Store, experiment_dir

MAX_COUNT = 99999
KILL_WAIT_SECONDS = 15.0


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
    if asked.concurrency is not None:
        _count("--concurrency", asked.concurrency, low=1)
        checked.append(
            (
                "trialConcurrency",
                f"trialConcurrency {row.concurrency} -> {asked.concurrency}",
                {"concurrency": asked.concurrency},
            )
        )
    if asked.max_trials is not None:
        _count("--max-trials", asked.max_trials, low=1)
        checked.append(
            (
                "maxTrialNum",
                f"maxTrialNum {row.max_trials} -> {asked.max_trials}",
                {"max_trials": asked.max_trials},
            )
        )
    if asked.duration is not None:
        if not DURATION.match(asked.duration):
            raise NnifcError(
                f"--duration: must be a whole number and a unit s, m, h or d, like 30m or 10h,"
                f" got {json.dumps(asked.duration)}"
            )
        seconds = duration_seconds(asked.duration)
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
    for what, _, columns in checked:
        value = str(next(iter(columns.values())))
        store.add_change(
            what, value if what != "searchSpace" else str(asked.search_space), **columns
        )
    return [shown for _, shown, _ in checked]


def _count(option: str, value: int, *, low: int) -> None:
    if not low <= value <= MAX_COUNT:
        raise NnifcError(f"{option}: must be between {low} and {MAX_COUNT}, got {value}")


def _search_space(store: Store, path: Path) -> str:
    """The new search space as JSON text, checked as `create` checks one (file:line errors),
    and accepted by the experiment's tuner."""
    path = path.expanduser().absolute()
    doc = document.load(path)
    parsed = space.parse(doc)
    experiment = launcher.reload(store.experiment())
    from nnifc.tuners import TUNERS

    try:
        TUNERS[experiment.tuner_name](parsed, experiment.tuner_options)
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
        store.add_change("kill", trial_id)
        deadline = time.monotonic() + KILL_WAIT_SECONDS
        while time.monotonic() < deadline:
            status = store.trial(trial_id).status
            if status.final:
                return status
            time.sleep(0.1)
        raise NnifcError(
            f"the loop of experiment {row.id} did not end trial {trial_id} within"
            f" {KILL_WAIT_SECONDS:.0f}s; it is asked to, see `nnifc status {row.id}`"
        )
    platform = launcher.platform_for(row)
    try:
        platform.cancel(trial_id, trial.handle or "")
    finally:
        platform.close()
    store.set_status(trial_id, TrialStatus.USER_CANCELED, message="killed by the user")
    return store.trial(trial_id).status


def delete(exp_id: str, *, storage: bool, force: bool) -> list[str]:
    """Remove an experiment's local state (and with `storage`, its directory on the share).

    A running experiment is refused unless `force`, which stops it first. Returns what was done.
    """
    store = Store.open(exp_id)
    done: list[str] = []
    try:
        row = store.experiment()
        running = not row.status.final or launcher.loop_alive(row)
        if running and not force:
            raise NnifcError(
                f"experiment {exp_id} is {launcher.effective_status(row)}; stop it first"
                f" (nnifc stop {exp_id}) or delete it with --force"
            )
        if running:
            done.append(f"stopped: {launcher.stop(store).value}")
        if storage:
            platform = launcher.platform_for(store.experiment())
            try:
                done.append(platform.remove_storage())
            finally:
                platform.close()
    finally:
        store.close()
    shutil.rmtree(experiment_dir(exp_id))
    done.append(f"removed {experiment_dir(exp_id)}")
    return done


def resolve_trial(store: Store, prefix: str) -> str:
    """A trial id of this experiment from its full id or a unique prefix of it."""
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
