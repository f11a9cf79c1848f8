"""Pure functions from store rows to what a person reads: the words, numbers and times every view
shares, the experiments list (`nnifc status`), and the `--dry-run` plan.

Nothing here touches the store or the terminal; the CLI passes rows in and prints what comes out.
The header, the trials table and the live view are in `header`, `trials_view` and `live_view`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.style import Style
from rich.table import Table
from rich.text import Text

from nnifc.budget import plural
from nnifc.columns import Column, Entry, Layout, emit
from nnifc.plain import plain
from nnifc.records import Params, TrialStatus
from nnifc.stages import LOAD_KEY, SAVE_KEY
from nnifc.store import ExperimentRow, TrialRow

if TYPE_CHECKING:
    from nnifc.experiment import Experiment

STATUS_STYLE = {
    "SUCCEEDED": "green",
    "FAILED": "red",
    "RUNNING": "cyan",
    "WAITING": "dim",
    "EARLY_STOPPED": "yellow",
    "USER_CANCELED": "magenta",
    "SYS_CANCELED": "magenta",
    "DONE": "green",
    "STOPPED": "magenta",
    "ERROR": "red",
    "NO_MORE_TRIAL": "cyan",
}


RESULTS = (TrialStatus.SUCCEEDED, TrialStatus.EARLY_STOPPED)  # a FAILED trial's metric is not one


def best(trials: Sequence[TrialRow], optimize_mode: str) -> TrialRow | None:
    scored = [
        t for t in trials if t.status in RESULTS and t.final is not None and math.isfinite(t.final)
    ]
    if not scored:
        return None
    pick = max if optimize_mode == "maximize" else min
    return pick(scored, key=lambda t: t.final if t.final is not None else 0.0)


def when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds") if ts else None


def seconds_text(seconds: float) -> str:
    """A duration the way a person says it: `8s`, `2m05s`, `1h30m`, `3d04h`."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 24:
        return f"{hours // 24}d{hours % 24:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def span(start: float | None, end: float | None, now: float | None = None) -> str:
    if start is None:
        return ""
    return seconds_text((end or now or time.time()) - start)


def number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def latest(values: Sequence[float | None]) -> float | None:
    """The last intermediate value a trial reported (None when it reported none)."""
    return next((v for v in reversed(values) if v is not None), None)


def params_text(params: dict[str, Any]) -> str:
    """Parameters for people: JSON with floats cut to 4 significant digits and checkpoint
    directories to their last two parts (PBT's generation/member, ASHA's config-budget); the
    whole values are in `status --json`, `export` and the web view."""
    shown = {k: _tail(v) if k in (LOAD_KEY, SAVE_KEY) else v for k, v in params.items()}
    return json.dumps(_rounded(shown), separators=(", ", ": "))


def _tail(path: Any) -> Any:
    if not isinstance(path, str) or path.count("/") < 3:
        return path
    return ".../" + "/".join(path.rstrip("/").split("/")[-2:])


def _rounded(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def styled(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status.split(" ")[0], ""))


EXP_ID = Column("id")
EXP_STATUS = Column("status")
EXP_TRIALS = Column("trials", right=True)
EXP_BEST = Column("best", right=True)
EXP_STARTED = Column("started")
EXP_DURATION = Column("duration", right=True)
EXP_PLATFORM = Column("platform")
EXP_COLUMNS = (EXP_ID, EXP_STATUS, EXP_TRIALS, EXP_BEST, EXP_STARTED, EXP_DURATION, EXP_PLATFORM)


class ExperimentsTable:
    """One line per experiment, oldest first, and under it why it ended (or what is wrong).

    Given (row, status to show, its trials) for each experiment.
    """

    def __init__(self, rows: Sequence[tuple[ExperimentRow, str, Sequence[TrialRow]]]) -> None:
        self.rows = sorted(rows, key=lambda r: (r[0].started, r[0].id))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        entries = [self._entry(*one) for one in self.rows]
        table = Layout(
            EXP_COLUMNS,
            entries,
            options.max_width,
            tail_title="name",
            indent_under=EXP_STATUS,
            give_way=(EXP_PLATFORM, EXP_STARTED),
            tail_min=16,
        )
        yield Text("Experiments", style="bold")
        yield from emit([table.header()])
        for one in entries:
            yield from emit(table.lines(one, console))

    @staticmethod
    def _entry(row: ExperimentRow, status: str, trials: Sequence[TrialRow]) -> Entry:
        word, _, aside = status.partition(" ")  # "RUNNING (launcher not running)"
        aside = aside.strip("()")
        if aside == "launcher not running":
            aside += f": nnifc resume {row.id}"
        notes = [aside, row.reason]
        done = sum(1 for t in trials if t.status.final)
        top = best(trials, row.optimize_mode)
        cells = {
            EXP_ID: row.id,
            EXP_STATUS: word,
            EXP_TRIALS: f"{done}/{row.max_trials}",
            EXP_BEST: number(top.final) if top else "",
            EXP_STARTED: datetime.fromtimestamp(row.started).strftime("%m-%d %H:%M"),
            EXP_DURATION: span(row.started, row.ended),
            EXP_PLATFORM: row.platform,
        }
        style = STATUS_STYLE.get(word)
        return Entry(
            cells=cells,
            tail=row.name,
            styles={EXP_STATUS: Style.parse(style)} if style else {},
            note=plain("; ".join(n for n in notes if n), style="dim") if any(notes) else None,
        )


def plan(experiment: Experiment, first: Params, framework_yaml: str | None) -> Group:
    """What `create --dry-run` shows: the validated settings, a first trial, its Framework."""
    c = experiment.config
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    tuner_options = experiment.tuner_options.model_dump(exclude_none=True)
    rows = [
        ("experiment", f"{c.experiment_name} on {experiment.platform}"),
        (
            "budget",
            f"{plural(c.max_trial_num, 'trial')}, {c.trial_concurrency} at a time,"
            f" at most {c.max_exec_duration}",
        ),
        ("tuner", f"{experiment.tuner_name} {tuner_options}"),
    ]
    if experiment.assessor_name and experiment.assessor_options:
        assessor_options = experiment.assessor_options.model_dump(exclude_none=True)
        rows.append(("assessor", f"{experiment.assessor_name} {assessor_options}"))
    rows += [
        ("optimize", experiment.optimize_mode),
        ("parameters", ", ".join(experiment.space)),
        ("first trial", params_text(dict(first))),
        ("code", str(c.trial.code_dir)),
    ]
    for label, value in rows:  # names, options and paths are the user's text, never markup
        grid.add_row(label, plain(value))
    parts: list[Any] = [Text.assemble(("valid: ", "green"), plain(str(experiment.source))), grid]
    if framework_yaml is not None:
        parts += [Text("\nthe first trial's Framework:", style="bold"), plain(framework_yaml)]
    return Group(*parts)
