"""Medianstop's exact rule and its safety properties; Curvefitting's basic behaviour."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from nnifc.assessors import ASSESSORS, Assessor, Verdict
from nnifc.assessors.curvefitting import extrapolate

CONTINUE, STOP = Verdict.CONTINUE, Verdict.STOP


def medianstop(start_step: int = 0) -> Assessor:
    cls = ASSESSORS["Medianstop"]
    return cls(cls.Options.model_validate({"start_step": start_step}))


def curvefitting(**options: Any) -> Assessor:
    cls = ASSESSORS["Curvefitting"]
    return cls(cls.Options.model_validate(options))


@pytest.mark.parametrize(
    ("start_step", "curve", "finished", "verdict"),
    [
        # no results yet, or before start_step: always continue
        (0, [], [[0.0, 0.0]], CONTINUE),
        (3, [9.0, 9.0], [[0.0, 0.0, 0.0]], CONTINUE),
        (3, [9.0, 9.0, 9.0], [[0.0, 0.0, 0.0]], STOP),
        # no succeeded trial has reached this step: continue
        (0, [9.0], [], CONTINUE),
        (0, [9.0, 9.0, 9.0], [[0.0, 0.0]], CONTINUE),
        # strictly worse than the median stops; equal continues
        (0, [2.0], [[2.0]], CONTINUE),
        (0, [2.0001], [[2.0]], STOP),
        # the trial's best so far counts, not its latest value
        (0, [1.0, 5.0], [[1.5, 1.5]], CONTINUE),
        # running averages over the first `step` values of the finished curves
        (0, [4.0], [[10.0, 0.0, 0.0]], CONTINUE),
        (0, [6.0, 6.0], [[10.0, 0.0, 0.0]], STOP),
        (0, [4.9, 6.0], [[10.0, 0.0, 0.0]], CONTINUE),
        # odd count: averages [1, 2, 3], median 2
        (0, [2.0], [[3.0], [1.0], [2.0]], CONTINUE),
        (0, [2.5], [[3.0], [1.0], [2.0]], STOP),
        # even count: averages [1, 2, 3, 4], the median is avg[n // 2] = 3 (NNI's, for losses)
        (0, [2.5], [[4.0], [1.0], [3.0], [2.0]], CONTINUE),
        (0, [3.0], [[4.0], [1.0], [3.0], [2.0]], CONTINUE),
        (0, [3.5], [[4.0], [1.0], [3.0], [2.0]], STOP),
        # trials that finished with fewer results than this step are ignored
        (0, [5.0, 5.0], [[0.0], [9.0, 9.0]], CONTINUE),
    ],
)
def test_medianstop_rule(
    start_step: int, curve: list[float], finished: list[list[float]], verdict: Verdict
) -> None:
    assert medianstop(start_step).assess(curve, finished) == verdict


losses = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
curves = st.lists(losses, min_size=1, max_size=12)


@given(curve=curves, finished=st.lists(curves, max_size=8), start_step=st.integers(0, 15))
def test_medianstop_never_stops_before_start_step(
    curve: list[float], finished: list[list[float]], start_step: int
) -> None:
    if len(curve) < start_step:
        assert medianstop(start_step).assess(curve, finished) == CONTINUE


@given(
    finished=st.lists(curves, max_size=8),
    margins=st.lists(st.floats(min_value=0, max_value=1e3), min_size=1, max_size=12),
    start_step=st.integers(0, 3),
)
def test_medianstop_never_stops_the_best_curve(
    finished: list[list[float]], margins: list[float], start_step: int
) -> None:
    """A curve at or below every finished curve at every step is never stopped, at any step."""
    best = []
    for step, margin in enumerate(margins):
        values = [c[step] for c in finished if len(c) > step]
        best.append(min(values, default=0.0) - margin)
    assessor = medianstop(start_step)
    for step in range(1, len(best) + 1):
        assert assessor.assess(best[:step], finished) == CONTINUE


def test_medianstop_defaults() -> None:
    options = ASSESSORS["Medianstop"].Options()
    assert options.start_step == 0  # type: ignore[attr-defined]
    with pytest.raises(ValidationError):
        ASSESSORS["Medianstop"].Options.model_validate({"start_step": -1})


def converging(final: float, n: int, start: float = 2.0) -> list[float]:
    return [final + (start - final) * (t + 1) ** -0.8 for t in range(n)]


def test_curvefitting_stops_a_curve_heading_far_above_the_best() -> None:
    finished = [converging(0.2, 20)]
    assert curvefitting(epoch_num=20).assess(converging(1.0, 8, start=3.0), finished) == STOP


def test_curvefitting_continues_a_curve_heading_to_the_best() -> None:
    finished = [converging(0.5, 20)]
    assert curvefitting(epoch_num=20).assess(converging(0.3, 8, start=3.0), finished) == CONTINUE


def test_curvefitting_waits_for_start_step_gap_and_a_finished_trial() -> None:
    finished = [converging(0.2, 20)]
    bad = converging(1.0, 12, start=3.0)
    assessor = curvefitting(epoch_num=20, start_step=6, gap=3)
    assert assessor.assess(bad, []) == CONTINUE
    verdicts = [assessor.assess(bad[:step], finished) for step in range(1, 13)]
    judged = [step for step, v in enumerate(verdicts, start=1) if v == STOP]
    assert judged == [6, 9, 12]


def test_curvefitting_threshold_on_negated_metrics() -> None:
    """Accuracy 0.9 is loss -0.9; with threshold 0.95 a predicted accuracy under 0.855 stops."""
    finished = [[-0.9] * 10]
    assessor = curvefitting(epoch_num=10, start_step=4)
    assert assessor.assess([-0.84] * 6, finished) == STOP
    assert assessor.assess([-0.86] * 6, finished) == CONTINUE


def test_extrapolate_recovers_saturating_curves() -> None:
    power = [0.5 + 2 * t**-0.7 for t in range(1, 11)]
    assert extrapolate(power, 50) == pytest.approx(0.5 + 2 * 50**-0.7, abs=0.05)
    exponential = [0.3 + math.exp(-0.3 * t) for t in range(1, 11)]
    assert extrapolate(exponential, 50) == pytest.approx(0.3, abs=0.05)
    assert extrapolate([1.0, 0.5], 50) is None


@pytest.mark.parametrize(
    "options",
    [{}, {"epoch_num": 0}, {"epoch_num": 20, "gap": 0}, {"epoch_num": 20, "threshold": -1.0},
     {"epoch_num": 20, "start_step": "6"}, {"epoch_num": 20, "unknown": 1}],
)  # fmt: skip
def test_curvefitting_bad_class_args(options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ASSESSORS["Curvefitting"].Options.model_validate(options)


def test_curvefitting_defaults_follow_nni() -> None:
    options = ASSESSORS["Curvefitting"].Options.model_validate({"epoch_num": 20})
    assert (options.start_step, options.threshold, options.gap) == (6, 0.95, 1)  # type: ignore[attr-defined]
