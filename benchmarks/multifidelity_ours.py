"""nnifc's methods of issue 19 as policies for multifidelity.py's simulated clock.

Apart from multifidelity.py (the problems, the clock, the table) as multifidelity_refs.py holds
the references. Each policy drives nnifc's code as its scheduler does: an advisor proposes with
the history and the running trials; TPE with Medianstop asks the assessor after every step.

`Advised(..., continuing=True)` is ASHA as it runs for trial code that resumes from its
checkpoint: the advisor is given a shared directory, so each trial gets `save_checkpoint_dir`
and a promotion the promoted trial's directory as `load_checkpoint_dir`; the clock then starts
the promotion at the steps its checkpoint holds (a third element of `start`'s answer), and only
the steps it adds are paid.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from nnifc.advisors import ADVISORS, BUDGET_KEY, Advisor
from nnifc.assessors import ASSESSORS, Verdict
from nnifc.records import Params, Result
from nnifc.space import SearchSpace
from nnifc.stages import LOAD_KEY, SAVE_KEY
from nnifc.tuners import TUNERS

Resumed = tuple[Mapping[str, Any], int, int]  # parameters, the steps to reach, the steps done


class Advised:
    """An nnifc advisor as nnifc's scheduler drives it; times every decision."""

    def __init__(
        self,
        name: str,
        space: SearchSpace,
        seed: int,
        *,
        r: int,
        eta: int,
        continuing: bool = False,
        **options: Any,
    ) -> None:
        cls = ADVISORS[name]
        args: dict[str, Any] = {"max_budget": r} if name == "BOHB" else {"R": r}
        self.advisor: Advisor = cls(
            space, cls.Options.model_validate({**args, "eta": eta, **options})
        )
        if continuing:
            self.advisor.shared_dir = "/simulated"
        self.seed, self.history, self.pending = seed, list[Result](), dict[int, Params]()
        self.seconds: list[tuple[int, float]] = []  # (results recorded, seconds)
        self.saved: dict[str, int] = {}  # checkpoint directory -> the steps it holds

    def start(self, trial: int) -> Resumed:
        began = time.perf_counter()
        rng = np.random.default_rng([self.seed, trial])
        params = self.advisor.propose(self.history, list(self.pending.values()), rng)
        assert params is not None  # an advisor always has a next trial
        self.seconds.append((len(self.history), time.perf_counter() - began))
        self.pending[trial] = params
        return params, int(params[BUDGET_KEY]), self.saved.get(params.get(LOAD_KEY, ""), 0)

    def report(self, trial: int, step: int, loss: float) -> bool:
        return False

    def end(self, trial: int, loss: float, completed: bool) -> None:
        params = self.pending.pop(trial)
        if completed and SAVE_KEY in params:
            self.saved[params[SAVE_KEY]] = int(params[BUDGET_KEY])
        self.history.append(Result(params, loss))


class TpeMedianstop:
    """nnifc's TPE with Medianstop: a stopped trial is not told to the tuner, as nnifc does
    without includeIntermediateResults."""

    def __init__(self, space: SearchSpace, seed: int, *, r: int, start_step: int) -> None:
        self.tuner = TUNERS["TPE"](space, TUNERS["TPE"].Options.model_validate({}))
        medianstop = ASSESSORS["Medianstop"]
        self.assessor = medianstop(medianstop.Options.model_validate({"start_step": start_step}))
        self.seed, self.r, self.history = seed, r, list[Result]()
        self.pending: dict[int, Params] = {}
        self.curves: dict[int, list[float]] = {}
        self.finished: list[list[float]] = []

    def start(self, trial: int) -> Resumed:
        rng = np.random.default_rng([self.seed, trial])
        params = self.tuner.propose(self.history, list(self.pending.values()), rng)
        assert params is not None  # TPE always has a proposal
        self.pending[trial], self.curves[trial] = params, []
        return params, self.r, 0

    def report(self, trial: int, step: int, loss: float) -> bool:
        self.curves[trial].append(loss)
        return self.assessor.assess(self.curves[trial], self.finished) is Verdict.STOP

    def end(self, trial: int, loss: float, completed: bool) -> None:
        params, curve = self.pending.pop(trial), self.curves.pop(trial)
        if completed:
            self.history.append(Result(params, loss))
            self.finished.append([*curve, loss])
