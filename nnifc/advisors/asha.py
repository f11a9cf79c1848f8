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

import bisect
import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from collections.abc import Set as AbstractSet
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
    rank_key,
    with_budget,
)
from nnifc.records import Params, Result
from nnifc.space import SearchSpace
from nnifc.stages import BUDGET_KEY, LOAD_KEY, SAVE_KEY
from nnifc.tuners.base import Tuner


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
        if options.sampler == "tpe":  # imported here: commands that name no TPE never load it
            from nnifc.tuners.tpe import TpeOptions, TpeTuner

            args = {"n_startup_jobs": options.n_startup, "constant_liar_type": "best"}
            self.tpe = TpeTuner(space, TpeOptions.model_validate({"tpe_args": args}))

    def promotion(self, ledger: Ledger, index: Index) -> tuple[Params, int] | None:
        """The trial whose config runs next at a larger budget, and that budget; None: start a
        new config."""
        for k in range(len(self.budgets) - 2, -1, -1):
            above = self.budgets[k + 1]
            done, running = ledger.counts(above)
            for mine in self.rung(k, index):
                best = mine[: len(mine) // self.eta]
                keys = {e.key for e in best}
                if len(keys) == len(best) and all(k in done or k in running for k in keys):
                    continue  # each ran once here and is promoted already: the common case
                taken: dict[Hashable, int] = {}
                for e in best:
                    if e.loss == math.inf:
                        break  # failed: never promoted
                    n = taken[e.key] = taken.get(e.key, 0) + 1
                    if n > done.get(e.key, 0) + running.get(e.key, 0):
                        return e.params, above
        return None

    def rung(self, k: int, index: Index) -> list[list[Entry]]:
        """The finished trials at the k-th budget, best first, one list per bracket that has
        that rung (smallest first budget first)."""
        budget = self.budgets[k]
        if len(self.starts) == 1:
            return [self.finished.ranked(budget)]  # nothing is claimed in ASHA
        return [index.rung(self.finished, budget, b) for b in self.starts if b <= budget]

    def new_budget(self, ledger: Ledger, index: Index) -> int:
        """The first budget of the bracket with the fewest configs (the smallest on a tie)."""
        if len(self.starts) == 1:
            return self.starts[0]
        configs = Counter(index.configs)
        configs.update(
            {e.key: e.budget for e in ledger.running if e.key not in index.start}.values()
        )
        return min(self.starts, key=lambda b: configs[b])

    def new_config(
        self, history: Sequence[Result], pending: Sequence[Params], rng: np.random.Generator
    ) -> dict[str, Any]:
        if self.tpe is None:
            return self.space.sample(rng)
        top = self.index(history).top
        proposed = self.tpe.propose(top, [config_of(p) for p in pending], rng)
        return dict(proposed) if proposed is not None else self.space.sample(rng)

    def index(self, history: Sequence[Result]) -> Index:
        self.finished.update(history)
        found = self.finished.memo.setdefault("asha", Index(self.budgets[-1]))
        assert isinstance(found, Index)
        found.update(self.finished.entries)
        return found

    def propose(
        self, history: Sequence[Result], pending: Sequence[Params], rng: np.random.Generator
    ) -> Params:
        root = checkpoints.root(self.options.all_checkpoint_dir, self.shared_dir)
        ledger = Ledger(self.finished, history, pending)
        index = self.index(history)
        promoted = self.promotion(ledger, index)
        if promoted is None:
            budget = self.new_budget(ledger, index)
            params = with_budget(self.new_config(history, pending, rng), budget)
            load = None
        else:
            params = with_budget(config_of(promoted[0]), promoted[1])
            load = promoted[0].get(SAVE_KEY)
        if root is None:
            return params
        save = directory(root, params, index.saves, {p.get(SAVE_KEY) for p in pending})
        return {**params, LOAD_KEY: load if isinstance(load, str) else save, SAVE_KEY: save}


class Index:
    """What ASHA reads of the finished trials at each proposal, grown as results arrive (kept in
    the Finished memo, so it goes when the history is another one): each config's bracket (the
    budget it first ran at), each bracket's results per budget in rank order, the checkpoint
    directories taken, and the results at the largest budget for TPE."""

    def __init__(self, largest: float) -> None:
        self.largest = largest
        self._clear()

    def _clear(self) -> None:
        self.seen = 0
        self.start: dict[Hashable, float] = {}
        self.configs: Counter[float] = Counter()  # configs per bracket
        self.rungs: dict[tuple[float, float], list[Entry]] = defaultdict(list)
        self.unordered: set[float] = set()  # budgets with a NaN result: ranked when read
        self.saves: set[Any] = set()
        self.top: list[Result] = []

    def update(self, entries: Sequence[Entry]) -> None:
        new = entries[self.seen :]
        if any(e.budget < self.start[e.key] for e in new if e.key in self.start):
            self._clear()  # a config's smaller budget came after a larger one: read it again
            new = entries
        firsts: dict[Hashable, float] = {}
        for e in new:
            if e.key not in self.start:
                firsts[e.key] = min(firsts.get(e.key, e.budget), e.budget)
        self.start.update(firsts)
        self.configs.update(firsts.values())
        for e in new:
            self.saves.add(e.params.get(SAVE_KEY))
            if e.loss is None or math.isnan(e.loss):
                self.unordered.add(e.budget)
                continue
            bisect.insort(self.rungs[e.budget, self.start[e.key]], e, key=rank_key)
            if e.budget == self.largest and math.isfinite(e.loss):
                self.top.append(Result(config_of(e.params), e.loss))
        self.seen = len(entries)

    def rung(self, finished: Finished, budget: float, first: float) -> list[Entry]:
        """The results at `budget` of the configs that started at `first`, best first."""
        if budget in self.unordered:
            return [e for e in finished.ranked(budget) if self.start.get(e.key) == first]
        return self.rungs.get((budget, first), [])


def directory(root: str, params: Params, *taken: AbstractSet[Any]) -> str:
    """`<root>/asha/<config digest>-<budget>-<n>`: a new one for each run of a config at a
    budget (`taken`: the directories of every trial so far), the same after a resume (the
    digest does not depend on the process)."""
    text = json.dumps(config_of(params), sort_keys=True, default=str)
    stem = f"{root}/asha/{hashlib.sha256(text.encode()).hexdigest()[:16]}-{params[BUDGET_KEY]}-"
    n = 0
    while any(f"{stem}{n}" in t for t in taken):
        n += 1
    return f"{stem}{n}"
