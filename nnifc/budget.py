"""When an experiment must stop starting trials or end, and the words that say why.

The budgets are read from the store, not the config: `nnifc update` changes them while the loop
runs. Failures are judged the way an engineer would: the first max(3, trialConcurrency) trials
all failing means the command is broken, and `maxFailedTrialNum` (Katib's maxFailedTrialCount)
caps how many may fail in all. Pure: the scheduler passes in what it knows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nnifc.records import TrialStatus
from nnifc.store import ExperimentRow

NO_LIMIT_SECONDS = 999 * 86400  # maxExecDuration's default, 999d
FIRST_TRIALS_AT_LEAST = 3


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def duration_text(seconds: float) -> str:
    """Seconds as a config would write them: 90 -> 1m30s."""
    whole, parts = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    if whole or not parts:
        parts.append(f"{whole}s")
    return "".join(parts)


@dataclass(frozen=True)
class Budget:
    """The experiment's budgets as they are now."""

    max_trials: int
    max_seconds: int
    concurrency: int
    started: float
    paused: float  # seconds no loop ran: not spent

    @classmethod
    def of(cls, row: ExperimentRow) -> Budget:
        return cls(row.max_trials, row.max_seconds, row.concurrency, row.started, row.paused)

    def spent_seconds(self, now: float) -> float:
        return max(0.0, now - self.started - self.paused)

    def exhausted_by(self, n_trials: int, now: float) -> str | None:
        """Why no further trial may start, or None while one may."""
        if n_trials >= self.max_trials:
            return f"maxTrialNum reached ({plural(self.max_trials, 'trial')})"
        if self.spent_seconds(now) >= self.max_seconds:
            return f"maxExecDuration reached ({duration_text(self.max_seconds)})"
        return None


@dataclass
class Failures:
    """The experiment's failed trials, and whether they are reason enough to end it."""

    max_failed: int | None  # maxFailedTrialNum
    since: int = 0  # trials before this sequence do not count (failed before a resume)
    first_failure: str = ""
    failed: int = 0
    ended: int = 0
    failed_by_sequence: dict[int, bool] = field(default_factory=dict)

    def note(self, sequence: int, status: TrialStatus, message: str) -> None:
        if sequence < self.since:
            return
        self.ended += 1
        failed = status is TrialStatus.FAILED
        if failed:
            self.failed += 1
            if not self.first_failure:
                self.first_failure = message or "no message"
        self.failed_by_sequence[sequence] = failed

    def verdict(self, first: int, *, ended: bool = False) -> str | None:
        """Why the experiment fails, or None while it may go on: the `first` trials all failed,
        maxFailedTrialNum trials failed, or (`ended`: no trial may start) every trial failed."""
        window = [self.failed_by_sequence.get(s) for s in range(self.since, self.since + first)]
        all_failed = ended and self.ended > 0 and self.failed == self.ended
        if all_failed or (first > 0 and all(window)):
            return f"{self.failed} of {plural(self.ended, 'trial')} FAILED; first: {self.first_failure}"
        if self.max_failed is not None and self.failed > 0 and self.failed >= self.max_failed:
            return (
                f"{plural(self.failed, 'trial')} FAILED (maxFailedTrialNum is {self.max_failed});"
                f" first: {self.first_failure}"
            )
        return None
