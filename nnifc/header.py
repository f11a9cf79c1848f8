"""The lines above the trials: how far the experiment got against its budget, and why it stopped.

Both budgets get a bar (trials finished of maxTrialNum, time spent of maxExecDuration) so a glance
says which one ends the run; the ETA is the nearer of the two, from the rate trials finish at, and
is only shown when there is a rate. Once the experiment ended, its `reason` says which budget (or
what else) ended it, so a time line like "17s of 8s" never stands alone.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from nnifc.budget import NO_LIMIT_SECONDS, Budget, duration_text, plural
from nnifc.plain import plain
from nnifc.records import ExperimentStatus, TrialStatus
from nnifc.store import ExperimentRow, TrialRow
from nnifc.view import best, number, seconds_text, styled

NO_LIMIT_TRIALS = 99999  # maxTrialNum's default: no bar for a budget nobody set
LABEL_WIDTH = 10  # "experiment"
BAR_WIDTHS = (10, 40)  # narrowest and widest bar


def time_spent(row: ExperimentRow, now: float) -> float:
    """Seconds of maxExecDuration used: wall time less the time no launcher ran."""
    return Budget.of(row).spent_seconds(row.ended or now)


def eta_seconds(
    row: ExperimentRow, status: str, trials: Sequence[TrialRow], now: float
) -> float | None:
    """Seconds until the experiment ends, or None when no trial finished yet to give a rate (or
    no loop is running to end it)."""
    if row.status.final or status != row.status.value:  # ended, or "(launcher not running)"
        return None
    finished = [t for t in trials if t.status.final]
    live = [t for t in trials if not t.status.final]
    if not finished:
        return None
    if row.status is ExperimentStatus.NO_MORE_TRIAL:  # only the running trials are left
        durations = [t.ended - t.started for t in finished if t.started and t.ended]
        if not durations or not live:
            return None
        typical = sum(durations) / len(durations)
        left = max(typical - (now - (t.started or now)) for t in live)
        return left if left > 0 else None
    spent = time_spent(row, now)
    estimates = []
    if row.max_trials < NO_LIMIT_TRIALS:  # the trials left, at the rate they finished so far
        estimates.append(max(0, row.max_trials - len(finished)) * spent / len(finished))
    if row.max_seconds < NO_LIMIT_SECONDS:
        estimates.append(max(0.0, row.max_seconds - spent))
    return min(estimates) if estimates else None


def bar(done: float, total: float, width: int, style: str) -> Text:
    """A bar of `width` cells, `done/total` of them heavy: readable with or without colour."""
    filled = round(width * min(1.0, done / total)) if total > 0 else width
    return Text.assemble(("━" * filled, style), ("─" * (width - filled), "dim"))


class ExperimentHeader:
    """The header of `status EXP` and of the live view, laid out for the width it is given."""

    def __init__(
        self,
        row: ExperimentRow,
        status: str,
        trials: Sequence[TrialRow],
        *,
        imported: int = 0,
        now: float | None = None,
    ) -> None:
        self.row, self.status, self.trials, self.imported = row, status, trials, imported
        self.now = time.time() if now is None else now

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        bar_width = min(max((options.max_width - LABEL_WIDTH) // 5, BAR_WIDTHS[0]), BAR_WIDTHS[1])
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True, min_width=LABEL_WIDTH)
        grid.add_column(overflow="fold")
        for label, value in self.rows(bar_width):
            grid.add_row(label, value)
        yield grid

    def rows(self, bar_width: int) -> list[tuple[str, Text]]:
        row = self.row
        rows = [
            ("experiment", plain(f"{row.id}  {row.name}  ({row.platform})")),
            ("status", self._status()),
            ("trials", self._trials(bar_width)),
            ("time", self._time(bar_width)),
            ("best", self._best()),
        ]
        if self.imported:
            points = plural(self.imported, "finished point")
            rows.append(("imported", Text(f"{points} given to the tuner")))
        if row.reason:
            rows.append(("reason", plain(row.reason, style="yellow")))
        if row.message and row.message != row.reason:
            rows.append(("message", plain(row.message, style="red")))
        return rows

    def _trials(self, bar_width: int) -> Text:
        row = self.row
        counts = Counter(t.status for t in self.trials)
        finished = sum(n for status, n in counts.items() if status.final)
        limited = row.max_trials < NO_LIMIT_TRIALS
        words = [f"{finished} of {row.max_trials} finished" if limited else f"{finished} finished"]
        if counts[TrialStatus.FAILED]:
            words[0] += f" ({counts[TrialStatus.FAILED]} failed)"
        words.append(f"{counts[TrialStatus.RUNNING]} running")
        if counts[TrialStatus.WAITING]:
            words.append(f"{counts[TrialStatus.WAITING]} waiting")
        text = Text(", ".join(words))
        if not limited:
            return text
        return Text.assemble(bar(finished, row.max_trials, bar_width, "cyan"), "  ", text)

    def _time(self, bar_width: int) -> Text:
        row = self.row
        spent = time_spent(row, self.now)
        limited = row.max_seconds < NO_LIMIT_SECONDS
        if not limited:
            words = [f"{seconds_text(spent)}, no limit"]
        elif spent <= row.max_seconds:
            words = [f"{seconds_text(spent)} of {duration_text(row.max_seconds)}"]
        else:  # the loop waited for running trials after the budget ran out
            words = [f"{seconds_text(spent)} (limit {duration_text(row.max_seconds)})"]
        eta = eta_seconds(row, self.status, self.trials, self.now)
        if eta is not None:
            words.append(f"ETA {seconds_text(eta)}")
        elif limited and not row.status.final and self.status == row.status.value:
            words.append(f"at most {seconds_text(max(0.0, row.max_seconds - spent))} left")
        if row.paused >= 1:
            words.append(f"not counting {seconds_text(row.paused)} with no launcher")
        text = Text(", ".join(words))
        if not limited:
            return text
        return Text.assemble(bar(spent, row.max_seconds, bar_width, "cyan"), "  ", text)

    def _status(self) -> Text:
        text = styled(self.status)
        if not self.row.status.final:  # `nnifc update` may have changed it since create
            text.append(f", {plural(self.row.concurrency, 'trial')} at a time", style="dim")
        return text

    def _best(self) -> Text:
        top = best(self.trials, self.row.optimize_mode)
        if top is None:
            return Text("none yet", style="dim")
        return Text.assemble(
            (number(top.final), "bold"),
            f"  trial {top.id} #{top.sequence} ({self.row.optimize_mode})",
        )
