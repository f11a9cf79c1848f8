"""`stop`: an experiment's loop and trials, and what dead launchers left in the cluster."""

from __future__ import annotations

import click

from nnifc import launcher, steering
from nnifc.cli.console import out
from nnifc.errors import NnifcError
from nnifc.store import Store, experiment_ids


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
    target = launcher.resolve(exp_id)
    for line in steering.delete(target, storage=storage, force=force):
        out.print(line, markup=False, soft_wrap=True)
    out.print(f"experiment {target} deleted", markup=False)


def _stop_orphans(context: str | None, namespace: str | None) -> None:
    from nnifc.platforms import k8s  # the Kubernetes client: only when asked
    from nnifc.platforms import orphans as orphan_objects

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
