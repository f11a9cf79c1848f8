"""Evolution (NNI's Evolution tuner, Real et al., "Large-Scale Evolution of Image Classifiers", 2017).

The first `population_size` trials are random. After that the population is the best
`population_size` finished trials; each proposal draws two of them, keeps the better (a tournament
of two, as NNI does) and mutates one randomly chosen active parameter by redrawing it from its
prior (a nested choice redraws its branch and everything inside). Deriving the population from the
history rather than keeping it makes a restarted experiment continue exactly where it stopped, and
lets proposals go on when more trials run than the population holds (NNI stops proposing there).

    tuner:
      builtinTunerName: Evolution
      classArgs: {optimize_mode: maximize, population_size: 32}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import Field

from nnifc.records import Params, Result
from nnifc.space import Branch, Choice, SearchSpace
from nnifc.tuners.base import Tuner, TunerOptions


class EvolutionOptions(TunerOptions):
    population_size: int = Field(default=32, ge=1)


class EvolutionTuner(Tuner):
    name = "Evolution"
    default_optimize_mode = "maximize"
    Options = EvolutionOptions
    options: EvolutionOptions  # what the loader validated with Options

    def propose(
        self, history: Sequence[Result], pending: Sequence[Params], rng: np.random.Generator
    ) -> Params:
        known = [*pending, *(r.params for r in history)]
        size = self.options.population_size
        population = sorted(history, key=lambda r: r.loss)[:size]  # stable: ties keep trial order
        for _ in range(32):  # a repeat is only likely in a small discrete space
            if len(history) < size:
                candidate = self.space.sample(rng)
            else:
                first, second = (population[int(i)] for i in rng.integers(len(population), size=2))
                parent = first if first.loss <= second.loss else second
                candidate = _mutate(self.space, parent.params, rng)
            if not any(candidate == p for p in known):
                return candidate
        return self.space.sample(rng)


def _mutate(space: SearchSpace, params: Params, rng: np.random.Generator) -> dict[str, Any]:
    paths = list(_active_paths(space, params, ()))
    target = paths[int(rng.integers(len(paths)))]
    return _replace(space, params, target, rng)


def _active_paths(
    space: SearchSpace, params: Params, prefix: tuple[str, ...]
) -> Sequence[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for key, param in space.items():
        paths.append((*prefix, key))
        if isinstance(param, Choice) and param.nested:
            branch = next(b for b in param.options if b.name == params[key]["_name"])
            paths.extend(_active_paths(branch.space, params[key], (*prefix, key)))
    return paths


def _replace(
    space: SearchSpace, params: Params, path: tuple[str, ...], rng: np.random.Generator
) -> dict[str, Any]:
    out = dict(params)
    key = path[0]
    param = space[key]
    if len(path) > 1:
        assert isinstance(param, Choice)
        branch = next(b for b in param.options if b.name == params[key]["_name"])
        inner = _replace(branch.space, params[key], path[1:], rng)
        out[key] = {"_name": branch.name, **{k: v for k, v in inner.items() if k != "_name"}}
        return out
    value = param.sample(rng)
    out[key] = (
        {"_name": value.name, **value.space.sample(rng)} if isinstance(value, Branch) else value
    )
    return out
