"""Asynchronous successive halving (ASHA, Li et al. 2020): no slot ever waits for a bracket.

advisor:
  builtinAdvisorName: ASHA
  classArgs: {optimize_mode: maximize, R: 60, eta: 3}

The rungs are Hyperband's most aggressive bracket (budgets R/eta^s_max, ..., R, as TRIAL_BUDGET).
At each free slot: the best config of the highest rung that is in its rung's top 1/eta and not
yet promoted runs again with eta times the budget (from the start, as NNI's promotions do);
when none is, a new config starts on the lowest rung. Choose it over Hyperband when
trialConcurrency is more than one or trial durations vary: Hyperband's rounds wait for their
slowest trial, ASHA's do not.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
from pydantic import Field

from nnifc.advisors.base import (
    Advisor,
    AdvisorOptions,
    Finished,
    Ledger,
    Schedule,
    config_of,
    with_budget,
)
from nnifc.records import Params, Result
from nnifc.space import SearchSpace


class AshaOptions(AdvisorOptions):
    R: int = Field(default=60, ge=1, le=10**6)


class Asha(Advisor):
    name = "ASHA"
    Options = AshaOptions

    def __init__(self, space: SearchSpace, options: AshaOptions) -> None:
        super().__init__(space, options)
        schedule = Schedule.of(options.R, options.eta)
        self.budgets = [r for _, r in schedule.rounds(schedule.s_max)]
        self.eta = options.eta
        self.finished = Finished(self.budgets[-1])

    def promotion(self, history: Sequence[Result], pending: Sequence[Params]) -> Params | None:
        """The config to run next at a larger budget, or None: start a new one."""
        ledger = Ledger(self.finished, history, pending)
        for k in range(len(self.budgets) - 2, -1, -1):
            finished = self.finished.ranked(self.budgets[k])  # nothing is claimed in ASHA
            above = self.budgets[k + 1]
            done, running = ledger.counts(above)
            taken: dict[Hashable, int] = {}
            for e in finished[: len(finished) // self.eta]:
                if e.loss == math.inf:
                    break  # failed: never promoted
                n = taken[e.key] = taken.get(e.key, 0) + 1
                if n > done.get(e.key, 0) + running.get(e.key, 0):
                    return with_budget(config_of(e.params), above)
        return None

    def propose(
        self, history: Sequence[Result], pending: Sequence[Params], rng: np.random.Generator
    ) -> Params:
        promoted = self.promotion(history, pending)
        if promoted is not None:
            return promoted
        return with_budget(self.space.sample(rng), self.budgets[0])
