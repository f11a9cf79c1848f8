"""The JSON documents behind the pages: experiments list, overview, trials table, one trial.

Numbers that JSON cannot carry (NaN, inf) are null; times are epoch seconds (the browser shows
them in its own time zone). Nested parameters (a `choice` of dicts) are flattened to dotted
names, so every table column and plot axis is one scalar. Strings go out as they are stored:
the browser shows them as text.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from nnifc import launcher
from nnifc.budget import NO_LIMIT_SECONDS
from nnifc.header import NO_LIMIT_TRIALS, eta_seconds, time_spent
from nnifc.records import TrialStatus
from nnifc.rows import ExperimentRow, TrialRow
from nnifc.stages import BUDGET_KEY, stages
from nnifc.view import best
from nnifc.web.reader import Snapshot
from nnifc.web.redact import config_entries


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"opt": {"_name": "adam", "lr": 0.1}} -> {"opt._name": "adam", "opt.lr": 0.1}."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, float):
            flat[name] = finite(value)
        elif value is None or isinstance(value, int | str | bool):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def duration(t: TrialRow, now: float) -> float | None:
    return None if t.started is None else (t.ended or now) - t.started


def progress(row: ExperimentRow, status: str, trials: Sequence[TrialRow]) -> dict[str, Any]:
    """Trials finished of maxTrialNum and seconds spent of maxExecDuration, with the ETA."""
    now = time.time()
    counts = Counter(t.status for t in trials)
    top = best(trials, row.optimize_mode)
    return {
        "finished": sum(n for s, n in counts.items() if s.final),
        "failed": counts[TrialStatus.FAILED],
        "running": counts[TrialStatus.RUNNING],
        "waiting": counts[TrialStatus.WAITING],
        "maxTrials": row.max_trials if row.max_trials < NO_LIMIT_TRIALS else None,
        "spent": time_spent(row, now),
        "maxSeconds": row.max_seconds if row.max_seconds < NO_LIMIT_SECONDS else None,
        "eta": eta_seconds(row, status, trials, now),
        "best": {"id": top.id, "sequence": top.sequence, "value": finite(top.final)}
        if top
        else None,
    }


def experiment_summary(snapshot: Snapshot) -> dict[str, Any]:
    """One line of the experiments list."""
    row = snapshot.row
    status = launcher.effective_status(row)
    return {
        "id": row.id,
        "name": row.name,
        "platform": row.platform,
        "status": status,
        "reason": row.reason,
        "message": row.message,
        "optimizeMode": row.optimize_mode,
        "started": row.started,
        "ended": row.ended,
        "duration": (row.ended or time.time()) - row.started,
        "progress": progress(row, status, snapshot.trials),
    }


def overview(snapshot: Snapshot) -> dict[str, Any]:
    """The experiment page's header: the summary, the best trial's parameters, the config."""
    document = experiment_summary(snapshot)
    top = document["progress"]["best"]
    if top is not None:
        top["params"] = flatten(snapshot.trial(top["id"]).params)
    row = snapshot.row
    document.update(
        version=snapshot.version,
        concurrency=row.concurrency,
        imported=snapshot.imported,
        config=config_entries(row.config_text),
        configPath=row.config_path,
    )
    return document


def trials_table(snapshot: Snapshot) -> dict[str, Any]:
    """Every trial as a row of scalars; the browser sorts, filters and pages it."""
    now = time.time()
    rows = [_trial_row(t, now) for t in snapshot.trials]
    names: dict[str, None] = {}
    for r in rows:
        names.update(dict.fromkeys(r["params"]))
    found = stages([t.params for t in snapshot.trials])
    for r, stage in zip(rows, found, strict=True):
        if stage.budget is not None:
            r["budget"], r["rung"] = r["params"][BUDGET_KEY], stage.rung
        if stage.generation is not None:
            r["generation"] = stage.generation
    return {
        "version": snapshot.version,
        "optimizeMode": snapshot.row.optimize_mode,
        "params": list(names),
        "budgets": any(stage.budget is not None for stage in found),
        "generations": any(stage.generation is not None for stage in found),
        "rows": rows,
    }


def _trial_row(t: TrialRow, now: float) -> dict[str, Any]:
    params = flatten(t.params)
    row: dict[str, Any] = {
        "id": t.id,
        "sequence": t.sequence,
        "status": t.status.value,
        "final": finite(t.final),
        "latest": next((finite(v) for v in reversed(t.intermediate) if v is not None), None),
        "steps": len(t.intermediate),
        "started": t.started,
        "ended": t.ended,
        "duration": duration(t, now),
        "message": t.message,
        "params": params,
    }
    return row


def trial_detail(snapshot: Snapshot, trial_id: str) -> dict[str, Any]:
    """One trial: parameters, every metric, its message and what the tuner learnt."""
    t = snapshot.trial(trial_id)
    document = _trial_row(t, time.time())
    document.update(
        experiment=snapshot.row.id,
        rawParams=t.params,
        intermediate=[finite(v) for v in t.intermediate],
        finalRaw=t.final_raw,
        exitCode=t.exit_code,
        created=t.created,
        told=t.told,
        toldValue=finite(t.told_value),
    )
    return document
