"""What every advisor shares: the budget key, bracket arithmetic and the trials by budget.

An advisor (Hyperband, BOHB, ASHA) is a Tuner that also chooses each trial's budget, passed as
NNI passes it: `TRIAL_BUDGET` in the parameters. Like every tuner it keeps no state of its own:
brackets, rungs and promotions are read again from `history` (in the order trials finished) and
`pending` at each proposal, so a launcher killed mid-bracket and resumed decides as if it had
never stopped. A config is its parameters without the budget key. A promotion starts the config
again as a new trial with the larger budget, as NNI's advisors do.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import Field

from nnifc.records import Params, Result
from nnifc.stages import BUDGET_KEY, LOAD_KEY, SAVE_KEY
from nnifc.tuners.base import Tuner, TunerOptions
from nnifc.tuners.encoded import freeze

EPSILON = 1e-6  # NNI's, so that floors of exact powers land where NNI's do


class AdvisorOptions(TunerOptions):
    """classArgs every advisor accepts: NNI's advisors maximize unless told otherwise."""

    eta: int = Field(default=3, ge=2, le=100)


class Advisor(Tuner):
    default_optimize_mode: ClassVar[Literal["maximize", "minimize"] | None] = "maximize"
    Options: ClassVar[type[TunerOptions]] = AdvisorOptions
    added_keys: ClassVar[frozenset[str]] = frozenset({BUDGET_KEY})
    learns_unfinished: ClassVar[bool] = True  # a cancelled trial's config is not run again


_NOT_CONFIG = frozenset({BUDGET_KEY, LOAD_KEY, SAVE_KEY})


def config_of(params: Params) -> dict[str, Any]:
    """The searched parameters: without the budget and the checkpoint directories."""
    return {k: v for k, v in params.items() if k not in _NOT_CONFIG}


def with_budget(config: Mapping[str, Any], budget: int) -> dict[str, Any]:
    return {**config, BUDGET_KEY: budget}


@dataclass(frozen=True)
class Schedule:
    """Hyperband's brackets: bracket s starts n configs at budget r, keeps 1/eta each round."""

    max_budget: float
    eta: int
    s_max: int

    @classmethod
    def of(cls, max_budget: float, eta: int, min_budget: float = 1.0) -> Schedule:
        s_max = math.floor(math.log(max_budget / min_budget, eta) + EPSILON)
        return cls(max_budget, eta, max(s_max, 0))

    def rounds(self, s: int) -> list[tuple[int, int]]:
        """(configs, budget) of each round of bracket s, as NNI's get_n_r computes them."""
        n = math.ceil((self.s_max + 1) * self.eta**s / (s + 1) - EPSILON)
        r = self.max_budget / self.eta**s
        return [
            (math.floor(n / self.eta**i + EPSILON), math.floor(r * self.eta**i + EPSILON))
            for i in range(s + 1)
        ]

    @property
    def order(self) -> list[int]:
        """Brackets in the order NNI opens them, cycling: s_max, s_max - 1, ..., 0."""
        return list(range(self.s_max, -1, -1))


class Entry(NamedTuple):
    """One trial as an advisor sees it; `loss` None while it runs (a tuple: made by the
    thousand at each proposal)."""

    order: int  # finished trials first, in the order they finished, then pending ones
    key: Hashable
    params: Params  # with the budget key, as the trial received them
    budget: float
    loss: float | None


class Keys:
    """freeze() of each config, kept for the parameter objects of pending trials."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[Params, Hashable]] = {}

    def __call__(self, params: Params) -> Hashable:
        found = self._seen.get(id(params))
        if found is not None and found[0] is params:
            return found[1]
        key = freeze(config_of(params))
        if len(self._seen) > 4096:
            self._seen.clear()
        self._seen[id(params)] = (params, key)
        return key


class Finished:
    """The history as entries, indexed by budget and by (config, budget); grown as the history
    grows (checked by the identity of sampled results) and rebuilt when it is another one."""

    def __init__(self, default_budget: float) -> None:
        self.default_budget = default_budget
        self.keys = Keys()
        self._clear()

    def _clear(self) -> None:
        self.results: list[Result] = []
        self.entries: list[Entry] = []
        self.by_budget: dict[float, list[Entry]] = defaultdict(list)
        self.by_key: dict[tuple[Hashable, float], list[Entry]] = defaultdict(list)
        self.counts: dict[float, Counter[Hashable]] = defaultdict(Counter)  # runs of each key
        self._ranked: dict[float, list[Entry]] = defaultdict(list)  # as ranked() orders them
        self._unordered: set[float] = set()  # budgets with a NaN loss: ranked() sorts them
        # trials a finished copy of a bracket claimed, by (s, copy): decided once for all
        self.settled: dict[tuple[int, int], list[int]] = {}
        self.memo: dict[Hashable, Any] = {}  # values computed from entries, dropped with them

    def update(self, history: Sequence[Result]) -> None:
        n = len(self.results)
        if len(history) < n or any(history[i] is not self.results[i] for i in _probes(n)):
            self._clear()
            n = 0
        for result in history[n:]:
            self.entries.append(self.entry(len(self.entries), result.params, result.loss))
            self.results.append(result)
            self._index(self.entries[-1])

    def entry(self, index: int, params: Params, loss: float | None) -> Entry:
        budget = params.get(BUDGET_KEY, self.default_budget)
        return Entry(
            index,
            freeze(config_of(params)) if loss is not None else self.keys(params),
            params,
            budget,
            loss,
        )

    def _index(self, e: Entry) -> None:
        self.by_budget[e.budget].append(e)
        self.by_key[e.key, e.budget].append(e)
        self.counts[e.budget][e.key] += 1
        if e.loss is None or math.isnan(e.loss):
            self._unordered.add(e.budget)
        elif e.budget not in self._unordered:
            bisect.insort(self._ranked[e.budget], e, key=rank_key)

    def ranked(self, budget: float) -> list[Entry]:
        """ranked(self.by_budget[budget]), kept sorted as results arrive (do not modify)."""
        if budget in self._unordered:
            return ranked(self.by_budget.get(budget, []))
        return self._ranked.get(budget, [])


class Ledger:
    """The trials by budget; `claim` hands each out once (a config may run twice at a budget)."""

    def __init__(
        self, finished: Finished, history: Sequence[Result], pending: Sequence[Params]
    ) -> None:
        finished.update(history)
        self.finished = finished
        n = len(finished.entries)
        self.running = [finished.entry(n + i, p, None) for i, p in enumerate(pending)]
        self.claimed: set[int] = set()
        self._running_count = Counter((e.key, e.budget) for e in self.running)

    @property
    def entries(self) -> list[Entry]:
        return self.finished.entries + self.running

    def _all(self, budget: float) -> list[Entry]:
        mine = [e for e in self.running if e.budget == budget]
        return (
            self.finished.by_budget.get(budget, []) + mine
            if mine
            else self.finished.by_budget.get(budget, [])
        )

    def at(self, budget: float) -> list[Entry]:
        """Entries at this budget not claimed yet: finished ones in order, then pending ones."""
        return [e for e in self._all(budget) if e.order not in self.claimed]

    def _matches(self, key: Hashable, budget: float) -> list[Entry]:
        found = self.finished.by_key.get((key, budget), [])
        mine = [e for e in self.running if e.key == key and e.budget == budget]
        return found + mine if mine else found

    def count(self, key: Hashable, budget: float) -> int:
        return len(self._matches(key, budget))

    def counts(self, budget: float) -> tuple[Mapping[Hashable, int], Mapping[Hashable, int]]:
        """How often each config ran at this budget: finished trials, pending ones."""
        running = {k: n for (k, b), n in self._running_count.items() if b == budget}
        return self.finished.counts.get(budget, {}), running

    def claim(self, key: Hashable, budget: float) -> Entry | None:
        for e in self._matches(key, budget):
            if e.order not in self.claimed:
                self.claimed.add(e.order)
                return e
        return None


def _probes(n: int) -> list[int]:
    return sorted({0, n // 4, n // 2, 3 * n // 4, n - 1}) if n else []


def rank_key(e: Entry) -> tuple[float, int]:
    return (e.loss if e.loss is not None else math.inf, e.order)


def ranked(entries: Sequence[Entry]) -> list[Entry]:
    """Best first (lowest loss); ties go to the one that finished first."""
    return sorted(entries, key=rank_key)
