"""Search spaces in NNI's JSON format, with NNI's exact sampling semantics.

`{"lr": {"_type": "loguniform", "_value": [1e-4, 0.1]}, ...}` becomes a SearchSpace of typed,
frozen parameters. Semantics follow NNI's `hpo_utils`: randint's upper bound is exclusive; q-types
are `round(x / q) * q` with Python's round, clipped to [low, high] for the uniform family and not
for the normal family, and always floats; a choice whose every option is a dict with `_name` is
nested, and the trial receives `{"_name": ..., <inner parameters>}` for the chosen branch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np

from nnifc.document import Document, Loc
from nnifc.errors import ConfigError, Problem

NOT_JSON = "(NaN and infinities are not JSON)"
TYPES = (
    "choice",
    "randint",
    "uniform",
    "quniform",
    "loguniform",
    "qloguniform",
    "normal",
    "qnormal",
    "lognormal",
    "qlognormal",
)


@dataclass(frozen=True)
class Branch:
    """One option of a nested choice: its `_name` and the parameters that exist only with it."""

    name: str | int | float
    space: SearchSpace


@dataclass(frozen=True)
class Choice:
    options: tuple[Any, ...]  # JSON values, or only Branch objects when nested

    @property
    def nested(self) -> bool:
        return isinstance(self.options[0], Branch)

    def sample(self, rng: np.random.Generator) -> Any:
        return self.options[int(rng.integers(len(self.options)))]


@dataclass(frozen=True)
class RandInt:
    low: int
    high: int  # exclusive

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high))


@dataclass(frozen=True)
class Uniform:
    """uniform, quniform, loguniform, qloguniform."""

    low: float
    high: float
    q: float | None = None
    log: bool = False

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return self.finish(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return self.finish(float(rng.uniform(self.low, self.high)))

    def finish(self, x: float) -> float:
        """Quantize and clip a raw draw from this parameter's (log-)uniform range."""
        if self.q is not None:
            x = round(x / self.q) * self.q
        return float(min(max(x, self.low), self.high))


@dataclass(frozen=True)
class Normal:
    """normal, qnormal, lognormal, qlognormal: unbounded, never clipped."""

    mu: float
    sigma: float
    q: float | None = None
    log: bool = False

    def sample(self, rng: np.random.Generator) -> float:
        return self.finish(float(rng.normal(self.mu, self.sigma)))

    def finish(self, x: float) -> float:
        """Exponentiate (log types) and quantize a raw normal draw."""
        if self.log:
            x = math.exp(x)
        if self.q is not None:
            x = round(x / self.q) * self.q
        return float(x)


Parameter: TypeAlias = Choice | RandInt | Uniform | Normal


class SearchSpace(Mapping[str, Parameter]):
    """An ordered, read-only mapping of parameter names to parameters."""

    def __init__(self, parameters: Mapping[str, Parameter]) -> None:
        self._parameters = dict(parameters)

    def __getitem__(self, name: str) -> Parameter:
        return self._parameters[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters)

    def __len__(self) -> int:
        return len(self._parameters)

    def __repr__(self) -> str:
        return f"SearchSpace({self._parameters!r})"

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """One independent draw of every active parameter, in the shape the trial receives."""
        params: dict[str, Any] = {}
        for name, param in self.items():
            value = param.sample(rng)
            if isinstance(value, Branch):
                value = {"_name": value.name, **value.space.sample(rng)}
            params[name] = value
        return params

    def contains(self, params: Mapping[str, Any]) -> bool:
        """Whether `params` is exactly a value this space can produce (same keys, in range)."""
        return self.mismatch(params) is None

    def mismatch(self, params: Mapping[str, Any]) -> str | None:
        """Why `params` is not a value this space can produce (None when it is)."""
        for name in self:
            if name not in params:
                return f"{name!r} is missing"
        for name in params:
            if name not in self:
                return f"{name!r} is not a parameter of the search space"
        for name, param in self.items():
            if not _admits(param, params[name]):
                return f"{name!r}: {json.dumps(params[name])} is not a value of {param}"
        return None


def _admits(param: Parameter, value: Any) -> bool:
    match param:
        case Choice(options=options) if param.nested:
            if not isinstance(value, dict) or "_name" not in value:
                return False
            inner = {k: v for k, v in value.items() if k != "_name"}
            return any(b.name == value["_name"] and b.space.contains(inner) for b in options)
        case Choice(options=options):
            return any(value == o and type(value) is type(o) for o in options)
        case RandInt(low=low, high=high):
            return isinstance(value, int) and not isinstance(value, bool) and low <= value < high
        case Uniform(low=low, high=high, q=q):
            # clipping can leave a bound that is not a multiple of q: NNI produces it too
            on_grid = _on_grid(value, q) or value in (low, high)
            return isinstance(value, float) and low <= value <= high and on_grid
        case Normal(q=q, log=log):
            return isinstance(value, float) and (not log or value >= 0) and _on_grid(value, q)
    return False


def _on_grid(value: float, q: float | None) -> bool:
    return q is None or math.isclose(value / q, round(value / q), abs_tol=1e-6)


def parse(doc: Document) -> SearchSpace:
    """Validate and type a search-space document; every mistake is a located ConfigError."""
    problems: list[Problem] = []
    space = _parse_space(doc, doc.data, (), problems)
    if problems:
        raise ConfigError(problems)
    if not space:
        raise doc.error((), "the search space is empty; add at least one parameter")
    return space


def _parse_space(doc: Document, raw: Any, loc: Loc, problems: list[Problem]) -> SearchSpace:
    if not isinstance(raw, dict):
        problems.append(doc.problem(loc, f"must be a JSON object of parameters, got {_kind(raw)}"))
        return SearchSpace({})
    parsed: dict[str, Parameter] = {}
    for name, spec in raw.items():
        if loc and name == "_name":
            continue
        param = _parse_parameter(doc, spec, (*loc, name), problems)
        if param is not None:
            parsed[name] = param
    return SearchSpace(parsed)


def _parse_parameter(
    doc: Document, spec: Any, loc: Loc, problems: list[Problem]
) -> Parameter | None:
    def fail(where: Loc, message: str) -> None:
        problems.append(doc.problem(where, message))

    if not isinstance(spec, dict):
        fail(
            loc,
            f'must be an object like {{"_type": "uniform", "_value": [0, 1]}}, got {_kind(spec)}',
        )
        return None
    for key in spec:
        if key not in ("_type", "_value"):
            fail((*loc, key), 'unknown key; a parameter has only "_type" and "_value"')
            return None
    if "_type" not in spec or "_value" not in spec:
        fail(loc, f'missing "{"_type" if "_type" not in spec else "_value"}"')
        return None
    type_, values = spec["_type"], spec["_value"]
    if type_ not in TYPES:
        fail((*loc, "_type"), f"must be one of {', '.join(TYPES)}, got {_show(type_)}")
        return None
    vloc = (*loc, "_value")
    if not isinstance(values, list):
        fail(vloc, f"must be a list, got {_kind(values)}")
        return None
    if type_ == "choice":
        return _parse_choice(doc, values, vloc, problems)
    arity = 3 if type_.startswith("q") else 2
    if len(values) != arity:
        fail(vloc, f"{type_} takes exactly {arity} numbers, got {len(values)}")
        return None
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int | float) or not _finite(v):
            fail((*vloc, i), f"must be a finite number, got {_show(v)}")
            return None
        if type_ == "randint" and not isinstance(v, int):
            fail((*vloc, i), f"randint bounds must be integers, got {_show(v)}")
            return None
        if type_ == "randint" and not -(2**63) <= v < 2**63:
            fail((*vloc, i), f"randint bounds must fit in 64 bits, got {_show(v)}")
            return None
    reason = _unrepresentable(type_, [float(v) for v in values])
    if reason:
        fail(vloc, f"{type_} {_show(values)}: {reason}")
        return None
    q = float(values[2]) if arity == 3 else None
    if q is not None and q <= 0:
        fail((*vloc, 2), f"q must be > 0, got {_show(values[2])}")
        return None
    first, second = values[0], values[1]
    if "normal" in type_:
        if second <= 0:
            fail((*vloc, 1), f"sigma must be > 0, got {_show(second)}")
            return None
        return Normal(float(first), float(second), q, "log" in type_)
    if second <= first:
        fail(vloc, f"{type_} needs low < high, got {_show(values[:2])}")
        return None
    if type_ == "randint":
        return RandInt(int(first), int(second))
    if "log" in type_ and first <= 0:
        fail((*vloc, 0), f"{type_} needs low > 0, got {_show(first)}")
        return None
    return Uniform(float(first), float(second), q, "log" in type_)


def _not_json(value: Any) -> str:
    """Why `value` cannot reach a trial as strict JSON ("" when it can)."""
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        return "contains text that is not valid Unicode (a lone surrogate)"
    except ValueError:
        return f"must be a finite number {NOT_JSON}, got {json.dumps(value)}"
    except TypeError:
        return f"must be a JSON value, got {value!r}"
    return ""


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float range
        return False


def _unrepresentable(type_: str, values: list[float]) -> str:
    """Why values drawn from these arguments would overflow a float ("" when they would not)."""
    first, second = values[0], values[1]
    q = values[2] if len(values) == 3 else None
    if "normal" in type_:
        reach = abs(first) + 10 * second  # ten sigma: beyond it nothing is ever drawn
        if "log" in type_:
            if reach > 700:
                return "exp(mu + 10 sigma) overflows; lower mu or sigma"
            reach = math.exp(reach)
    else:
        if not math.isfinite(second - first):
            return "the range is too wide to draw from"
        reach = max(abs(first), abs(second))
    if not math.isfinite(reach) or (q is not None and q > 0 and not math.isfinite(reach / q)):
        return "q is too small for this range" if q else "values would overflow"
    return ""


def _parse_choice(
    doc: Document, values: list[Any], loc: Loc, problems: list[Problem]
) -> Parameter | None:
    if not values:
        problems.append(doc.problem(loc, "choice needs at least one option"))
        return None
    named = [isinstance(v, dict) and "_name" in v for v in values]
    if not any(named):
        for i, v in enumerate(values):
            # a dict of constants is a whole configuration (BatchTuner); one holding parameters
            # is a nested option that lost its "_name"
            if isinstance(v, dict) and any(
                isinstance(x, dict) and "_type" in x for x in v.values()
            ):
                problems.append(doc.problem((*loc, i), 'a nested option needs a "_name" key'))
                return None
        if _not_json(values):  # checked whole, then halved down to the first culprit
            low, high = 0, len(values)
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (low, middle) if _not_json(values[low:middle]) else (middle, high)
            problems.append(doc.problem((*loc, low), _not_json(values[low])))
            return None
        return Choice(tuple(values))
    if not all(named):
        bad = named.index(False)
        problems.append(
            doc.problem(
                (*loc, bad), 'in a nested choice every option must be an object with "_name"'
            )
        )
        return None
    branches = []
    for i, option in enumerate(values):
        name = option["_name"]
        if not isinstance(name, str | int | float) or isinstance(name, bool):
            problems.append(
                doc.problem((*loc, i, "_name"), f"must be a string or number, got {_show(name)}")
            )
            return None
        if _not_json(name):
            problems.append(doc.problem((*loc, i, "_name"), _not_json(name)))
            return None
        branches.append(Branch(name, _parse_space(doc, option, (*loc, i), problems)))
    first: dict[Any, int] = {}
    for i, branch in enumerate(branches):
        if first.setdefault(branch.name, i) != i:
            problems.append(
                doc.problem((*loc, i, "_name"), f"duplicate _name {_show(branch.name)}")
            )
            return None
    return Choice(tuple(branches))


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else f"the number {value}"
    )


def _show(value: Any) -> str:
    return json.dumps(value)
