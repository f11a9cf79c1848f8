"""The `nnifc` command: the only module that prints or exits.

Library code raises NnifcError; here it becomes one red line (or one per config problem) and
exit code 1. Usage mistakes exit 2 (click). Anything else is a bug and shows a traceback.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich.console import Console

from nnifc import __version__, config, launcher, view
from nnifc.errors import ConfigError, NnifcError
from nnifc.monitor import Monitor
from nnifc.platforms import PLATFORMS
from nnifc.records import ExperimentStatus
from nnifc.scheduler import Scheduler
from nnifc.store import Store, experiment_ids

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as e:
            raise click.ClickException("\n".join(str(p) for p in e.problems)) from None
        except NnifcError as e:
            raise click.ClickException(str(e)) from None


@click.group(cls=Group)
@click.version_option(__version__, prog_name="nnifc")
def cli() -> None:
    """Run NNI-style hyperparameter tuning experiments locally or on FrameworkController."""


@cli.command()
@click.option(
    "--config",
    "-c",
    "config_path",
    required=True,
    type=click.Path(path_type=Path),
    help="NNI v1 experiment YAML.",
)
@click.option(
    "--detach",
    is_flag=True,
    help="Run the trial loop in the background and print the experiment id.",
)
@click.option(
    "--dry-run", is_flag=True, help="Validate everything and show what would run; create nothing."
)
def create(config_path: Path, detach: bool, dry_run: bool) -> None:
    """Validate a config and run its experiment.

    \b
    Example:
        nnifc create --config exp.yml
    """
    experiment = config.load(config_path)
    for warning in experiment.warnings:
        err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    if dry_run:
        _print_plan(experiment)
        return
    if experiment.platform not in PLATFORMS:
        raise NnifcError(
            f"trainingServicePlatform {experiment.platform} cannot run trials in nnifc {__version__} yet"
        )
    store = launcher.register(experiment)
    exp_id = store.experiment().id
    if detach:
        store.set_experiment(pid=launcher.start_detached(exp_id))
        out.print(
            f"experiment {exp_id} started in the background\n  nnifc status {exp_id}\n  nnifc stop {exp_id}"
        )
        return
    out.print(f"experiment {exp_id} ({experiment.config.experiment_name}) on {experiment.platform}")
    _run_loop(store)


@cli.command("run-loop", hidden=True)
@click.argument("exp_id")
def run_loop(exp_id: str) -> None:
    """Run an experiment's loop in this process (what --detach starts)."""
    store = Store.open(exp_id)
    store.set_experiment(pid=__import__("os").getpid())
    _run_loop(store)


def _run_loop(store: Store) -> None:
    row = store.experiment()
    experiment = launcher.reload(row)
    with Monitor(store, out) as monitor:
        scheduler = Scheduler(
            experiment, store, launcher.platform_for(row, experiment), on_change=monitor.update
        )
        _stop_on_signals(scheduler)
        status = scheduler.run()
    _print_outcome(store, status)


def _stop_on_signals(scheduler: Scheduler) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and scheduler.stop_requested:
            raise KeyboardInterrupt  # a second Ctrl-C: give up waiting
        scheduler.request_stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


@cli.command()
@click.argument("exp_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def status(exp_id: str | None, as_json: bool) -> None:
    """Show all experiments, or one experiment and its trials.

    \b
    Example:
        nnifc status
        nnifc status 3kq9x0ab --json
    """
    if exp_id is None:
        rows = []
        for found in experiment_ids():
            store = Store.open(found)
            row = store.experiment()
            rows.append((row, launcher.effective_status(row), store.trials()))
        if as_json:
            click.echo(json.dumps([view.experiment_json(r, s, t) for r, s, t in rows], indent=2))
        else:
            out.print(
                view.experiments_table(rows)
                if rows
                else "no experiments yet: nnifc create --config exp.yml"
            )
        return
    store = Store.open(launcher.resolve(exp_id))
    row, trials = store.experiment(), store.trials()
    if as_json:
        click.echo(
            json.dumps(view.experiment_json(row, launcher.effective_status(row), trials), indent=2)
        )
    else:
        out.print(view.experiment_view(row, launcher.effective_status(row), trials))


@cli.command()
@click.argument("ids", nargs=-1, required=True, metavar="[EXP] TRIAL")
@click.option("--follow", "-f", is_flag=True, help="Keep printing output while the trial runs.")
def logs(ids: tuple[str, ...], follow: bool) -> None:
    """Print a trial's output (stdout and stderr), also after it finished.

    \b
    Example:
        nnifc logs a1b2c --follow
    """
    if len(ids) > 2:
        raise click.UsageError("give a trial id, optionally preceded by its experiment id")
    store, trial_id = launcher.find_trial(ids[-1], ids[0] if len(ids) == 2 else None)
    readers = launcher.platform_for(store.experiment()).outputs(trial_id)
    offsets = dict.fromkeys(readers, 0)
    while True:
        finished = store.trial(trial_id).status.final
        for task, read in readers.items():
            while chunk := read(offsets[task], 1 << 16):
                offsets[task] += len(chunk)
                sys.stdout.buffer.write(chunk)
        sys.stdout.flush()
        if not follow or finished:
            return
        time.sleep(0.2)


@cli.command()
@click.argument("exp_id", required=False)
@click.option("--all", "stop_all", is_flag=True, help="Stop every running experiment.")
def stop(exp_id: str | None, stop_all: bool) -> None:
    """Stop an experiment's loop and its running trials (idempotent).

    \b
    Example:
        nnifc stop 3kq9x0ab
    """
    if exp_id is not None:
        targets = [launcher.resolve(exp_id)]
    else:
        targets = [i for i in experiment_ids() if not Store.open(i).experiment().status.final]
        if len(targets) > 1 and not stop_all:
            raise NnifcError(
                f"several experiments are running ({', '.join(targets)}); name one or use --all"
            )
        if not targets:
            out.print("no running experiment")
    for target in targets:
        final = launcher.stop(Store.open(target))
        out.print(f"experiment {target}: {final.value}")


def _print_plan(experiment: config.Experiment) -> None:
    import numpy as np

    c = experiment.config
    first = experiment.space.sample(np.random.default_rng(experiment.tuner_options.seed or 0))
    out.print(f"[green]valid:[/] {experiment.source}")
    out.print(f"  experiment   {c.experiment_name} on {experiment.platform}")
    out.print(
        f"  budget       {c.max_trial_num} trials, {c.trial_concurrency} at a time, at most {c.max_exec_duration}"
    )
    out.print(
        f"  tuner        {experiment.tuner_name} {experiment.tuner_options.model_dump(exclude_none=True)}"
    )
    if experiment.assessor_name and experiment.assessor_options:
        out.print(
            f"  assessor     {experiment.assessor_name} {experiment.assessor_options.model_dump(exclude_none=True)}"
        )
    out.print(f"  optimize     {experiment.optimize_mode}")
    out.print(f"  parameters   {', '.join(experiment.space)}")
    out.print(f"  e.g. trial   {view.params_text(first)}", soft_wrap=True)
    out.print(f"  code         {c.trial.code_dir}")
    out.print("nothing was created (dry run)")


def _print_outcome(store: Store, status: ExperimentStatus) -> None:
    row, trials = store.experiment(), store.trials()
    top = view.best(trials, row.optimize_mode)
    out.print(f"experiment {row.id} {status.value}: {len(trials)} trials")
    if top is not None:
        out.print(
            f"best trial {top.id} (#{top.sequence}): {view.number(top.final)} with {view.params_text(top.params)}",
            soft_wrap=True,
        )
    else:
        out.print("no trial reported a final metric; see nnifc status " + row.id)
    if status is ExperimentStatus.ERROR:
        raise NnifcError(row.message)


def main() -> None:
    cli(prog_name="nnifc")
