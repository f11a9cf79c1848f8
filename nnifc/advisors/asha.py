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

With `brackets: 4` (up to log_eta(R) + 1), ASHA runs Hyperband's brackets asynchronously
(Li et al. 2020, section 3.3): bracket b starts its new configs at the b-th rung, so some are
judged only at larger budgets, which protects against a small budget that ranks configs wrongly;
each bracket gets the same number of new configs, and promotes within itself. A config's bracket
is the budget of its first trial. With `sampler: tpe`, new configs come from nnifc's TPE, fitted
on the results at the largest budget (random ones until it has `n_startup` of them), as optuna
pairs TPE with its Hyperband pruner.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from nnifc import checkpoints
from nnifc.advisors.base import (
    Advisor,
    AdvisorOptions,
    Entry,
    Finished,
    Ledger,
    Schedule,
    config_of,
    with_budget,
)
from nnifc.records import Params, Result
from nnifc.space import SearchSpace
from nnifc.stages import BUDGET_KEY, LOAD_KEY, SAVE_KEY
from nnifc.tuners.base import Tuner
from nnifc.tuners.tpe import TpeOptions, TpeTuner


class AshaOptions(AdvisorOptions):
    R: int = Field(default=60, ge=1, le=10**6)
    all_checkpoint_dir: str | None = None
    brackets: int = Field(default=1, ge=1, le=64)
    sampler: Literal["random", "tpe"] = "random"
    n_startup: int = Field(default=10, ge=1, le=10**4)

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
        self.starts = self.budgets[: min(options.brackets, len(self.budgets))]
        self.eta = options.eta
        self.finished = Finished(self.budgets[-1])
        self.tpe: Tuner | None = None
        if options.sampler == "tpe":
            args = {"n_startup_jobs": options.n_startup, "constant_liar_type": "best"}
            self.tpe = TpeTuner(space, TpeOptions.model_validate({"tpe_args": args}))

    def promotion(
        self, history: Sequence[Result], pending: Sequence[Params]
    ) -> tuple[Params, int] | None:
        """The trial whose config runs next at a larger budget, and that budget; None: start a
        new config."""
        ledger = Ledger(self.finished, history, pending)
        start = self.bracket_of(ledger)
        for k in range(len(self.budgets) - 2, -1, -1):
            above = self.budgets[k + 1]
            done, running = ledger.counts(above)
            for mine in self.rung(k, start):
                taken: dict[Hashable, int] = {}
                for e in mine[: len(mine) // self.eta]:
                    if e.loss == math.inf:
                        break  # failed: never promoted
                    n = taken[e.key] = taken.get(e.key, 0) + 1
                    if n > done.get(e.key, 0) + running.get(e.key, 0):
                        return e.params, above
        return None

    def rung(self, k: int, start: Mapping[Hashable, float]) -> list[list[Entry]]:
        """The finished trials at the k-th budget, best first, one list per bracket that has
        that rung (smallest first budget first)."""
        everyone = self.finished.ranked(self.budgets[k])  # nothing is claimed in ASHA
        if len(self.starts) == 1:
            return [everyone]
        brackets: dict[float, list[Entry]] = {b: [] for b in self.starts if b <= self.budgets[k]}
        for e in everyone:  # a config from other settings (fewer brackets) is in none
            group = brackets.get(start.get(e.key, -1.0))
            if group is not None:
                group.append(e)
        return list(brackets.values())

    def bracket_of(self, ledger: Ledger) -> Mapping[Hashable, float]:
        """Each config's bracket, named by its first budget: the smallest it ran at."""
        if len(self.starts) == 1:
            return {}
        seen, start = self.finished.memo.setdefault("start", ([0], dict[Hashable, float]()))
        for e in self.finished.entries[seen[0] :]:
            start[e.key] = min(start.get(e.key, e.budget), e.budget)
        seen[0] = len(self.finished.entries)
        new = {e.key: e.budget for e in ledger.running if e.key not in start}
        return {**start, **new} if new else start

    def new_budget(self, history: Sequence[Result], pending: Sequence[Params]) -> int:
        """The first budget of the bracket with the fewest configs (the smallest on a tie)."""
        if len(self.starts) == 1:
            return self.starts[0]
        configs = Counter(self.bracket_of(Ledger(self.finished, history, pending)).values())
        return min(self.starts, key=lambda b: configs[b])

    def new_config(
        self, history: Sequence[Result], pending: Sequence[Params], rng: np.random.Generator
    ) -> dict[str, Any]:
        if self.tpe is None:
            return self.space.sample(rng)
        self.finished.update(history)
        top = self.finished.memo.setdefault("tpe", ([0], list[Result]()))
        seen, results = top
        for e in self.finished.entries[seen[0] :]:
            if e.budget == self.budgets[-1] and e.loss is not None and math.isfinite(e.loss):
                results.append(Result(config_of(e.params), e.loss))
        seen[0] = len(self.finished.entries)
        proposed = self.tpe.propose(results, [config_of(p) for p in pending], rng)
        return dict(proposed) if proposed is not None else self.space.sample(rng)

    def propose(
        self, history: Sequence[Result], pending: Sequence[Params], rng: np.random.Generator
    ) -> Params:
        root = checkpoints.root(self.options.all_checkpoint_dir, self.shared_dir)
        promoted = self.promotion(history, pending)
        if promoted is None:
            budget = self.new_budget(history, pending)
            params = with_budget(self.new_config(history, pending, rng), budget)
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
