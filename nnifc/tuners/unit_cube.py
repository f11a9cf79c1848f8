"""Parameters to and from points of the unit cube, for the Gaussian-process tuners (gp.py, metis.py).

A GP needs every trial as a vector of numbers. Each parameter takes columns of [0, 1]: a number its
position in its range (log scale for log types; normal types through their CDF), a randint its
integer's cell, a numeric choice its value's position between the smallest and largest option (as
NNI's GPTuner and MetisTuner read numeric choices), any other choice one column per option (set to 1
for the chosen one). A nested choice's branches add their own columns after it, held at 0.5 while
the branch is not chosen. `snap` moves any point to the nearest one a trial can receive, so the
model scores what would really run; `decode` turns a point into parameters with NNI's rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri

from nnifc.records import Params
from nnifc.space import Branch, Choice, Normal, Parameter, RandInt, SearchSpace, Uniform

Matrix = NDArray[np.float64]
_TAIL = 1e-9  # a normal type's CDF stays this far from 0 and 1


class Layout:
    """The columns of a search space, starting at column `start`."""

    def __init__(self, space: SearchSpace, start: int = 0) -> None:
        self.slots: list[_Slot] = []
        column = start
        for key, param in space.items():
            slot = _Slot(key, param, column)
            self.slots.append(slot)
            column = slot.end
        self.start, self.end = start, column

    @property
    def width(self) -> int:
        return self.end - self.start

    def encode(self, rows: Sequence[Params]) -> Matrix:
        out = np.full((len(rows), self.end), 0.5)
        self.fill(rows, out)
        return out

    def fill(self, rows: Sequence[Params], out: Matrix) -> None:
        for slot in self.slots:
            slot.fill([params[slot.key] for params in rows], out)

    def snap(self, points: Matrix) -> None:
        """Move every row, in place, to the encoding of the trial `decode` would give."""
        for slot in self.slots:
            slot.snap(points)

    def decode(self, point: Matrix) -> dict[str, Any]:
        return {slot.key: slot.decode(point) for slot in self.slots}


class _Slot:
    def __init__(self, key: str, param: Parameter, start: int) -> None:
        self.key, self.param, self.start = key, param, start
        self.branches: list[Layout] = []
        self.values: NDArray[np.float64] | None = None  # a numeric choice's options
        width = 1
        if isinstance(param, Choice):
            if all(_number(o) for o in param.options):
                self.values = np.array(param.options, dtype=np.float64)
            else:
                width = len(param.options)
        self.end = start + width
        for option in param.options if isinstance(param, Choice) and param.nested else ():
            assert isinstance(option, Branch)
            self.branches.append(Layout(option.space, self.end))
            self.end = self.branches[-1].end
        self.to_unit, self.from_unit = _scales(param)

    def fill(self, values: list[Any], out: Matrix) -> None:
        param = self.param
        if not values:
            return
        if not isinstance(param, Choice):
            out[:, self.start] = self.to_unit(np.array(values, dtype=np.float64))
        elif self.values is not None:
            out[:, self.start] = [self._choice_unit(float(v)) for v in values]
        else:
            chosen = np.array([_index(param, v) for v in values])
            out[:, self.start : self.start + len(param.options)] = np.eye(len(param.options))[
                chosen
            ]
            for index, branch in enumerate(self.branches):
                rows = np.flatnonzero(chosen == index)
                if branch.width and len(rows):
                    block = out[rows]
                    inner = [{k: v for k, v in values[r].items() if k != "_name"} for r in rows]
                    branch.fill(inner, block)
                    out[rows] = block

    def snap(self, points: Matrix) -> None:
        column = points[:, self.start]
        if not isinstance(self.param, Choice):
            points[:, self.start] = self.to_unit(self.from_unit(column))
        elif self.values is not None:
            nearest = self._nearest(column)
            points[:, self.start] = [self._choice_unit(float(v)) for v in self.values[nearest]]
        else:
            width = len(self.param.options)
            chosen = points[:, self.start : self.start + width].argmax(axis=1)
            points[:, self.start : self.start + width] = np.eye(width)[chosen]
            for index, branch in enumerate(self.branches):
                active = chosen == index
                if branch.width:
                    block = points[active]
                    branch.snap(block)
                    points[active] = block
                    points[np.ix_(~active, np.arange(branch.start, branch.end))] = 0.5

    def decode(self, point: Matrix) -> Any:
        param = self.param
        if not isinstance(param, Choice):
            value = self.from_unit(point[self.start : self.start + 1])[0]
            return int(value) if isinstance(param, RandInt) else float(value)
        if self.values is not None:
            return param.options[int(self._nearest(point[self.start : self.start + 1])[0])]
        index = int(point[self.start : self.start + len(param.options)].argmax())
        option = param.options[index]
        if not self.branches:
            return option
        return {"_name": option.name, **self.branches[index].decode(point)}

    def _choice_unit(self, value: float) -> float:
        assert self.values is not None
        low, high = self.values.min(), self.values.max()
        return 0.5 if high == low else (value - low) / (high - low)

    def _nearest(self, column: Matrix) -> NDArray[np.intp]:
        assert self.values is not None
        units = np.array([self._choice_unit(float(v)) for v in self.values])
        return np.asarray(np.abs(column[:, None] - units[None, :]).argmin(axis=1))  # first on ties


Scale = Callable[[Matrix], Matrix]


def _scales(param: Parameter) -> tuple[Scale, Scale]:
    """Value -> unit and unit -> value (rounded as NNI rounds), vectorised; identity for choices."""
    match param:
        case Uniform(low=low, high=high, q=q, log=log):
            lo, hi = (math.log(low), math.log(high)) if log else (low, high)
            outer = np.exp if log else _same

            def to_uniform(v: Matrix) -> Matrix:
                return ((np.log(v) if log else v) - lo) / (hi - lo)

            def from_uniform(u: Matrix) -> Matrix:
                x = outer(lo + np.clip(u, 0.0, 1.0) * (hi - lo))
                return np.clip(_quantized(x, q), low, high)

            return to_uniform, from_uniform
        case Normal(mu=mu, sigma=sigma, q=q, log=log):
            floor = q / 2 if q else 1e-300

            def to_normal(v: Matrix) -> Matrix:
                x = np.log(np.maximum(v, floor)) if log else v
                return np.asarray(ndtr((x - mu) / sigma))

            def from_normal(u: Matrix) -> Matrix:
                x = mu + sigma * ndtri(np.clip(u, _TAIL, 1 - _TAIL))
                return _quantized(np.exp(x) if log else x, q)

            return to_normal, from_normal
        case RandInt(low=low, high=high):
            n = high - low

            def to_int(v: Matrix) -> Matrix:
                return (v - low + 0.5) / n

            def from_int(u: Matrix) -> Matrix:
                return low + np.clip(np.floor(u * n), 0, n - 1)

            return to_int, from_int
    return _same, _same


def _same(x: Matrix) -> Matrix:
    return x


def _quantized(x: Matrix, q: float | None) -> Matrix:
    return x if q is None else np.round(x / q) * q  # half to even, as Python's round


def _number(option: Any) -> bool:
    return isinstance(option, int | float) and not isinstance(option, bool)


def _index(param: Choice, value: Any) -> int:
    for i, option in enumerate(param.options):
        if isinstance(option, Branch):
            if isinstance(value, dict) and value.get("_name") == option.name:
                return i
        elif option == value and type(option) is type(value):
            return i
    raise ValueError(f"{value!r} is not one of the options of {param}")
