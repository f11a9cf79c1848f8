"""Values crossing into and out of NNI's objects: the search space in NNI's JSON, parameters as
plain JSON values, metrics in NNI's orientation.

Why: nnifc's tuners see a typed SearchSpace and oriented losses; NNI's see the JSON a config
holds, the raw metric (higher is better when they maximize), and return numpy scalars that the
store's JSON cannot hold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from nnifc.records import Params, Result
from nnifc.space import Branch, Choice, Parameter, RandInt, SearchSpace, Uniform

Mine = TypeVar("Mine")


def nni_space(space: SearchSpace) -> dict[str, Any]:
    """The search space as NNI's `update_search_space` takes it (what the config's JSON said)."""
    return {name: _parameter(param) for name, param in space.items()}


def _parameter(param: Parameter) -> dict[str, Any]:
    if isinstance(param, Choice):
        options = [
            {"_name": o.name, **nni_space(o.space)} if isinstance(o, Branch) else o
            for o in param.options
        ]
        return {"_type": "choice", "_value": options}
    if isinstance(param, RandInt):
        return {"_type": "randint", "_value": [param.low, param.high]}
    family = "uniform" if isinstance(param, Uniform) else "normal"
    type_ = ("q" if param.q is not None else "") + ("log" if param.log else "") + family
    first, second = (
        (param.low, param.high) if isinstance(param, Uniform) else (param.mu, param.sigma)
    )
    values = [first, second] if param.q is None else [first, second, param.q]
    return {"_type": type_, "_value": values}


def plain(value: Any) -> Any:
    """A JSON value: numpy scalars and arrays, and tuples, made Python's own."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def raw_metric(loss: float, optimize_mode: str) -> float:
    """The metric as the trial reported it, from nnifc's loss (lower is better)."""
    return -loss if optimize_mode == "maximize" else loss


def tell_each(
    results: Sequence[Result],
    optimize_mode: str,
    take: Callable[[Params], Mine | None],
    ended: Callable[[Mine, float], None],
    imported: Callable[[list[dict[str, Any]]], None],
) -> None:
    """Each new result once, in order: to `ended` when `take` finds it among the object's own
    proposals, else gathered for `imported` (NNI's import_data records; a FAILED one has no
    value to import), each gathering told before the next own result."""
    gathered: list[dict[str, Any]] = []
    for result in results:
        mine = take(result.params)
        if mine is None:
            if math.isfinite(result.loss):
                value = raw_metric(result.loss, optimize_mode)
                gathered.append({"parameter": dict(result.params), "value": value})
            continue
        if gathered:
            imported(gathered)
            gathered = []
        ended(mine, result.loss)
    if gathered:
        imported(gathered)
