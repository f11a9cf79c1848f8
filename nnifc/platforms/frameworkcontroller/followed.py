"""A trial as the FrameworkController platform follows it: its Framework and its outputs.

Why apart: what the watch last said of the Framework, the task outputs held open on the storage
and what they have said so far (metrics, the last plain line for a failure message) are one
trial's state; the platform decides when to look, this turns a look into events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nnifc.metrics import OutputTail, metric_event, parse_line, skipped_metric
from nnifc.records import StatusChanged, TrialEvent, TrialStatus
from nnifc.storage.base import FileReader

LAST_LINE_CHARS = 300


@dataclass
class FollowedTrial:
    trial_id: str
    name: str  # its Framework's
    readers: dict[str, FileReader]  # each task's output, held while the trial runs
    submitted: float
    status: TrialStatus = TrialStatus.WAITING
    raw: dict[str, Any] | None = None  # the Framework as the watch last passed it on
    gone: bool = False
    read_at: float = 0.0
    probed_at: float = 0.0
    reason: str = ""
    last_lines: dict[str, str] = field(default_factory=dict)
    final_seen: bool = False
    adopted: bool = False  # from an earlier launcher: a list that lacks it means it is gone
    note: str = ""  # kept in its final message (a metric line skipped)
    ended_at: float | None = None  # when its end was seen; told once its outputs are read
    tails: dict[str, OutputTail] = field(init=False)

    def __post_init__(self) -> None:
        self.tails = {task: OutputTail(reader.read) for task, reader in self.readers.items()}

    def read(self, *, final: bool, into: list[TrialEvent] | None = None) -> list[TrialEvent]:
        """The metrics the tasks printed since the last read (all of them, with `final`), added
        to `into` as they are read: those read before a failure are kept there."""
        events: list[TrialEvent] = [] if into is None else into
        for task, tail in self.tails.items():
            for line in tail.lines(final=final):
                event = metric_event(self.trial_id, task, line)
                skipped = skipped_metric(task, line)
                if event is not None:
                    events.append(event)
                    self.final_seen = self.final_seen or event.final
                elif skipped is not None:  # told as news of its current status, and at its end
                    events.append(StatusChanged(self.trial_id, self.status, skipped))
                    self.note = skipped
                elif line.text.strip() and parse_line(line.text) is None:
                    self.last_lines[task] = line.text.strip()[:LAST_LINE_CHARS]
        return events

    def with_output(self, message: str) -> str:
        """A failure message with the failed task's last plain output line (or any task's)."""
        task = (
            message.split(":", 1)[0].removeprefix("task ") if message.startswith("task ") else None
        )
        line = self.last_lines.get(task or "") or next(iter(self.last_lines.values()), "")
        return f"{message}; last output: {line}" if line else message

    def close(self) -> None:
        for reader in self.readers.values():
            reader.close()
