"""The data behind each plot, cut on the server to what a browser draws in well under 2 s.

At 10,000 trials x 20 results, sending every point makes a page of megabytes and a plot of
200,000 points. So: learning curves of the best N trials (plus the ones asked for and the
running ones) at most CURVE_POINTS each; parallel coordinates of the best and an even sample
of the rest; history and durations evenly thinned, never dropping a point where the best so
far improved. Each document says how many it shows of how many.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

from nnifc.records import TrialStatus
from nnifc.rows import TrialRow
from nnifc.view import RESULTS
from nnifc.web.documents import duration, finite, flatten
from nnifc.web.reader import Snapshot

CURVE_POINTS = 200
CURVES_DEFAULT, CURVES_MAX = 50, 500
RUNNING_CURVES = 20
LINES_MAX = 1000  # parallel coordinates
POINTS_MAX = 2000  # history: an SVG plot (WebGL takes seconds to start with no GPU)
DURATIONS_MAX = 1000  # two plots of them


def scored(trials: Iterable[TrialRow]) -> list[TrialRow]:
    return [t for t in trials if t.status in RESULTS and finite(t.final) is not None]


def ranked(trials: Iterable[TrialRow], optimize_mode: str) -> list[TrialRow]:
    """Scored trials, best first."""
    sign = -1.0 if optimize_mode == "maximize" else 1.0
    return sorted(scored(trials), key=lambda t: (sign * (t.final or 0.0), t.sequence))


def thin(count: int, limit: int, keep: Iterable[int] = ()) -> list[int]:
    """Indices 0..count-1, evenly thinned to about `limit`, always with those in `keep`."""
    if count <= limit:
        return list(range(count))
    stride = count / limit
    chosen = {min(count - 1, int(i * stride)) for i in range(limit)} | {count - 1}
    return sorted(chosen | {i for i in keep if 0 <= i < count})


def curves(
    snapshot: Snapshot, top: int = CURVES_DEFAULT, ids: Sequence[str] = ()
) -> dict[str, Any]:
    """Intermediate results: the best `top` trials, those in `ids`, and some running ones."""
    top = max(0, min(top, CURVES_MAX))
    with_curve = [t for t in snapshot.trials if t.intermediate]
    chosen = {t.id: t for t in ranked(with_curve, snapshot.row.optimize_mode)[:top]}
    wanted = set(ids)
    running = [t for t in with_curve if t.status is TrialStatus.RUNNING][-RUNNING_CURVES:]
    for t in [*running, *(t for t in with_curve if t.id in wanted)]:
        chosen.setdefault(t.id, t)
    series = []
    for t in sorted(chosen.values(), key=lambda t: t.sequence):
        steps = thin(len(t.intermediate), CURVE_POINTS)
        series.append(
            {
                "id": t.id,
                "sequence": t.sequence,
                "status": t.status.value,
                "final": finite(t.final),
                "x": steps,
                "y": [finite(t.intermediate[i]) for i in steps],
            }
        )
    return {"total": len(with_curve), "shown": len(series), "top": top, "series": series}


def history(snapshot: Snapshot) -> dict[str, Any]:
    """Each scored trial's final result in the order they were created, and the best so far."""
    maximize = snapshot.row.optimize_mode == "maximize"
    points = scored(snapshot.trials)
    bests: list[float] = []
    improved: list[int] = []
    for i, t in enumerate(points):
        value = t.final or 0.0
        if not bests or (value > bests[-1] if maximize else value < bests[-1]):
            improved.append(i)
            bests.append(value)
        else:
            bests.append(bests[-1])
    kept = thin(len(points), POINTS_MAX, improved)
    return {
        "total": len(points),
        "shown": len(kept),
        "optimizeMode": snapshot.row.optimize_mode,
        "ids": [points[i].id for i in kept],
        "x": [points[i].sequence for i in kept],
        "y": [points[i].final for i in kept],
        "best": [bests[i] for i in kept],
    }


def parallel(snapshot: Snapshot) -> dict[str, Any]:
    """One axis per parameter (numbers as they are, anything else as categories) and the metric."""
    best_first = ranked(snapshot.trials, snapshot.row.optimize_mode)
    keep = thin(len(best_first), LINES_MAX, range(LINES_MAX // 5))
    lines = [best_first[i] for i in keep]
    flat = [flatten(t.params) for t in lines]
    names = list(dict.fromkeys(name for params in flat for name in params))
    axes = []
    for name in names:
        values = [params.get(name) for params in flat]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if numeric:
            axes.append({"name": name, "values": values})
        else:
            categories = sorted({str(v) for v in values})
            index = {c: i for i, c in enumerate(categories)}
            axes.append(
                {
                    "name": name,
                    "values": [index[str(v)] for v in values],
                    "categories": categories,
                }
            )
    return {
        "total": len(best_first),
        "shown": len(lines),
        "ids": [t.id for t in lines],
        "axes": axes,
        "metric": [t.final for t in lines],
    }


def durations(snapshot: Snapshot) -> dict[str, Any]:
    """How long each started trial ran, and when: for the duration and timeline plots."""
    now = time.time()
    started = [t for t in snapshot.trials if t.started is not None]
    kept = [started[i] for i in thin(len(started), DURATIONS_MAX)]
    return {
        "total": len(started),
        "shown": len(kept),
        "experimentStarted": snapshot.row.started,
        "ids": [t.id for t in kept],
        "sequence": [t.sequence for t in kept],
        "status": [t.status.value for t in kept],
        "start": [t.started for t in kept],
        "end": [t.ended or now for t in kept],
        "duration": [_round(duration(t, now)) for t in kept],
    }


def _round(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 3)
