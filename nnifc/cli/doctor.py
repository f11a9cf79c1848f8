"""`nnifc doctor`: is this machine and cluster ready for nnifc? One table, a fix per failure.

Exit 0 only when no check failed; skipped checks (no --config, no --probe) do not fail it.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from nnifc import config
from nnifc.cli.console import out, say, show
from nnifc.plain import plain
from nnifc.platforms import PLATFORMS
from nnifc.platforms.checkup import Check, Outcome

PLATFORM = "frameworkcontroller"  # without a config: the one platform with a cluster to check
PIPED_WIDTH = 10_000
STYLES = {Outcome.PASS: "green", Outcome.FAIL: "bold red", Outcome.SKIP: "dim"}


@click.command()
@click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(path_type=Path),
    help="Also check this experiment's namespace, service account, storage and images.",
)
@click.option("--context", help="kubeconfig context; default: the current one.")
@click.option(
    "--namespace", help="Kubernetes namespace; default: the config's, else the context's."
)
@click.option("--probe", is_flag=True, help="Run one tiny trial to read the image's nni version.")
def doctor(
    config_path: Path | None, context: str | None, namespace: str | None, probe: bool
) -> None:
    """Check the kubeconfig, cluster, FrameworkController, permissions and storage.

    \b
    Example:
        nnifc doctor
        nnifc doctor --config exp.yml --probe
    """
    experiment = config.load(config_path) if config_path is not None else None
    platform = PLATFORMS[experiment.platform if experiment is not None else PLATFORM]
    options = {k: v for k, v in (("context", context), ("namespace", namespace)) if v}
    rows = platform.doctor(experiment, options, probe=probe)
    # piped: one line per check, however long, for grep
    console = out if out.is_terminal else Console(width=PIPED_WIDTH, highlight=False)
    show(table(rows), console)
    failures = sum(row.failed for row in rows)
    if failures:
        say(f"{failures} of {len(rows)} checks failed")
        raise SystemExit(1)
    say("all checks passed")


def table(rows: list[Check]) -> Table:
    grid = Table(box=None, show_edge=False, pad_edge=False)
    for heading in ("", "check", "found", "fix"):
        grid.add_column(heading, overflow="fold")
    for row in rows:
        style = STYLES[row.outcome]
        grid.add_row(
            plain(row.outcome.value, style), plain(row.name), plain(row.found), plain(row.fix)
        )
    return grid


__all__ = ["doctor"]
