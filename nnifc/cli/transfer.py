"""`export` and `import`: an experiment's trials out to NNI's formats, finished points in."""

from __future__ import annotations

import json
from pathlib import Path

import click

from nnifc import experiments, rebuild, transfer
from nnifc.budget import plural
from nnifc.cli.console import err, say
from nnifc.store import Store


@click.command("export")
@click.argument("exp_id")
@click.option(
    "--type",
    "-t",
    "kind",
    type=click.Choice(["json", "csv"]),
    help="Format; default: from the file name, else json.",
)
@click.option("--filename", "-f", type=click.Path(path_type=Path), help="Write here, not stdout.")
@click.option("--intermediate", "-i", is_flag=True, help="Include intermediate results.")
def export(exp_id: str, kind: str | None, filename: Path | None, intermediate: bool) -> None:
    """Write the trials that reported a final result, as NNI's `experiment export` did.

    \b
    Example:
        nnifc export 3kq9x0ab -f trials.csv
        nnifc export 3kq9x0ab --intermediate > trials.json
    """
    store = Store.open(experiments.resolve(exp_id))
    kind = kind or ("csv" if filename and filename.suffix.lower() == ".csv" else "json")
    rows = transfer.records(store.trials(), intermediate=intermediate)
    text = transfer.to_csv(rows) if kind == "csv" else json.dumps(rows, indent=2) + "\n"
    if filename is None:
        click.echo(text, nl=False)
        return
    filename.write_text(text)
    say(f"{plural(len(rows), 'trial')} written to {filename}", err)


@click.command("import")
@click.argument("exp_id")
@click.option(
    "--filename",
    "-f",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="An `nnifc export`/`nnictl experiment export` file, or NNI's import JSON.",
)
def import_(exp_id: str, filename: Path) -> None:
    """Give an experiment's tuner finished points from elsewhere (a warm start).

    The points are checked against the experiment's search space first; a running loop
    learns them within seconds, a stopped one when it is resumed.

    \b
    Example:
        nnifc import 3kq9x0ab -f last-week.json
    """
    store = Store.open(experiments.resolve(exp_id))
    experiment = rebuild.reload(store.experiment())
    points = transfer.read(filename, experiment.space)
    added = store.add_imported([(p.params, p.value) for p in points], str(filename.resolve()))
    again = len(points) - added
    say(
        f"{plural(added, 'finished point')} imported into {store.experiment().id}"
        + (f" ({again} already imported before)" if again else "")
    )
