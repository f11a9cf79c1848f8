"""Asynchronous successive halving (ASHA, Li et al. 2020): no slot ever waits for a bracket.

advisor:
  builtinAdvisorName: ASHA
  classArgs: {optimize_mode: maximize, R: 60, eta: 3}

The rungs are Hyperband's most aggressive bracket (budgets R/eta^s_max, ..., R, as TRIAL_BUDGET).
At each free slot: the best config of the highest rung that is in its rung's top 1/eta and not
yet promoted runs again with eta times the budget; when none is, a new config starts on the
lowest rung. Choose it over Hyperband when trialConcurrency is more than one or trial durations
vary: Hyperband's rounds wait for their slowest trial, ASHA's do not.

A promotion is a new trial. It can continue where the promoted one stopped instead of starting
again: each trial gets `save_checkpoint_dir` (its own, created before it starts) and
`load_checkpoint_dir` (the promoted trial's, or its own empty one on the lowest rung), as PBT
passes them, under `all_checkpoint_dir` or the trials' shared directory. A trial that saves its
state and the epochs done, and trains from there up to TRIAL_BUDGET, pays only the budget it
adds; one that ignores the two trains from scratch, as under NNI's advisors.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, field_validator

from nnifc import checkpoints
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
from nnifc.stages import BUDGET_KEY, LOAD_KEY, SAVE_KEY


class AshaOptions(AdvisorOptions):
    R: int = Field(default=60, ge=1, le=10**6)
    all_checkpoint_dir: str | None = None

    _absolute = field_validator("all_checkpoint_dir")(checkpoints.checked_root)


class Asha(Advisor):
    name = "ASHA"
    Options = AshaOptions
    options: AshaOptions
    added_keys: ClassVar[frozenset[str]] = frozenset({BUDGET_KEY, LOAD_KEY, SAVE_KEY})

    def __init__(self, space: SearchSpace, options: AshaOptions) -> None:
        super().__init__(space, options)
        schedule = Schedule.of(options.R, options.eta)
        self.budgets = [r for _, r in schedule.rounds(schedule.s_max)]
        self.eta = options.eta
        self.finished = Finished(self.budgets[-1])

    def promotion(
        self, history: Sequence[Result], pending: Sequence[Params]
    ) -> tuple[Params, int] | None:
        """The trial whose config runs next at a larger budget, and that budget; None: start a
        new config."""
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
                    return e.params, above
        return None

    def propose(
        self, history: Sequence[Result], pending: Sequence[Params], rng: np.random.Generator
    ) -> Params:
        root = checkpoints.root(self.options.all_checkpoint_dir, self.shared_dir)
        promoted = self.promotion(history, pending)
        if promoted is None:
            params = with_budget(self.space.sample(rng), self.budgets[0])
            load = None
        else:
            params = with_budget(config_of(promoted[0]), promoted[1])
            load = promoted[0].get(SAVE_KEY)
        if root is None:
            return params
        save = directory(root, params, [*pending, *(r.params for r in history)])
        return {**params, LOAD_KEY: load if isinstance(load, str) else save, SAVE_KEY: save}


def directory(root: str, params: Params, others: Sequence[Mapping[str, Any]]) -> str:
    """`<root>/asha/<config digest>-<budget>-<n>`: a new one for each run of a config at a
    budget, the same after a resume (the digest does not depend on the process)."""
    text = json.dumps(config_of(params), sort_keys=True, default=str)
    stem = f"{root}/asha/{hashlib.sha256(text.encode()).hexdigest()[:16]}-{params[BUDGET_KEY]}-"
    taken = {p.get(SAVE_KEY) for p in others}
    n = 0
    while f"{stem}{n}" in taken:
        n += 1
    return f"{stem}{n}"
