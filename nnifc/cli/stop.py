"""`stop`: an experiment's loop and trials, and what dead launchers left in the cluster."""

from __future__ import annotations

import shutil

import click

from nnifc import experiments, launcher, steering
from nnifc.cli.console import say
from nnifc.errors import NnifcError, StoreError
from nnifc.store import ExperimentRow, Store, experiment_dir, experiment_ids


@click.command()
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
    unreadable: dict[str, str] = {}  # experiment -> why its database cannot be read
    if exp_id is not None:
        targets = [experiments.resolve(exp_id)]
    elif orphans and not stop_all:
        targets = []  # only what no loop owns
    else:
        rows, unreadable = _readable()
        targets = [i for i, row in rows.items() if not row.status.final]
        if len(targets) > 1 and not stop_all:
            raise NnifcError(
                f"several experiments are running ({', '.join(targets)}); name one or use --all"
            )
        if not targets and not orphans:
            say("no running experiment")
    for target in targets:
        say(f"experiment {target}: {launcher.stop(Store.open(target))}")
    if orphans:
        _stop_orphans(context, namespace)
    if unreadable:
        raise StoreError("\n".join(unreadable.values()))


@click.command()
@click.argument("exp_id")
@click.option(
    "--storage", is_flag=True, help="Also remove its directory on the NFS or Azure share."
)
@click.option("--force", is_flag=True, help="Stop it first if it is running.")
def delete(exp_id: str, storage: bool, force: bool) -> None:
    """Remove an experiment's local state (and with --storage its files on the share).

    \b
    Example:
        nnifc delete 3kq9x0ab
        nnifc delete 3kq9x0ab --storage --force
    """
    target = experiments.resolve(exp_id)
    try:
        done = steering.delete(target, storage=storage, force=force)
    except StoreError as e:
        if not force or storage:
            raise StoreError(f"{e}; `nnifc delete {target} --force` removes it") from None
        shutil.rmtree(experiment_dir(target))  # nothing in it can say what runs
        done = [f"removed {experiment_dir(target)}"]
    for line in done:
        say(line)
    say(f"experiment {target} deleted")


def _readable() -> tuple[dict[str, ExperimentRow], dict[str, str]]:
    """Every experiment's row, and why each one that cannot be read cannot."""
    rows: dict[str, ExperimentRow] = {}
    unreadable: dict[str, str] = {}
    for exp_id in experiment_ids():
        try:
            rows[exp_id] = Store.open(exp_id).experiment()
        except StoreError as e:
            unreadable[exp_id] = str(e)
    return rows, unreadable


def _stop_orphans(context: str | None, namespace: str | None) -> None:
    from nnifc.platforms import PLATFORMS

    rows, unreadable = _readable()
    # what a damaged database's loop owns is kept: nothing says it is dead
    running = {i for i, row in rows.items() if launcher.loop_alive(row)} | set(unreadable)
    options = {k: v for k, v in (("context", context), ("namespace", namespace)) if v}
    for line in PLATFORMS["frameworkcontroller"].remove_orphans(options, running=running):
        say(line)
