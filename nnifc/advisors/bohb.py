"""BOHB (Falkner et al. 2018): Hyperband's brackets, new configs from a density model.

advisor:
  builtinAdvisorName: BOHB
  classArgs: {optimize_mode: maximize, min_budget: 1, max_budget: 27, eta: 3}

NNI's classArgs and defaults (min_points_in_model: parameters + 1, top_n_percent 15,
num_samples 64, random_fraction 1/3, bandwidth_factor 3, min_bandwidth 0.001). A new config is
drawn from the prior with probability random_fraction or while no budget has enough results,
otherwise from the model of the largest budget that has one (`kde.py`). Unlike NNI's BOHB,
which waits for a bracket to end before opening the next, a slot that would be idle opens the
next bracket, as Hyperband's exec_mode parallelism does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, model_validator

from nnifc.advisors import kde
from nnifc.advisors.base import AdvisorOptions, Entry, Finished, Ledger, Schedule, config_of
from nnifc.advisors.hyperband import Hyperband
from nnifc.records import Result
from nnifc.space import SearchSpace


class BohbOptions(AdvisorOptions):
    min_budget: int = Field(default=1, gt=0, le=10**6)
    max_budget: int = Field(default=3, gt=0, le=10**6)
    min_points_in_model: int | None = Field(default=None, ge=0)
    top_n_percent: int = Field(default=15, ge=1, le=99)
    num_samples: int = Field(default=64, ge=1, le=10**5)
    random_fraction: float = Field(default=1 / 3, ge=0, le=1)
    bandwidth_factor: float = Field(default=3.0, gt=0)
    min_bandwidth: float = Field(default=1e-3, gt=0)

    @model_validator(mode="after")
    def _budgets_grow(self) -> BohbOptions:
        if self.max_budget <= self.min_budget:
            raise ValueError(
                f"max_budget ({self.max_budget}) must be larger than min_budget ({self.min_budget})"
            )
        return self


class Bohb(Hyperband):
    name = "BOHB"
    Options = BohbOptions  # type: ignore[assignment]

    def __init__(self, space: SearchSpace, options: BohbOptions) -> None:
        self.space, self.options = space, options
        self.schedule = Schedule.of(options.max_budget, options.eta, options.min_budget)
        self.serial = False
        self.finished = Finished(self.schedule.max_budget)
        self.encoding = kde.Encoding.of(space)
        least = len(space) + 1  # NNI raises a smaller min_points_in_model to this
        self.min_points = max(options.min_points_in_model or least, least)
        self.bohb = options

    def model(self, history: Sequence[Result]) -> kde.Model | None:
        """The model of the largest budget with enough results, as NNI's largest_budget_with_model."""
        ledger = Ledger(self.finished, history, [])
        budgets = sorted({e.budget for e in ledger.entries}, reverse=True)
        for budget in budgets:
            entries = ledger.at(budget)
            if len(entries) < self.min_points:
                continue
            points = self.points(entries)
            losses = np.array([e.loss for e in entries], dtype=np.float64)
            found = kde.fit(
                self.encoding,
                points,
                losses,
                self.min_points,
                self.bohb.top_n_percent,
                self.bohb.min_bandwidth,
            )
            if found is not None:
                return found
        return None

    def points(self, entries: Sequence[Entry]) -> NDArray[np.float64]:
        """The entries' configs encoded, each finished trial's once."""
        memo = self.finished.memo
        missing = [e for e in entries if ("row", e.order) not in memo]
        if missing:
            rows = self.encoding.encode([config_of(e.params) for e in missing])
            memo.update({("row", e.order): row for e, row in zip(missing, rows, strict=True)})
        found = [memo["row", e.order] for e in entries]
        return np.array(found, dtype=np.float64).reshape(len(entries), len(self.space))

    def new_config(
        self, history: Sequence[Result], budget: int, rng: np.random.Generator
    ) -> dict[str, Any]:
        if rng.random() < self.bohb.random_fraction:
            return self.space.sample(rng)
        model = self.model(history)
        if model is None:
            return self.space.sample(rng)
        row = kde.sample(
            model, self.encoding, self.bohb.num_samples, self.bohb.bandwidth_factor, rng
        )
        return self.encoding.decode(row)
