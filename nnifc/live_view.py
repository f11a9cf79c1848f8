"""What `create` shows on a terminal while the loop runs: the header and as many trials as fit.

A table taller than the terminal scrolls its top away on every refresh, so the view is cut to the
terminal's height. What earns a place: the trials still running (what is happening now), then
the best finished ones (what the run found so far), then the rest by how recently they ended.
A last line says how many did not fit and where to see them all.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style

from nnifc.columns import Entry, Layout, Line, emit
from nnifc.header import ExperimentHeader
from nnifc.stages import stages
from nnifc.store import ExperimentRow, TrialRow
from nnifc.trials_view import entry, layout

MESSAGE_LINES = 2  # a trial's message is cut to this many lines here; `status` shows it whole
SPARE_LINES = 1  # the line the cursor rests on under the view
DIM = Style(dim=True)


def ranked(trials: Sequence[TrialRow], optimize_mode: str) -> list[TrialRow]:
    """Running and waiting trials in sequence order, then finished ones best first (those with
    no finite final last, latest first)."""
    live = [t for t in trials if not t.status.final]
    sign = -1.0 if optimize_mode == "maximize" else 1.0
    scored = sorted(
        (t for t in trials if t.status.final and t.final is not None and math.isfinite(t.final)),
        key=lambda t: (sign * (t.final or 0.0), t.sequence),
    )
    counted = {t.id for t in live} | {t.id for t in scored}
    others = sorted(
        (t for t in trials if t.id not in counted),
        key=lambda t: (-(t.ended or 0.0), -t.sequence),
    )
    return [*live, *scored, *others]


class LiveView:
    """The header, a blank line, and the trials that fit in `height` lines."""

    def __init__(
        self,
        row: ExperimentRow,
        status: str,
        trials: Sequence[TrialRow],
        *,
        height: int,
        now: float | None = None,
    ) -> None:
        self.row, self.status, self.trials, self.height = row, status, trials, height
        self.now = time.time() if now is None else now

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        header = ExperimentHeader(self.row, self.status, self.trials, now=self.now)
        header_lines = console.render_lines(header, options.update(height=None), pad=False)
        for line in header_lines:
            yield from line
            yield Segment.line()
        room = self.height - SPARE_LINES - len(header_lines) - 2  # a blank line, column titles
        if room < 1:
            return
        # at most one trial a line: only those can show, and only they need measuring
        ids = [t.id for t in self.trials]
        found = dict(zip(ids, stages([t.params for t in self.trials]), strict=True))
        shown = ranked(self.trials, self.row.optimize_mode)[:room]
        order = [entry(t, self.now, found[t.id]) for t in shown]
        table = layout(order, width, live=True, note_lines=MESSAGE_LINES)
        chosen = _fill(order, table, console, room)
        if len(chosen) < len(self.trials):  # leave a line to say so
            chosen = _fill(order, table, console, room - 1)
        lines: list[Line] = [[], table.header()]
        for trial_lines in chosen:
            lines += trial_lines
        hidden = len(self.trials) - len(chosen)
        if hidden:
            lines.append([Segment(f"… {hidden} more: nnifc status {self.row.id}", DIM)])
        yield from emit(lines)


def _fill(entries: Sequence[Entry], table: Layout, console: Console, room: int) -> list[list[Line]]:
    """The lines of each trial, in order, while they fit in `room` lines."""
    chosen: list[list[Line]] = []
    for one in entries:
        lines = table.lines(one, console)
        if len(lines) > room:
            break
        room -= len(lines)
        chosen.append(lines)
    return chosen
