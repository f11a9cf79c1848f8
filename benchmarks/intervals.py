"""How sure a comparison of medians over seeds is: the ratio of the best of ours to the best of
the references, with a paired bootstrap interval.

Why shared: tuners.py and multifidelity.py both compare the lowest median of a group with the
lowest median of the references, and with a handful of seeds the better-looking one is often
better by chance; each resample takes the best of each group anew, on the same seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Values = np.ndarray[Any, np.dtype[np.float64]]
FLOOR = 1e-12  # a regret of 0 (the optimum hit) would divide by zero


def ratio_of_best(
    ours: Sequence[Values], references: Sequence[Values], resamples: int = 2000
) -> tuple[float, float, float]:
    """min over ours of the median / min over references of the median, and its 95% interval
    from resampling the seeds (paired) `resamples` times; inf when ours has no finite median."""
    n = len(ours[0])
    picks = np.random.default_rng(0).integers(0, n, (resamples, n))

    def best(group: Sequence[Values]) -> Values:
        lowest: Values = np.min([np.median(v[picks], axis=1) for v in group], axis=0)
        return lowest

    with np.errstate(invalid="ignore"):  # inf / inf: neither has a result
        ratios = np.maximum(best(ours), FLOOR) / np.maximum(best(references), FLOOR)
        point = max(min(float(np.median(v)) for v in ours), FLOOR) / max(
            min(float(np.median(v)) for v in references), FLOOR
        )
    low, high = np.percentile(np.nan_to_num(ratios, nan=1.0), [2.5, 97.5])
    return point, float(low), float(high)
