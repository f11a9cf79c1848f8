"""The `status --json` document: one experiment as data for scripts, its shape in a JSON Schema.

The shape is a promise (`nnifc/schemas/status.schema.json`, tested against every `--json`
output): fields are added, never renamed or removed. Non-finite numbers are null in JSON, so a
trial's `finalRaw` and `tuner` say what it actually reported and what the tuner was told.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from nnifc.stages import BUDGET_KEY, Stage, stages
from nnifc.store import ExperimentRow, TrialRow
from nnifc.view import best, iso


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def trial_json(t: TrialRow, stage: Stage | None = None) -> dict[str, Any]:
    stage = stage or Stage()
    return {
        "id": t.id,
        "sequence": t.sequence,
        "status": t.status.value,
        "parameters": t.params,
        "intermediate": [_finite(v) for v in t.intermediate],
        "final": _finite(t.final),
        "finalRaw": t.final_raw,
        "started": iso(t.started),
        "ended": iso(t.ended),
        "exitCode": t.exit_code,
        "message": t.message,
        "tuner": {"told": t.told, "value": _finite(t.told_value)} if t.told else None,
        "budget": t.params.get(BUDGET_KEY) if stage.budget is not None else None,
        "rung": stage.rung,
        "generation": stage.generation,
    }


def experiment_json(
    row: ExperimentRow,
    status: str,
    trials: Sequence[TrialRow],
    counters: dict[str, float] | None = None,
    *,
    imported: int = 0,
) -> dict[str, Any]:
    top = best(trials, row.optimize_mode)
    return {
        "id": row.id,
        "name": row.name,
        "platform": row.platform,
        "status": status,
        "reason": row.reason or None,
        "message": row.message or None,
        "started": iso(row.started),
        "ended": iso(row.ended),
        "optimizeMode": row.optimize_mode,
        "budget": {
            "maxTrialNum": row.max_trials,
            "maxExecSeconds": row.max_seconds,
            "trialConcurrency": row.concurrency,
            "pausedSeconds": round(row.paused, 3),
        },
        "imported": imported,
        "best": {"trial": top.id, "value": _finite(top.final)} if top else None,
        "stats": {name: round(value, 6) for name, value in sorted((counters or {}).items())},
        "trials": [
            trial_json(t, stage)
            for t, stage in zip(trials, stages([t.params for t in trials]), strict=True)
        ],
    }
