"""Stopping one trial truthfully: recorded before the platform is told, and undone when the
trial had ended on its own first.

A stop (the assessor's, maxTrialDuration's, `nnifc kill`'s) can race the trial's own end: it
prints its final metric and exits 0 between the decision and the stop landing. After the stop,
the trial's outputs are read once more; when the task that reported the final metric had exited
0 on its own, the trial SUCCEEDED. The loop and `nnifc kill` (with no loop running) share this.
"""

from __future__ import annotations

import contextlib
from typing import Any

from nnifc.errors import NnifcError, PlatformError
from nnifc.platforms import Platform
from nnifc.records import MetricReported, TrialStatus
from nnifc.store import Store

ENDED_BEFORE_STOP = "ended on its own with its final metric before the stop landed"


def stop_trial(
    store: Store,
    platform: Platform[Any],
    trial_id: str,
    handle: str,
    status: TrialStatus,
    message: str,
) -> list[MetricReported]:
    """Stop a live trial as `status` (or SUCCEEDED, see above); returns the metrics the last
    look found, for the caller to record as it records any (the store ignores repeats)."""
    store.set_status(trial_id, status, message=message)
    store.commit()  # recorded before the platform is told (the caller may be in a batch)
    with contextlib.suppress(PlatformError):  # recorded as stopped; `nnifc stop` tries again
        platform.cancel(trial_id, handle)
    found: list[MetricReported] = []
    with contextlib.suppress(NnifcError):  # unreadable now: the stop stands
        found = platform.final_metrics(trial_id)
        final = next((m for m in found if m.final), None)
        if final is not None and platform.exit_code(trial_id, final.task) == 0:
            store.undo_stop(trial_id, ENDED_BEFORE_STOP)
    return found


def record(store: Store, metrics: list[MetricReported]) -> None:
    """Metrics read by a last look, recorded as the loop would: the first final is the result,
    intermediates count for the task whose curve the trial already has (or the first)."""
    if not metrics:
        return
    curve_task = store.curve_task(metrics[0].trial_id)
    for metric in metrics:
        counted = metric.final or curve_task in (None, metric.task)
        if counted and not metric.final:
            curve_task = metric.task
        store.add_metric(metric, counted=counted)
