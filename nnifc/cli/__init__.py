"""The `nnifc` command: the only package that prints or exits.

Library code raises NnifcError; here it becomes one red line (or one per config problem) and
exit code 1, or 3 for an experiment that ended without a result (ExperimentFailed). Usage
mistakes exit 2 (click); a foreground loop left with its trials running, 130. Anything else is
a bug: one line, and its traceback in a report file under $NNIFC_HOME/reports.
Messages embed the user's values and trials' output: they are printed without control characters.
One module per group of commands; each is registered below.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback
from typing import Any

import click

from nnifc import __version__
from nnifc.errors import ConfigError, ExperimentFailed, NnifcError
from nnifc.plain import printable

# command name -> (module, function); a command's module is imported only when it runs, so
# `nnifc status` starts without loading configs, tuners or the Kubernetes client
COMMANDS = {
    "create": ("run", "create"),
    "resume": ("run", "resume"),
    "run-loop": ("run", "run_loop"),
    "status": ("show", "status"),
    "logs": ("show", "logs"),
    "stop": ("stop", "stop"),
    "delete": ("stop", "delete"),
    "update": ("steer", "update"),
    "kill": ("steer", "kill"),
    "export": ("transfer", "export"),
    "import": ("transfer", "import_"),
    "view": ("web", "view"),
    "report": ("web", "report"),
    "doctor": ("doctor", "doctor"),
}


class Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, function = COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(f"nnifc.cli.{module}"), function)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as e:
            raise click.ClickException(printable("\n".join(str(p) for p in e.problems))) from None
        except ExperimentFailed as e:
            raise NoResult(printable(str(e))) from None
        except NnifcError as e:
            raise click.ClickException(printable(str(e))) from None
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as e:  # a bug: one line here, the whole report in a file
            report = _write_report(ctx)
            raise click.ClickException(
                printable(
                    f"unexpected error: {type(e).__name__}: {e}; the full report is in {report}"
                )
            ) from None


def _write_report(ctx: click.Context) -> str:
    """The traceback of the exception being handled, in a private file under $NNIFC_HOME."""
    from nnifc import private
    from nnifc.store import home

    reports = home() / "reports"
    try:
        private.make_dirs(reports)  # home too, if this is the first thing written there
        path = reports / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"nnifc {__version__}: {' '.join(sys.argv)}\n\n{traceback.format_exc()}")
    except OSError:
        return "(none: it could not be written)"
    return str(path)


class NoResult(click.ClickException):
    """Printed like any error, with its own exit code for scripts and CI jobs."""

    exit_code = ExperimentFailed.exit_code


@click.group(cls=Group)
@click.version_option(__version__, prog_name="nnifc")
def cli() -> None:
    """Run NNI-style hyperparameter tuning experiments locally or on FrameworkController."""


def main() -> None:
    cli(prog_name="nnifc")


__all__ = ["cli", "main"]
