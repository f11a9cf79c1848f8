"""`update` and `kill`: steering a running experiment from another shell (nnictl's `update`
and `trial kill`)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from nnifc import experiments, launcher, steering
from nnifc.budget import Budget
from nnifc.cli.console import say
from nnifc.records import ExperimentStatus
from nnifc.store import Store


@click.command()
@click.argument("exp_id")
@click.option("--concurrency", type=int, help="trialConcurrency from now on.")
@click.option("--max-trials", type=int, help="maxTrialNum: the trials to run in all.")
@click.option("--duration", help="maxExecDuration, e.g. 2h (time no launcher ran is not counted).")
@click.option(
    "--search-space",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A new search space (NNI's JSON); the tuner keeps the results that fit it.",
)
def update(
    exp_id: str,
    concurrency: int | None,
    max_trials: int | None,
    duration: str | None,
    search_space: Path | None,
) -> None:
    """Change a running experiment's budgets or search space; its loop applies them within a
    second. On an ended experiment, a larger budget lets `nnifc resume` continue it.

    \b
    Example:
        nnifc update 3kq9x0ab --concurrency 8 --max-trials 200
        nnifc update 3kq9x0ab --search-space narrower.json
    """
    store = Store.open(experiments.resolve(exp_id))
    asked = steering.Update(concurrency, max_trials, duration, search_space)
    for line in steering.update(store, asked):
        say(line)
    row = store.experiment()
    if launcher.loop_alive(row):
        return
    spent = Budget.of(row).exhausted_by(len(store.trials()), row.ended or time.time())
    if row.status is ExperimentStatus.DONE and spent is not None:
        say(f"experiment {row.id} is DONE and stays so: {spent}")
    else:
        say(
            f"experiment {row.id} is {launcher.effective_status(row)}: `nnifc resume {row.id}`"
            " continues it with these settings"
        )


@click.command()
@click.argument("ids", nargs=-1, required=True, metavar="[EXP] TRIAL")
def kill(ids: tuple[str, ...]) -> None:
    """End one trial as USER_CANCELED; the loop starts the next one in its place.

    \b
    Example:
        nnifc kill 3kq9x0ab a1b2c
        nnifc kill a1b
    """
    if len(ids) > 2:
        raise click.UsageError("give a trial id, optionally preceded by its experiment id")
    store, trial_id = experiments.find_trial(ids[-1], ids[0] if len(ids) == 2 else None)
    before = store.trial(trial_id).status
    status = steering.kill(store, trial_id)
    exp_id = store.experiment().id
    if before.final:
        say(f"trial {trial_id} had already ended: {status.value}")
    elif status.value == "USER_CANCELED":
        say(f"trial {trial_id} of experiment {exp_id}: {status.value}")
    else:
        message = store.trial(trial_id).message
        say(f"trial {trial_id} ended before the kill landed: {status.value} ({message})")
