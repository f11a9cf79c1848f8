"""What `create` shows while its loop runs: a live table on a terminal, plain lines otherwise.

The scheduler calls `update()` after every loop turn; redraws are throttled, and in plain mode
only trials whose status changed since the last call are printed, one line each.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.live import Live

from nnifc import view
from nnifc.launcher import effective_status
from nnifc.store import Store

REFRESH_SECONDS = 0.5
ROWS_SHOWN = 20


class Monitor:
    def __init__(self, store: Store, console: Console) -> None:
        self.store, self.console = store, console
        self.live: Live | None = None
        self.seen: dict[str, str] = {}
        self.last = 0.0

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
        self.update(force=True)
        if self.live is not None:
            self.live.__exit__(kind, error, tb)

    def update(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < REFRESH_SECONDS:
            return
        self.last = now
        row, trials = self.store.experiment(), self.store.trials()
        if self.live is not None:
            status = effective_status(row)
            self.live.update(
                view.experiment_view(row, status, trials, limit=ROWS_SHOWN), refresh=True
            )
            return
        for trial in trials:
            if self.seen.get(trial.id) != trial.status.value:
                self.seen[trial.id] = trial.status.value
                self.console.print(view.trial_line(trial), highlight=False, soft_wrap=True)
