"""The typed records that flow one way: launcher -> platform -> events -> store -> views.

Everything here is frozen. Platforms turn what they see into TrialEvents; the scheduler turns
events into store writes; tuners and assessors only ever see Results and loss curves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeAlias

from nnifc.errors import PlatformError

Params: TypeAlias = Mapping[str, Any]


class TrialStatus(StrEnum):
    WAITING = "WAITING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    USER_CANCELED = "USER_CANCELED"
    EARLY_STOPPED = "EARLY_STOPPED"
    SYS_CANCELED = "SYS_CANCELED"

    @property
    def final(self) -> bool:
        return self not in (TrialStatus.WAITING, TrialStatus.RUNNING)

    @property
    def stopped(self) -> bool:
        """Ended by a stop rather than on its own."""
        return self in (
            TrialStatus.EARLY_STOPPED,
            TrialStatus.USER_CANCELED,
            TrialStatus.SYS_CANCELED,
        )


class ExperimentStatus(StrEnum):
    RUNNING = "RUNNING"
    NO_MORE_TRIAL = "NO_MORE_TRIAL"  # budget spent, waiting for running trials to finish
    DONE = "DONE"  # the budget was spent, or the search space exhausted
    STOPPED = "STOPPED"  # by the user
    FAILED = "FAILED"  # the trials failed: the first ones all, or maxFailedTrialNum of them
    ERROR = "ERROR"  # the launcher itself failed

    @property
    def final(self) -> bool:
        return self not in (ExperimentStatus.RUNNING, ExperimentStatus.NO_MORE_TRIAL)


@dataclass(frozen=True)
class TrialSpec:
    """What a platform needs to start one trial."""

    experiment_id: str
    trial_id: str
    sequence: int
    parameter_id: int
    params: Params


@dataclass(frozen=True)
class Result:
    """One finished trial as a tuner sees it: its parameters and an oriented loss (lower is better)."""

    params: Params
    loss: float


@dataclass(frozen=True)
class StatusChanged:
    trial_id: str
    status: TrialStatus
    message: str = ""
    exit_code: int | None = None
    ended: float | None = None  # when it ended (time.time()), if before it was reported


@dataclass(frozen=True)
class MetricReported:
    """One `NNISDK_MEb'...'` line a task printed, identified by where it was printed."""

    trial_id: str
    task: str  # "<role>_<index>"
    offset: int  # byte offset of the line in the task's output: the metric's identity
    final: bool
    value: float | None  # the default metric; None when it has no numeric default
    raw: str  # the reported value as the trial serialised it


TrialEvent: TypeAlias = StatusChanged | MetricReported


@dataclass(frozen=True)
class Started:
    """A start that finished: the trial's handle, or the error the platform refused it with."""

    trial_id: str
    outcome: str | PlatformError
