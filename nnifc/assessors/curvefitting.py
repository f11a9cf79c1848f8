"""Learning-curve extrapolation (Domhan et al., IJCAI 2015), with NNI's Curvefitting classArgs.

From `start_step` results on, and then every `gap` results, the curve so far is extrapolated to
`epoch_num` and the trial stops if that prediction is worse than the best final loss of the
succeeded trials by more than `threshold` allows. NNI compares accuracies, `predicted <
threshold * best`; on losses that is `predicted > best + (1 - threshold) * |best|` for negated
(maximised) metrics and `predicted > best / threshold` for positive losses. NNI samples an ensemble
of 12 curve families by MCMC; this fits two saturating families (power law, exponential) by least
squares over a grid of rates and keeps the one whose fit to the first 70% of the curve best
predicts the rest, which is cheap enough to run at every step. Without a succeeded trial, or when no family fits, the trial continues.

    assessor:
      builtinAssessorName: Curvefitting
      classArgs: {epoch_num: 20, start_step: 6, threshold: 0.95, gap: 1}
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from nnifc.assessors.base import Assessor, AssessorOptions, Verdict

_RATES = np.geomspace(0.02, 3.0, 24)


class CurvefittingOptions(AssessorOptions):
    epoch_num: int = Field(ge=1)
    start_step: int = Field(default=6, ge=0, le=9999)
    threshold: float = Field(default=0.95, gt=0, le=9999)
    gap: int = Field(default=1, ge=1, le=9999)


class CurvefittingAssessor(Assessor):
    name = "Curvefitting"
    default_optimize_mode = "maximize"  # NNI's takes no optimize_mode: it compares accuracies
    Options = CurvefittingOptions
    options: CurvefittingOptions  # what the loader validated with Options

    def assess(self, curve: Sequence[float], finished: Sequence[Sequence[float]]) -> Verdict:
        step, start = len(curve), self.options.start_step
        finals = [c[-1] for c in finished if c]
        if not finals or step < max(start, 3) or (step - start) % self.options.gap:
            return Verdict.CONTINUE
        predicted = extrapolate(curve, self.options.epoch_num)
        if predicted is None:
            return Verdict.CONTINUE
        best, threshold = min(finals), self.options.threshold
        limit = best + (1 - threshold) * abs(best) if best < 0 else best / threshold
        return Verdict.STOP if predicted > limit else Verdict.CONTINUE


def extrapolate(curve: Sequence[float], epoch: int) -> float | None:
    """The loss at `epoch` (1-based) predicted from `curve`, or None if no family fits."""
    y = np.asarray(curve, dtype=np.float64)
    t = np.arange(1, len(y) + 1, dtype=np.float64)
    if not np.isfinite(y).all():
        return None
    if epoch <= len(y):
        return float(y[epoch - 1])
    if len(y) < 4:
        return None
    head = math.ceil(0.7 * len(y))  # families are judged by how well the head predicts the tail
    best: tuple[float, float] | None = None
    for rate in map(float, _RATES):
        for power in (True, False):
            at = np.array([float(epoch)])
            _, tail = _linear_fit(
                _basis(t[:head], rate, power), y[:head], _basis(t[head:], rate, power)
            )
            error, prediction = _linear_fit(_basis(t, rate, power), y, _basis(at, rate, power))
            score = error + float(((tail - y[head:]) ** 2).sum())
            if (
                math.isfinite(score)
                and math.isfinite(prediction[0])
                and (best is None or score < best[0])
            ):
                best = (score, float(prediction[0]))
    return None if best is None else best[1]


def _basis(t: NDArray[np.float64], rate: float, power: bool) -> NDArray[np.float64]:
    return t**-rate if power else np.exp(-rate * t)


def _linear_fit(
    x: NDArray[np.float64], y: NDArray[np.float64], at: NDArray[np.float64]
) -> tuple[float, NDArray[np.float64]]:
    """Least squares for y = a + b x; returns (squared error, a + b at)."""
    design = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    error = float(((design @ coef - y) ** 2).sum())
    return error, coef[0] + coef[1] * at
