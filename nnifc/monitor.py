"""What `create` shows while its loop runs: a live view on a terminal, plain lines otherwise.

The scheduler calls `update()` after every loop turn. Plain mode reads only the statuses of
trials from the oldest one not yet final, and prints, one line each, the trials whose status
changed, so its cost follows the trials running, not the experiment's length; the live table
needs every trial. Either way the next update waits at least twenty times as long as this one
took, so reading the store stays under a twentieth of the loop's time.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.live import Live

from nnifc.launcher import effective_status
from nnifc.live_view import LiveView
from nnifc.records import TrialStatus
from nnifc.store import Store
from nnifc.trials_view import trial_line

REFRESH_SECONDS = 0.5
BUDGET = 20  # the next update waits at least 20x as long as this one took
OUTCOME_LINES = 4  # what `create` prints under the last view: the end, counts, best (2 lines)


class Monitor:
    def __init__(self, store: Store, console: Console) -> None:
        self.store, self.console = store, console
        self.live: Live | None = None
        self.seen: dict[str, str] = {}
        self.first_open = 0  # trials before this sequence are final: never read again
        self.last = 0.0
        self.interval = REFRESH_SECONDS

    def __enter__(self) -> Monitor:
        if self.console.is_terminal:
            self.live = Live(console=self.console, auto_refresh=False, transient=False)
            self.live.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.update(force=True, leave=OUTCOME_LINES)
        if self.live is not None:
            self.live.__exit__(kind, error, tb)

    def update(self, *, force: bool = False, leave: int = 0) -> None:
        """Show the experiment now (`force`) or when due; `leave` lines free under the view."""
        now = time.monotonic()
        if not force and now - self.last < self.interval:
            return
        self.last = now
        if self.live is not None:
            row, trials = self.store.experiment(), self.store.trials()
            # read each time: the terminal may be resized
            height = max(1, self.console.size.height - leave)
            self.live.update(
                LiveView(row, effective_status(row), trials, height=height), refresh=True
            )
            self.interval = max(REFRESH_SECONDS, BUDGET * (time.monotonic() - now))
            return
        lines = []
        first_open: int | None = None
        rows = self.store.statuses(self.first_open)
        for trial_id, sequence, status in rows:
            if self.seen.get(trial_id) != status:
                self.seen[trial_id] = status
                lines.append(trial_line(self.store.trial(trial_id)) + "\n")
            if first_open is None and not TrialStatus(status).final:
                first_open = sequence
        if first_open is None:
            first_open = rows[-1][1] + 1 if rows else self.first_open
        self.first_open = first_open
        if lines:  # as written: a parameter like "[red]" is text, not console markup
            self.console.file.write("".join(lines))
            self.console.file.flush()
        self.interval = max(REFRESH_SECONDS, BUDGET * (time.monotonic() - now))
