"""`status` and `logs`: reading an experiment, from its store (or the cluster) and its storage."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from rich.console import Group
from rich.text import Text

from nnifc import experiments, launcher, rebuild, summary, view
from nnifc.cli.console import show
from nnifc.errors import NnifcError, StoreError
from nnifc.header import ExperimentHeader
from nnifc.store import ExperimentRow, Store, TrialRow, experiment_ids
from nnifc.trials_view import TrialsTable

INTERRUPTED = 130  # what a shell reports for a command ended by Ctrl-C (128 + SIGINT)


@click.command()
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
        from nnifc import config
        from nnifc.platforms import PLATFORMS

        experiment = config.load(config_path)
        row, trials = PLATFORMS[experiment.platform].census(experiment, exp_id, options)
        _show_experiment(row, "from the cluster", trials, as_json=as_json)
        return
    if exp_id is None:
        _show_all(as_json=as_json)
        return
    store = Store.open(experiments.resolve(exp_id))
    try:
        row, trials = store.experiment(), store.trials()
        counters, imported = store.counters(), store.imported_count()
    finally:
        store.close()  # read: nothing is held while the table is drawn
    status = launcher.effective_status(row)
    _show_experiment(row, status, trials, as_json=as_json, counters=counters, imported=imported)


def _show_all(*, as_json: bool) -> None:
    """Every experiment that can be read; then an error line for each damaged one."""
    rows = []
    imported: dict[str, int] = {}
    unreadable: list[str] = []
    for found in experiment_ids():
        try:
            store = Store.open(found)
        except StoreError as e:
            unreadable.append(str(e))
            continue
        try:
            row = store.experiment()
            rows.append((row, launcher.effective_status(row), store.trials()))
            imported[found] = store.imported_count()
        except StoreError as e:
            unreadable.append(str(e))
        finally:
            store.close()
    if as_json:
        documents = [summary.experiment_json(r, s, t, imported=imported[r.id]) for r, s, t in rows]
        click.echo(json.dumps(documents, indent=2))
    elif rows or not unreadable:
        show(
            view.ExperimentsTable(rows)
            if rows
            else Text("no experiments yet: nnifc create --config exp.yml")
        )
    if unreadable:
        raise StoreError("\n".join(unreadable))


def _show_experiment(
    row: ExperimentRow,
    status: str,
    trials: list[TrialRow],
    *,
    as_json: bool,
    counters: dict[str, float] | None = None,
    imported: int = 0,
) -> None:
    if as_json:
        document = summary.experiment_json(row, status, trials, counters, imported=imported)
        click.echo(json.dumps(document, indent=2))
    else:
        header = ExperimentHeader(row, status, trials, imported=imported)
        show(Group(header, Text(""), TrialsTable(trials)))


@click.command()
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
    try:
        _print_logs(ids, follow, role, index)
    except KeyboardInterrupt:  # Ctrl-C is how one stops following: no traceback, 128 + SIGINT
        sys.stdout.flush()
        raise SystemExit(INTERRUPTED) from None


def _print_logs(ids: tuple[str, ...], follow: bool, role: str | None, index: int | None) -> None:
    store, trial_id = experiments.find_trial(ids[-1], ids[0] if len(ids) == 2 else None)
    platform = rebuild.platform_for(store.experiment())
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
