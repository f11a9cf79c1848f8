"""The `nnifc` command: the only package that prints or exits.

Library code raises NnifcError; here it becomes one red line (or one per config problem) and
exit code 1. Usage mistakes exit 2 (click). Anything else is a bug and shows a traceback.
One module per group of commands; each is registered below.
"""

from __future__ import annotations

from typing import Any

import click

from nnifc import __version__
from nnifc.cli import run, show, stop
from nnifc.errors import ConfigError, NnifcError


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


for command in (run.create, run.resume, run.run_loop, show.status, show.logs, stop.stop):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="nnifc")


__all__ = ["cli", "main"]
