"""The `nnifc` command: the only module that prints or exits.

Library code raises NnifcError; here it becomes one red line (or one per config problem) and
exit code 1. Usage mistakes exit 2 (click). Anything else is a bug and shows a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

import click
import numpy as np
from rich.console import Console

from nnifc import __version__, config, launcher, view
from nnifc.errors import ConfigError, NnifcError
from nnifc.monitor import Monitor
from nnifc.platforms import PLATFORMS, k8s
from nnifc.platforms import orphans as orphan_objects
from nnifc.platforms.census import census
from nnifc.records import ExperimentStatus, TrialSpec
from nnifc.scheduler import Scheduler
from nnifc.store import ExperimentRow, Store, TrialRow, experiment_ids

# Piped output keeps whole tables (rich would squeeze them into 80 columns).
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)


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
@click.option(
    "--context", help="kubeconfig context (frameworkcontroller); default: the current one."
)
@click.option(
    "--namespace", help="Kubernetes namespace; default: frameworkcontrollerConfig.namespace."
)
def create(
    config_path: Path, detach: bool, dry_run: bool, context: str | None, namespace: str | None
) -> None:
    """Validate a config and run its experiment.

    \b
    Example:
        nnifc create --config exp.yml
        nnifc create --config exp.yml --dry-run
    """
    experiment = config.load(config_path)
    for warning in experiment.warnings:
        err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    options = {k: v for k, v in (("context", context), ("namespace", namespace)) if v}
    platform = PLATFORMS[experiment.platform]
    if dry_run:
        _print_plan(experiment, options)
    platform.preflight(experiment, options)
    if dry_run:
        out.print("checks passed; nothing was created (dry run)")
        return
    store = launcher.register(experiment, options)
    exp_id = store.experiment().id
    if detach:
        store.set_experiment(pid=launcher.start_detached(exp_id))
        out.print(
            f"experiment {exp_id} started in the background\n  nnifc status {exp_id}\n  nnifc stop {exp_id}"
        )
        return
    out.print(f"experiment {exp_id} ({experiment.config.experiment_name}) on {experiment.platform}")
    _run_loop(store)


@cli.command()
@click.argument("exp_id")
@click.option("--detach", is_flag=True, help="Run the resumed loop in the background.")
def resume(exp_id: str, detach: bool) -> None:
    """Re-attach to an experiment whose loop died, adopting its running trials.

    \b
    Example:
        nnifc resume 3kq9x0ab
    """
    store = Store.open(launcher.resolve(exp_id))
    launcher.prepare_resume(store)
    exp_id = store.experiment().id
    if detach:
        store.set_experiment(pid=launcher.start_detached(exp_id, resuming=True))
        out.print(f"experiment {exp_id} resumed in the background")
        return
    out.print(f"experiment {exp_id} resumed")
    _run_loop(store, resuming=True)


@cli.command("run-loop", hidden=True)
@click.argument("exp_id")
@click.option("--resuming", is_flag=True)
def run_loop(exp_id: str, resuming: bool) -> None:
    """Run an experiment's loop in this process (what --detach starts)."""
    store = Store.open(exp_id)
    store.set_experiment(pid=os.getpid())
    _run_loop(store, resuming=resuming)


def _run_loop(store: Store, *, resuming: bool = False) -> None:
    row = store.experiment()
    experiment = launcher.reload(row)
    with Monitor(store, out) as monitor:
        platform = launcher.platform_for(row, experiment)
        scheduler = Scheduler(experiment, store, platform, on_change=monitor.update)
        _stop_on_signals(scheduler)
        status = scheduler.run(resuming=resuming)
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
@click.option(
    "--cluster",
    "from_cluster",
    is_flag=True,
    help="Rebuild EXP from the cluster and storage (needs --config).",
)
@click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(path_type=Path),
    help="The experiment's YAML, for --cluster.",
)
@click.option("--context", help="kubeconfig context for --cluster.")
@click.option("--namespace", help="Kubernetes namespace for --cluster.")
def status(
    exp_id: str | None,
    as_json: bool,
    from_cluster: bool,
    config_path: Path | None,
    context: str | None,
    namespace: str | None,
) -> None:
    """Show all experiments, or one experiment and its trials.

    \b
    Example:
        nnifc status
        nnifc status 3kq9x0ab --json
    """
    if from_cluster:
        if exp_id is None or config_path is None:
            raise click.UsageError("--cluster needs the experiment id and --config")
        options = {k: v for k, v in (("context", context), ("namespace", namespace)) if v}
        row, trials = census(config.load(config_path), exp_id, options)
        _show_experiment(row, "from the cluster", trials, as_json=as_json)
        return
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
    _show_experiment(row, launcher.effective_status(row), trials, as_json=as_json)


def _show_experiment(
    row: ExperimentRow, status: str, trials: list[TrialRow], *, as_json: bool
) -> None:
    if as_json:
        click.echo(json.dumps(view.experiment_json(row, status, trials), indent=2))
    else:
        out.print(view.experiment_view(row, status, trials))


@cli.command()
@click.argument("ids", nargs=-1, required=True, metavar="[EXP] TRIAL")
@click.option("--follow", "-f", is_flag=True, help="Keep printing output while the trial runs.")
@click.option("--role", help="Only this task role's output (frameworkcontroller).")
@click.option("--index", type=int, help="Only this task index of the role.")
def logs(ids: tuple[str, ...], follow: bool, role: str | None, index: int | None) -> None:
    """Print a trial's output (stdout and stderr), also after its pods are gone.

    \b
    Example:
        nnifc logs a1b2c --follow
        nnifc logs 3kq9x0ab a1b2c --role worker --index 1
    """
    if len(ids) > 2:
        raise click.UsageError("give a trial id, optionally preceded by its experiment id")
    store, trial_id = launcher.find_trial(ids[-1], ids[0] if len(ids) == 2 else None)
    platform = launcher.platform_for(store.experiment())
    readers = {
        task: read
        for task, read in platform.outputs(trial_id).items()
        if (role is None or task.rsplit("_", 1)[0] == role)
        and (index is None or task.rsplit("_", 1)[1] == str(index))
    }
    if not readers:
        raise NnifcError(
            f"trial {trial_id} has no task {role or '*'}_{'*' if index is None else index}"
        )
    offsets = dict.fromkeys(readers, 0)
    try:
        while True:
            finished = store.trial(trial_id).status.final
            for task, read in readers.items():
                if len(readers) > 1 and offsets[task] == 0 and not follow:
                    click.echo(f"==> {task} <==")
                while chunk := read(offsets[task], 1 << 16):
                    offsets[task] += len(chunk)
                    sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            if not follow or finished:
                return
            time.sleep(0.5)
    finally:
        platform.close()


@cli.command()
@click.argument("exp_id", required=False)
@click.option("--all", "stop_all", is_flag=True, help="Stop every running experiment.")
@click.option(
    "--orphans",
    is_flag=True,
    help="Also delete nnifc's Frameworks and Secrets whose experiment no loop runs.",
)
@click.option("--context", help="kubeconfig context for --orphans; default: the current one.")
@click.option("--namespace", help="Kubernetes namespace for --orphans; default: the context's.")
def stop(
    exp_id: str | None, stop_all: bool, orphans: bool, context: str | None, namespace: str | None
) -> None:
    """Stop an experiment's loop and its running trials (idempotent).

    \b
    Example:
        nnifc stop 3kq9x0ab
        nnifc stop --orphans --namespace team-a
    """
    if exp_id is not None:
        targets = [launcher.resolve(exp_id)]
    elif orphans and not stop_all:
        targets = []  # only what no loop owns
    else:
        targets = [i for i in experiment_ids() if not Store.open(i).experiment().status.final]
        if len(targets) > 1 and not stop_all:
            raise NnifcError(
                f"several experiments are running ({', '.join(targets)}); name one or use --all"
            )
        if not targets and not orphans:
            out.print("no running experiment")
    for target in targets:
        final = launcher.stop(Store.open(target))
        out.print(f"experiment {target}: {final.value}")
    if orphans:
        _stop_orphans(context, namespace)


def _stop_orphans(context: str | None, namespace: str | None) -> None:
    running = {i for i in experiment_ids() if launcher.loop_alive(Store.open(i).experiment())}
    cluster = k8s.connect(context=context, namespace=namespace)
    try:
        found = orphan_objects.find(cluster, running=running)
        orphan_objects.delete(cluster, found)
    finally:
        cluster.close()
    for experiment in found.experiments:
        names = found.frameworks.get(experiment, []) + found.secrets.get(experiment, [])
        out.print(
            f"experiment {experiment}: deleted {len(names)} orphaned objects: {', '.join(names)}"
        )
    if not found.experiments:
        out.print(
            f"no orphaned Frameworks or Secrets in namespace {cluster.namespace} ({cluster.context})"
        )


def _print_plan(experiment: config.Experiment, options: dict[str, str]) -> None:
    seed = experiment.tuner_options.seed or 0
    first = experiment.space.sample(np.random.default_rng([seed, 0]))
    spec = TrialSpec("dryrun00", "first", 0, 0, first)
    described = PLATFORMS[experiment.platform].describe(experiment, options, spec)
    out.print(view.plan(experiment, first, described), soft_wrap=True)


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
