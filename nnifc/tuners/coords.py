"""Search-space values to and from TPE's model coordinates (parzen.Design), for tpe.py.

Numbers live in [0, 1] (log scale for log types, quantized only when decoded); normal types in
standard units; choice and randint are option indices. Kept apart from tpe.py so that the tuner
reads as the algorithm, this as the bookkeeping.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nnifc.records import Params
from nnifc.space import Choice, Normal, RandInt, Uniform
from nnifc.tuners import parzen

Numeric = list[tuple[str, Uniform | Normal]]
Categorical = list[tuple[str, Choice | RandInt]]


def design(numeric: Numeric, categorical: Categorical, obs: Sequence[Params]) -> parzen.Design:
    n = len(obs)
    rows_numeric = np.array([encode(p, [o[k] for o in obs]) for k, p in numeric])
    rows_categorical = np.array(
        [indices(p, [o[k] for o in obs]) for k, p in categorical], dtype=np.int64
    )
    return frame(
        numeric,
        categorical,
        rows_numeric.reshape(len(numeric), n).T,
        rows_categorical.reshape(len(categorical), n).T,
    )


def frame(
    numeric: Numeric,
    categorical: Categorical,
    rows_numeric: NDArray[np.float64],
    rows_categorical: NDArray[np.int64],
) -> parzen.Design:
    """Observations already in model coordinates, with each dimension's prior."""
    bounded = [isinstance(p, Uniform) for _, p in numeric]
    return parzen.Design(
        numeric=rows_numeric,
        low=np.where(bounded, 0.0, -np.inf),
        high=np.where(bounded, 1.0, np.inf),
        prior_mu=np.where(bounded, 0.5, 0.0),
        prior_sigma=np.ones(len(numeric)),
        categorical=rows_categorical,
        sizes=np.array([size(p) for _, p in categorical], dtype=np.int64),
        min_sigma=np.array([step(p) for _, p in numeric], dtype=np.float64),
    )


def step(param: Uniform | Normal) -> float:
    """A quantization step in model coordinates (0: none, or not constant there)."""
    if isinstance(param, Uniform) and param.q and not param.log:
        return float(param.q / (param.high - param.low))
    if isinstance(param, Normal) and param.q and not param.log:
        return float(param.q / param.sigma)
    return 0.0


def encode(param: Uniform | Normal, values: list[Any]) -> NDArray[np.float64]:
    v = np.asarray(values, dtype=np.float64)
    if isinstance(param, Uniform):
        if param.log:
            return (np.log(v) - math.log(param.low)) / (math.log(param.high) - math.log(param.low))
        return (v - param.low) / (param.high - param.low)
    assert isinstance(param, Normal)
    if param.log:
        v = np.log(np.maximum(v, param.q / 2 if param.q else 1e-300))
    return (v - param.mu) / param.sigma


def decode(param: Uniform | Normal, u: float) -> float:
    if isinstance(param, Uniform):
        if param.log:
            lo, hi = math.log(param.low), math.log(param.high)
            return param.finish(math.exp(lo + u * (hi - lo)))
        return param.finish(param.low + u * (param.high - param.low))
    assert isinstance(param, Normal)
    return param.finish(param.mu + u * param.sigma)


def indices(param: Choice | RandInt, values: list[Any]) -> list[int]:
    if isinstance(param, RandInt):
        return [v - param.low for v in values]
    assert isinstance(param, Choice)
    if param.nested:
        names = [b.name for b in param.options]
        return [names.index(v["_name"]) for v in values]
    try:  # hashable options (the usual case) are looked up, not scanned
        index = {(type(o), o): i for i, o in enumerate(reversed(param.options))}
        last = len(param.options) - 1
        return [last - index[type(v), v] for v in values]
    except (TypeError, KeyError):
        return [_option_index(param.options, v) for v in values]


def _option_index(options: tuple[Any, ...], value: Any) -> int:
    for i, o in enumerate(options):
        if o == value and type(o) is type(value):
            return i
    raise ValueError(f"{value!r} is not one of the options {options!r}")


def size(param: Choice | RandInt) -> int:
    return param.high - param.low if isinstance(param, RandInt) else len(param.options)
