"""Pure functions from store rows to what a person reads: rich tables and JSON documents.

Nothing here touches the store or the terminal; the CLI passes rows in and prints what comes out.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from nnifc.records import Params, TrialStatus
from nnifc.store import ExperimentRow, TrialRow

if TYPE_CHECKING:
    from nnifc.config import Experiment

NO_LIMIT_SECONDS = 999 * 86400  # maxExecDuration's default, 999d

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


def best(trials: Sequence[TrialRow], optimize_mode: str) -> TrialRow | None:
    scored = [t for t in trials if t.final is not None and math.isfinite(t.final)]
    if not scored:
        return None
    pick = max if optimize_mode == "maximize" else min
    return pick(scored, key=lambda t: t.final if t.final is not None else 0.0)


def when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds") if ts else None


def span(start: float | None, end: float | None, now: float | None = None) -> str:
    if start is None:
        return ""
    seconds = int((end or now or time.time()) - start)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 24:
        return f"{hours // 24}d{hours % 24:02d}h"
    return (
        f"{hours}h{minutes:02d}m"
        if hours
        else (f"{minutes}m{secs:02d}s" if minutes else f"{secs}s")
    )


def number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def params_text(params: dict[str, Any]) -> str:
    """Parameters for people: JSON with floats cut to 4 significant digits."""
    return json.dumps(_rounded(params), separators=(", ", ": "))


def _rounded(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _styled(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status.split(" ")[0], ""))


def experiments_table(rows: Sequence[tuple[ExperimentRow, str, Sequence[TrialRow]]]) -> Table:
    """One line per experiment: (row, status to show, its trials)."""
    table = Table(title="Experiments", title_justify="left")
    for column in ("id", "name", "platform", "status", "trials", "best", "started", "duration"):
        table.add_column(column, no_wrap=column in ("id", "started"))
    for row, status, trials in rows:
        done = sum(1 for t in trials if t.status.final)
        top = best(trials, row.optimize_mode)
        table.add_row(
            row.id,
            row.name,
            row.platform,
            _styled(status),
            f"{done}/{row.max_trials}",
            number(top.final) if top else "",
            when(row.started),
            span(row.started, row.ended),
        )
    return table


def experiment_header(row: ExperimentRow, status: str, trials: Sequence[TrialRow]) -> Table:
    top = best(trials, row.optimize_mode)
    done = sum(1 for t in trials if t.status.final)
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    header.add_row("experiment", f"{row.id}  {row.name}  ({row.platform})")
    header.add_row("status", _styled(status))
    limit = span(0, row.max_seconds) if row.max_seconds < NO_LIMIT_SECONDS else "no limit"
    header.add_row("elapsed", f"{span(row.started, row.ended)} of {limit}")
    header.add_row(
        "trials", f"{done} done, {len(trials) - done} running, {len(trials)} of {row.max_trials}"
    )
    best_text = f"{number(top.final)} (trial {top.id}, {row.optimize_mode})" if top else "none yet"
    header.add_row("best", best_text)
    if row.message:
        header.add_row("message", Text(row.message, style="red"))
    return header


TRIAL_COLUMNS = (
    "id",
    "seq",
    "status",
    "started",
    "duration",
    "intermediate",
    "final",
    "parameters",
)
RIGHT_ALIGNED = ("seq", "intermediate", "final")


def _trial_cells(t: TrialRow) -> tuple[str, ...]:
    latest = next((v for v in reversed(t.intermediate) if v is not None), None)
    return (
        t.id,
        str(t.sequence),
        t.status.value,
        when(t.started),
        span(t.started, t.ended),
        number(latest),
        number(t.final),
        params_text(t.params),
    )


def trials_text(trials: Sequence[TrialRow]) -> str:
    """The trials table as aligned plain text: what `status` prints for thousands of trials,
    where laying out a rich table would take seconds."""
    rows = [TRIAL_COLUMNS, *(_trial_cells(t) for t in trials)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(TRIAL_COLUMNS) - 1)]
    lines = []
    for r in rows:
        cells = [
            c.rjust(w) if name in RIGHT_ALIGNED else c.ljust(w)
            for c, w, name in zip(r, widths, TRIAL_COLUMNS, strict=False)
        ]
        lines.append("  ".join([*cells, r[-1]]).rstrip())
    failed = [
        f"{t.id}: {t.message}" for t in trials if t.status is TrialStatus.FAILED and t.message
    ]
    return "\n".join(["Trials", *lines, *(["", "Failed:", *failed] if failed else [])])


def trials_table(trials: Sequence[TrialRow], *, limit: int | None = None) -> Table:
    shown = list(trials)
    if limit is not None and len(shown) > limit:
        live = [t for t in shown if not t.status.final]
        shown = sorted({*shown[-limit:], *live}, key=lambda t: t.sequence)
    table = Table(title="Trials", title_justify="left")
    for column in TRIAL_COLUMNS:
        table.add_column(
            column,
            no_wrap=column not in ("parameters",),
            justify="right" if column in RIGHT_ALIGNED else "left",
        )
    for t in shown:
        cells = _trial_cells(t)
        status = _styled(t.status.value)
        if t.status is TrialStatus.FAILED and t.message:
            status.append(f"\n{t.message}", style="dim")
        table.add_row(*cells[:2], status, *cells[3:])
    return table


def experiment_view(
    row: ExperimentRow, status: str, trials: Sequence[TrialRow], *, limit: int | None = None
) -> Group:
    return Group(
        experiment_header(row, status, trials), Text(""), trials_table(trials, limit=limit)
    )


def trial_line(t: TrialRow) -> str:
    """One plain line per trial status change, for output that is not a terminal."""
    parts = [f"trial {t.id} #{t.sequence} {t.status.value}"]
    if t.final is not None:
        parts.append(f"final={number(t.final)}")
    if t.message:
        parts.append(f"({t.message})")
    parts.append(params_text(t.params))
    return " ".join(parts)


def plan(experiment: Experiment, first: Params, framework_yaml: str | None) -> Group:
    """What `create --dry-run` shows: the validated settings, a first trial, its Framework."""
    c = experiment.config
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("experiment", f"{c.experiment_name} on {experiment.platform}")
    grid.add_row(
        "budget",
        f"{c.max_trial_num} trials, {c.trial_concurrency} at a time, at most {c.max_exec_duration}",
    )
    grid.add_row(
        "tuner", f"{experiment.tuner_name} {experiment.tuner_options.model_dump(exclude_none=True)}"
    )
    if experiment.assessor_name and experiment.assessor_options:
        grid.add_row(
            "assessor",
            f"{experiment.assessor_name} {experiment.assessor_options.model_dump(exclude_none=True)}",
        )
    grid.add_row("optimize", experiment.optimize_mode)
    grid.add_row("parameters", ", ".join(experiment.space))
    grid.add_row("first trial", params_text(dict(first)))
    grid.add_row("code", str(c.trial.code_dir))
    parts: list[Any] = [Text.assemble(("valid: ", "green"), str(experiment.source)), grid]
    if framework_yaml is not None:
        parts += [Text("\nthe first trial's Framework:", style="bold"), Text(framework_yaml)]
    return Group(*parts)
