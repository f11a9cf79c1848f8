"""What the store hands out: an experiment's row and its trials', as frozen values.

Apart from the store so that views, summaries and budgets can name them without the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nnifc.records import ExperimentStatus, TrialStatus


@dataclass(frozen=True)
class ExperimentRow:
    id: str
    name: str
    platform: str
    config_path: str
    config_text: str
    space_text: str
    seed: int
    optimize_mode: str
    max_trials: int
    max_seconds: int
    status: ExperimentStatus
    started: float
    ended: float | None
    pid: int | None
    stop_requested: bool
    message: str
    options: str = "{}"  # JSON of the platform options given to create (context, namespace)
    heartbeat: float | None = None  # when the loop last said it was alive
    reason: str = ""  # why it ended (or is winding down): budget, exhausted, stopped, failed
    paused: float = 0.0  # seconds no loop ran (after a launcher died): not spent of the budget
    concurrency: int = 1  # trialConcurrency as it is now (`nnifc update` changes it)
    settings: str = ""  # JSON of the platform's settings, from create; "" before they were kept


@dataclass(frozen=True)
class TrialRow:
    id: str
    sequence: int
    parameter_id: int
    params: dict[str, Any]
    status: TrialStatus
    handle: str | None
    created: float
    started: float | None
    ended: float | None
    exit_code: int | None
    message: str
    final: float | None
    final_raw: str | None
    intermediate: tuple[float | None, ...]
    told: str | None = None  # what the tuner learnt: final, intermediate, failure or nothing
    told_value: float | None = None  # the metric it was given (None for failure and nothing)
