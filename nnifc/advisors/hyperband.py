"""Hyperband (Li et al. 2018) with NNI's classArgs and bracket arithmetic.

advisor:
  builtinAdvisorName: Hyperband
  classArgs: {optimize_mode: maximize, R: 60, eta: 3, exec_mode: parallelism}

Each trial gets `TRIAL_BUDGET` (1..R) in its parameters and should train that much. The best
1/eta of a finished round run again, from the start, with eta times the budget, as under NNI.
exec_mode parallelism opens the next bracket whenever a slot would otherwise be idle; serial
would wait for the open bracket to reach its last round (see `Advisor.wait`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field

from nnifc.advisors.base import Advisor, AdvisorOptions, Finished, Ledger, Schedule, with_budget
from nnifc.advisors.brackets import Plan, plan
from nnifc.records import Params, Result
from nnifc.space import SearchSpace


class HyperbandOptions(AdvisorOptions):
    R: int = Field(default=60, ge=1, le=10**6)
    exec_mode: Literal["serial", "parallelism"] = "parallelism"


class Hyperband(Advisor):
    name = "Hyperband"
    Options = HyperbandOptions

    def __init__(self, space: SearchSpace, options: HyperbandOptions) -> None:
        super().__init__(space, options)
        self.schedule = Schedule.of(options.R, options.eta)
        self.serial = options.exec_mode == "serial"
        self.finished = Finished(self.schedule.max_budget)

    def plan(self, history: Sequence[Result], pending: Sequence[Params]) -> Plan:
        ledger = Ledger(self.finished, history, pending)
        return plan(self.schedule, ledger)

    def wait(self, history: Sequence[Result], pending: Sequence[Params]) -> bool:
        now = self.plan(history, pending)
        return self.serial and now.owed is None and now.fill is None and now.unfinished

    def propose(
        self, history: Sequence[Result], pending: Sequence[Params], rng: np.random.Generator
    ) -> Params:
        now = self.plan(history, pending)
        if now.owed is not None:
            return now.owed
        budget = now.fill if now.fill is not None else now.next_budget
        return with_budget(self.new_config(history, budget, rng), budget)

    def new_config(
        self, history: Sequence[Result], budget: int, rng: np.random.Generator
    ) -> dict[str, object]:
        return self.space.sample(rng)
