"""Grid search over every parameter type, refining continuous ranges in rounds (NNI 2.6+).

Choices (each nested branch with its own grid), randints and q-uniform values are enumerated in
full. A continuous range is divided in rounds: round 0 tries its midpoint, round 1 the quartiles,
round k the points j / 2^(k+1); normal types use the same fractions as quantiles. Each proposal is
the first point of the current round's grid not already finished or running, so a restart resumes
where it stopped. A space without continuous ranges is finite: after its last point, None.

    tuner:
      builtinTunerName: GridSearch
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

from nnifc.records import Params, Result
from nnifc.space import Branch, Choice, Normal, Parameter, RandInt, SearchSpace, Uniform
from nnifc.tuners.base import Tuner

_MAX_LISTED = 1000  # a q-grid larger than this is refined like a continuous range
_MAX_ROUNDS = 40  # 2^41 divisions is below float resolution


class GridSearchTuner(Tuner):
    name = "GridSearch"
    default_optimize_mode = None

    def propose(
        self, history: Sequence[Result], pending: Sequence[Params], rng: np.random.Generator
    ) -> Params | None:
        seen = {_freeze(p) for p in pending} | {_freeze(r.params) for r in history}
        keys = list(self.space)
        previous: list[list[Any]] | None = None
        for depth in range(_MAX_ROUNDS):
            columns = [_values(self.space[k], depth) for k in keys]
            if columns == previous:  # refining added nothing: the space is finite
                return None
            for combo in itertools.product(*columns):
                point = dict(zip(keys, combo, strict=True))
                if _freeze(point) not in seen:
                    return point
            previous = columns
        return None


def _grid(space: SearchSpace, depth: int) -> list[dict[str, Any]]:
    keys = list(space)
    columns = [_values(space[k], depth) for k in keys]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*columns)]


def _values(param: Parameter, depth: int) -> list[Any]:
    match param:
        case Choice(options=options) if param.nested:
            return [
                {"_name": b.name, **inner}
                for b in options
                if isinstance(b, Branch)
                for inner in _grid(b.space, depth)
            ]
        case Choice(options=options):
            return list(options)
        case RandInt(low=low, high=high):
            return list(range(low, high))
        case Uniform(low=low, high=high, q=q) if q is not None and (high - low) / q < _MAX_LISTED:
            steps = range(math.floor(low / q), math.ceil(high / q) + 1)
            return _unique([param.finish(low), *(param.finish(i * q) for i in steps)])
        case Uniform(low=low, high=high, log=log):
            lo, hi = (math.log(low), math.log(high)) if log else (low, high)
            raws = (lo + f * (hi - lo) for f in _fractions(depth))
            return _unique([param.finish(math.exp(r) if log else r) for r in raws])
        case Normal(mu=mu, sigma=sigma):
            quantiles = (NormalDist(mu, sigma).inv_cdf(f) for f in _fractions(depth))
            return _unique([param.finish(x) for x in quantiles])
    raise AssertionError(f"unknown parameter {param!r}")


def _fractions(depth: int) -> Iterator[float]:
    parts = 2 ** (depth + 1)
    return (j / parts for j in range(1, parts))


def _unique(values: list[float]) -> list[float]:
    return sorted(set(values))


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return (type(value).__name__, value)
