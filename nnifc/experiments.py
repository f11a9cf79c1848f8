"""Experiments on this machine: one registered under a new id, one (or a trial) found by a
prefix of its id."""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import time
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from nnifc import private, rebuild
from nnifc.errors import ExperimentNotFound, StoreError
from nnifc.records import ExperimentStatus
from nnifc.store import (
    STAGING_PREFIX,
    ExperimentRow,
    Store,
    experiment_dir,
    experiment_ids,
    home,
)

if TYPE_CHECKING:
    from nnifc.experiment import Experiment

ID_ATTEMPTS = 100  # 36**8 ids: a second draw is already rare


def register(experiment: Experiment, options: Mapping[str, str] | None = None) -> Store:
    """Give a validated experiment an id and a store; nothing runs yet.

    The store is made whole in a hidden directory and then moved to the id's place in one step,
    so another command (`status`, `view`) never opens a database still being set up.
    """
    from nnifc.scheduler import new_id

    for _ in range(ID_ATTEMPTS):
        exp_id = new_id(8)
        staging = experiment_dir(f"{STAGING_PREFIX}{exp_id}")
        if experiment_dir(exp_id).exists() or not _reserve(staging):
            continue
        try:
            _fill(staging, experiment, exp_id, options or {})
            os.rename(staging, experiment_dir(exp_id))
        except BaseException as e:
            shutil.rmtree(staging, ignore_errors=True)
            taken = isinstance(e, OSError) and e.errno in (errno.ENOTEMPTY, errno.EEXIST)
            if taken and experiment_dir(exp_id).exists():
                continue  # another create took this id meanwhile
            raise
        return Store.open(exp_id)
    raise StoreError(f"found no free experiment id in {experiment_dir('')} in {ID_ATTEMPTS} draws")


def _reserve(staging: Path) -> bool:
    private.make_dirs(staging.parent)
    try:
        os.mkdir(staging, private.DIR_MODE)
    except FileExistsError:
        return False
    os.chmod(staging, private.DIR_MODE)
    return True


def _fill(staging: Path, experiment: Experiment, exp_id: str, options: Mapping[str, str]) -> None:
    seed = experiment.tuner_options.seed
    settings = rebuild.settings_text(experiment, exp_id, options, made_in=staging)
    with closing(Store(staging / "nnifc.db", create=True)) as store:
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
                options=json.dumps(dict(options)),
                concurrency=experiment.config.trial_concurrency,
                settings=settings,
            )
        )


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
