"""What the tuner and assessor know: finished results as losses, learning curves, imported points.

The tuner and assessor see losses (lower is better); `loss()` is the one place a maximised metric
is negated. NNI ran the assessor in its own optimize_mode, so curves may face the other way from
results. Each finished trial is learnt once, and what the tuner was told is returned so the
store can say it: a NaN or a missing final metric teaches nothing and is shown as such.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from nnifc.metrics import default_metric
from nnifc.records import Params, Result, TrialStatus
from nnifc.space import SearchSpace
from nnifc.store import Store, TrialRow


def loss(value: float, optimize_mode: str) -> float:
    return -value if optimize_mode == "maximize" else value


class Knowledge:
    def __init__(
        self,
        mode: str,
        curve_mode: str,
        *,
        include_intermediate: bool,
        added_keys: frozenset[str] = frozenset(),
        learns_unfinished: bool = False,
    ) -> None:
        self.mode, self.curve_mode = mode, curve_mode
        self.added_keys = added_keys  # the tuner's own keys: no search space has them
        self.learns_unfinished = learns_unfinished
        # set once `nnifc update` replaced the search space: results from before must fit it
        self.space: SearchSpace | None = None
        self.include_intermediate = include_intermediate
        self.results: list[Result] = []
        self.finished_curves: list[list[float]] = []  # of SUCCEEDED trials, as the assessor sees
        self.imported_upto = 0  # the last imported point learnt

    def curve(self, values: Sequence[float | None]) -> list[float]:
        """A learning curve as the assessor sees it."""
        return [loss(v, self.curve_mode) for v in values if v is not None and math.isfinite(v)]

    def curve_point(self, value: float) -> float:
        return loss(value, self.curve_mode)

    def fits(self, params: Params) -> bool:
        """Whether the tuner can read these parameters (a new search space may drop some)."""
        return self.space is None or self.space.contains(self._searched(params))

    def learn_imported(self, store: Store) -> None:
        """Points added with `nnifc import`, also while the loop runs."""
        for position, params, value in store.imported(self.imported_upto):
            self._add(Result(params, loss(value, self.mode)))
            self.imported_upto = position

    def keep_fitting(self, space: SearchSpace) -> None:
        """A new search space: only the results that fit it stay, and only those are added."""
        self.space = space
        self.results = [r for r in self.results if space.contains(self._searched(r.params))]

    def _searched(self, params: Params) -> Params:
        return {k: v for k, v in params.items() if k not in self.added_keys}

    def _add(self, result: Result) -> None:
        if self.fits(result.params):
            self.results.append(result)

    def learn(self, trial: TrialRow) -> tuple[str, float | None, str]:
        """Learn a finished trial; returns what the tuner was told (final, intermediate, failure,
        nothing), the value it was given, and what a SUCCEEDED trial's message should say.

        A tuner that `learns_unfinished` is told "failure" where others are told nothing."""
        told, value, message = self._learn(trial)
        if told == "nothing" and self.learns_unfinished:
            self._add(Result(trial.params, math.inf))
            return "failure", None, message
        return told, value, message

    def _learn(self, trial: TrialRow) -> tuple[str, float | None, str]:
        if trial.status is TrialStatus.SUCCEEDED:
            self.finished_curves.append(self.curve(trial.intermediate))
        if trial.status is TrialStatus.FAILED:
            # the worst possible loss: models learn to avoid it, grids do not run it again
            self._add(Result(trial.params, math.inf))
            return "failure", None, ""
        if trial.status not in (TrialStatus.SUCCEEDED, TrialStatus.EARLY_STOPPED):
            return "nothing", None, ""
        told, value = "final", trial.final
        if (
            value is None
            and trial.final_raw is None
            and trial.intermediate
            and self.include_intermediate
        ):
            told, value = "intermediate", trial.intermediate[-1]
        if value is not None and math.isfinite(value):
            self._add(Result(trial.params, loss(value, self.mode)))
            return told, value, ""
        if trial.final_raw is None:
            return "nothing", None, "exited 0 without a final metric"
        value = default_metric(trial.final_raw)  # SQLite keeps NaN as NULL: read what was said
        if value is None:
            return "nothing", None, f"final metric has no numeric default: {trial.final_raw[:200]}"
        shown = "NaN" if math.isnan(value) else str(value)  # inf or -inf otherwise
        return "nothing", None, f"final metric is {shown}"
