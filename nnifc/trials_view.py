"""The trials table of `status EXP` and of the live view, and the monitor's one-line form.

A trial's id (what `nnifc logs` takes), seq, status and final always show whole; the parameters
are the column that gives way (wrapped in `status`, elided in the live view), and started, then
last, then duration are dropped when the parameters would get too little room. A trial's message
goes under its row, wrapped, because a column wide enough for a failure would squeeze the rest.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.console import Console, ConsoleOptions, RenderResult
from rich.style import Style

from nnifc.columns import Column, Entry, Layout, emit
from nnifc.plain import one_line, plain, printable
from nnifc.records import TrialStatus
from nnifc.stages import Stage, stages
from nnifc.store import TrialRow
from nnifc.view import STATUS_STYLE, latest, number, params_text, span, when

ID = Column("id")
SEQ = Column("seq", right=True)
STATUS = Column("status")
# shown only when trials have them: an advisor's budget and its rung, PBT's generation
BUDGET = Column("budget")
GENERATION = Column("gen", right=True)
STARTED = Column("started")
DURATION = Column("duration", right=True)
LAST = Column("last", right=True)
FINAL = Column("final", right=True)
COLUMNS = (ID, SEQ, STATUS, BUDGET, GENERATION, STARTED, DURATION, LAST, FINAL)
GIVE_WAY = (STARTED, LAST, DURATION)  # first to last, when the parameters need the room
PARAMS_MIN = 24  # narrower, the columns that give way do
LIVE_PARAMS_MIN = 16  # the live view keeps `last` longer: a running trial has no final yet
PARAMS_BELOW = 48  # `status` puts longer parameters under the row rather than in a narrower column
STATUS_STYLES = {status: Style.parse(style) for status, style in STATUS_STYLE.items()}


def entry(trial: TrialRow, now: float, stage: Stage | None = None) -> Entry:
    style = STATUS_STYLES.get(trial.status.value)
    note = None
    if trial.message:
        color = "red" if trial.status is TrialStatus.FAILED else "yellow"
        note = plain(trial.message, style=color)
    return Entry(
        cells={
            ID: trial.id,
            SEQ: str(trial.sequence),
            STATUS: trial.status.value,
            BUDGET: stage.budget_text() if stage else "",
            GENERATION: stage.generation_text() if stage else "",
            STARTED: when(trial.started),
            DURATION: span(trial.started, trial.ended, now),
            LAST: number(latest(trial.intermediate)),
            FINAL: number(trial.final),
        },
        tail=params_text(trial.params),  # JSON: ASCII, control characters escaped
        styles={STATUS: style} if style else {},
        note=note,
    )


def layout(
    entries: Sequence[Entry], width: int, *, live: bool = False, note_lines: int | None = None
) -> Layout:
    return Layout(
        COLUMNS,
        entries,
        width,
        tail_title="parameters",
        indent_under=STATUS,
        give_way=GIVE_WAY,
        optional=(BUDGET, GENERATION),
        tail_min=LIVE_PARAMS_MIN if live else PARAMS_MIN,
        below_under=PARAMS_BELOW,
        elide=live,
        note_lines=note_lines,
    )


class TrialsTable:
    """Every trial in sequence order, parameters whole: what `nnifc status EXP` prints."""

    def __init__(self, trials: Sequence[TrialRow], *, now: float | None = None) -> None:
        self.trials, self.now = trials, now

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        now = time.time() if self.now is None else self.now
        found = stages([t.params for t in self.trials])
        entries = [entry(t, now, stage) for t, stage in zip(self.trials, found, strict=True)]
        table = layout(entries, options.max_width)
        yield from emit([table.header()])
        for one in entries:
            yield from emit(table.lines(one, console))


def trial_line(t: TrialRow, now: float | None = None) -> str:
    """One plain line per trial status change, for output that is not a terminal."""
    parts = [f"trial {t.id} #{t.sequence} {t.status.value}"]
    if t.started is not None:
        parts.append(span(t.started, t.ended, now))
    if t.final is not None:
        parts.append(f"final={number(t.final)}")
    last = latest(t.intermediate)
    if last is not None:
        parts.append(f"last={number(last)}")
    if t.message:
        parts.append(f"({one_line(t.message)})")  # one line, whatever the message holds
    parts.append(params_text(t.params))
    return printable(" ".join(parts))  # a trial's text never drives the terminal
