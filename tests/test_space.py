"""Search spaces: NNI's exact sampling semantics, and properties of parse and sample.

Every space here is written to a .json file and read back through `document.load` and
`space.parse`, as `nnifc create` reads one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnifc import document, space
from nnifc.errors import ConfigError
from nnifc.space import TYPES, SearchSpace, Uniform

Load = Callable[[Any], SearchSpace]


def load_file(path: Path, data: Any) -> SearchSpace:
    path.write_text(json.dumps(data), encoding="utf-8")
    return space.parse(document.load(path))


@pytest.fixture
def load(tmp_path: Path) -> Load:
    return lambda data: load_file(tmp_path / "search_space.json", data)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """For Hypothesis tests, which must not use function-scoped fixtures."""
    return tmp_path_factory.mktemp("spaces")


def draws(s: SearchSpace, n: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [s.sample(rng) for _ in range(n)]


def values(load: Load, type_: str, value: list[Any], n: int = 2000) -> list[Any]:
    return [d["x"] for d in draws(load({"x": {"_type": type_, "_value": value}}), n)]


# NNI's semantics, case by case


def test_randint_upper_bound_is_exclusive(load: Load) -> None:
    assert set(values(load, "randint", [0, 3])) == {0, 1, 2}
    assert set(values(load, "randint", [-2, 1])) == {-2, -1, 0}
    assert set(values(load, "randint", [5, 6], n=50)) == {5}
    assert all(type(v) is int for v in values(load, "randint", [0, 100]))


def test_quniform_yields_only_the_grid(load: Load) -> None:
    assert set(values(load, "quniform", [0, 10, 2.5])) == {0.0, 2.5, 5.0, 7.5, 10.0}


def test_quniform_clips_after_rounding(load: Load) -> None:
    # round(U(2, 10) / 5) * 5 is 0, 5 or 10; the 0 is clipped up to 2
    assert set(values(load, "quniform", [2, 10, 5])) == {2.0, 5.0, 10.0}


def test_quniform_rounds_half_to_even(load: Load) -> None:
    param = load({"x": {"_type": "quniform", "_value": [0, 10, 2.5]}})["x"]
    assert isinstance(param, Uniform)
    assert param.finish(1.25) == 0.0  # round(0.5) == 0
    assert param.finish(3.75) == 5.0  # round(1.5) == 2
    assert param.finish(6.25) == 5.0  # round(2.5) == 2


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        ("quniform", [0, 10, 1]),
        ("qloguniform", [1, 100, 1]),
        ("qnormal", [0, 5, 1]),
        ("qlognormal", [1, 1, 1]),
    ],
)
def test_q_types_return_floats(load: Load, type_: str, value: list[float]) -> None:
    got = values(load, type_, value, n=500)
    assert all(type(v) is float for v in got)
    assert all(v == round(v) for v in got)  # integral values, still floats


def test_qloguniform_is_clipped_to_the_original_bounds(load: Load) -> None:
    # round(logU(1, 7) / 4) * 4 is 0, 4 or 8: 0 is clipped up to 1, 8 down to 7
    assert set(values(load, "qloguniform", [1, 7, 4])) == {1.0, 4.0, 7.0}


def test_qnormal_is_not_clipped(load: Load) -> None:
    got = values(load, "qnormal", [0, 1, 0.5], n=5000)
    assert all(math.isclose(v / 0.5, round(v / 0.5)) for v in got)
    assert min(got) < -2 and max(got) > 2  # tails reach past mu +- 2 sigma


def test_qlognormal_is_not_clipped(load: Load) -> None:
    got = values(load, "qlognormal", [0, 1, 1], n=5000)
    assert 0.0 in got  # exp(x) < 0.5 rounds to 0, which is kept
    assert max(got) > math.exp(2)


def test_lognormal_is_positive(load: Load) -> None:
    for mu, sigma in ((0, 1), (-10, 0.5), (3, 2)):
        got = values(load, "lognormal", [mu, sigma], n=1000)
        assert all(type(v) is float and v > 0 for v in got)


def test_uniform_and_normal_are_floats_in_range(load: Load) -> None:
    got = values(load, "uniform", [1, 2])
    assert all(type(v) is float and 1 <= v <= 2 for v in got)
    got = values(load, "loguniform", [1e-4, 1e-1])
    assert all(type(v) is float and 1e-4 <= v <= 1e-1 for v in got)
    got = values(load, "normal", [10, 0.1])
    assert all(type(v) is float for v in got)
    assert 9.9 < sum(got) / len(got) < 10.1


def test_choice_keeps_the_options_as_written(load: Load) -> None:
    options: list[Any] = ["relu", 1, 2.5, True, None]
    got = values(load, "choice", options)
    assert {json.dumps(v) for v in got} == {json.dumps(o) for o in options}


NESTED = {
    "layer0": {
        "_type": "choice",
        "_value": [
            {"_name": "Empty"},
            {"_name": "Conv", "kernel_size": {"_type": "choice", "_value": [1, 2, 3, 5]}},
            {
                "_name": "Block",
                "act": {
                    "_type": "choice",
                    "_value": [
                        {"_name": "relu"},
                        {"_name": "prelu", "alpha": {"_type": "uniform", "_value": [0, 1]}},
                    ],
                },
                "width": {"_type": "randint", "_value": [1, 4]},
            },
        ],
    },
    "lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
}


def test_nested_choice_yields_only_the_chosen_branch(load: Load) -> None:
    s = load(NESTED)
    seen: set[str] = set()
    for d in draws(s, 1000):
        assert set(d) == {"layer0", "lr"}
        layer = d["layer0"]
        seen.add(layer["_name"])
        if layer["_name"] == "Empty":
            assert layer == {"_name": "Empty"}
        elif layer["_name"] == "Conv":
            assert set(layer) == {"_name", "kernel_size"}
            assert layer["kernel_size"] in (1, 2, 3, 5)
        else:
            assert set(layer) == {"_name", "act", "width"}
            assert layer["width"] in (1, 2, 3)
            act = layer["act"]
            assert act == {"_name": "relu"} or (
                set(act) == {"_name", "alpha"}
                and act["_name"] == "prelu"
                and 0 <= act["alpha"] <= 1
            )
        assert s.contains(d)
    assert seen == {"Empty", "Conv", "Block"}


def test_contains_rejects_what_the_space_cannot_produce(load: Load) -> None:
    s = load(NESTED)
    good = {"layer0": {"_name": "Conv", "kernel_size": 3}, "lr": 0.01}
    assert s.contains(good)
    assert not s.contains({"layer0": {"_name": "Conv", "kernel_size": 3}})  # a key missing
    assert not s.contains({**good, "extra": 1})
    assert not s.contains({**good, "lr": 0.5})  # above high
    assert not s.contains({**good, "layer0": {"_name": "Conv", "kernel_size": 4}})
    assert not s.contains({**good, "layer0": {"_name": "Empty", "kernel_size": 3}})
    assert not s.contains({**good, "layer0": {"_name": "Pool"}})
    assert not s.contains({**good, "layer0": "Conv"})
    r = load({"n": {"_type": "randint", "_value": [0, 3]}})
    assert not r.contains({"n": 3})
    assert not r.contains({"n": 1.0})
    assert not r.contains({"n": True})


def test_contains_accepts_clipped_bounds(load: Load) -> None:
    """quniform [2, 10, 5] yields 2.0 and qloguniform [1, 7, 4] yields 1.0 and 7.0: off the grid."""
    for value in ([2, 10, 5], [1, 7, 4]):
        type_ = "quniform" if value[0] == 2 else "qloguniform"
        s = load({"x": {"_type": type_, "_value": value}})
        for d in draws(s, 500):
            assert s.contains(d), d


def test_seeded_sampling_is_reproducible(load: Load) -> None:
    s = load({**NESTED, **EVERY_TYPE})
    assert draws(s, 50, seed=7) == draws(s, 50, seed=7)
    assert draws(s, 50, seed=7) != draws(s, 50, seed=8)


EVERY_TYPE: dict[str, Any] = {
    "choice": {"_type": "choice", "_value": ["a", "b", 3]},
    "randint": {"_type": "randint", "_value": [0, 10]},
    "uniform": {"_type": "uniform", "_value": [-1, 1]},
    "quniform": {"_type": "quniform", "_value": [0, 10, 2.5]},
    "loguniform": {"_type": "loguniform", "_value": [1e-3, 1]},
    "qloguniform": {"_type": "qloguniform", "_value": [1, 100, 5]},
    "normal": {"_type": "normal", "_value": [0, 1]},
    "qnormal": {"_type": "qnormal", "_value": [0, 10, 2]},
    "lognormal": {"_type": "lognormal", "_value": [0, 1]},
    "qlognormal": {"_type": "qlognormal", "_value": [2, 1, 3]},
}


def test_every_type_parses_and_samples(load: Load) -> None:
    s = load(EVERY_TYPE)
    assert list(s) == list(EVERY_TYPE)
    for d in draws(s, 200):
        for name, spec in EVERY_TYPE.items():
            check(spec, d[name])


# Inputs parse accepts or chokes on, found while writing these tests


def test_parse_rejects_an_integer_beyond_float_range(tmp_path: Path) -> None:
    path = tmp_path / "space.json"
    path.write_text('{"x": {"_type": "normal", "_value": [0, 1' + "0" * 400 + "]}}")
    with pytest.raises(ConfigError):
        space.parse(document.load(path))


def test_parse_rejects_deeply_nested_json(tmp_path: Path) -> None:
    path = tmp_path / "space.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError):
        space.parse(document.load(path))


def unsampleable(spec: dict[str, Any], id: str, error: type[Exception], reason: str) -> Any:
    """A space that once parsed but could not be sampled (`error`: `reason`); now refused."""
    return pytest.param(spec, id=id)


@pytest.mark.parametrize(
    "spec",
    [
        unsampleable(
            {"_type": "randint", "_value": [0, 10**20]},
            "randint-beyond-int64",
            ValueError,
            "rng.integers raises ValueError('high is out of bounds for int64')",
        ),
        unsampleable(
            {"_type": "uniform", "_value": [-1e308, 1e308]},
            "uniform-range-overflow",
            OverflowError,
            "rng.uniform raises OverflowError('high - low range exceeds valid bounds')",
        ),
        unsampleable(
            {"_type": "lognormal", "_value": [1000, 1]},
            "lognormal-exp-overflow",
            OverflowError,
            "math.exp raises OverflowError('math range error')",
        ),
        unsampleable(
            {"_type": "quniform", "_value": [0, 10, 1e-320]},
            "quniform-tiny-q",
            OverflowError,
            "round(x / q) raises OverflowError('cannot convert float infinity to integer')",
        ),
        unsampleable(
            {"_type": "qnormal", "_value": [0, 1, 1e-320]},
            "qnormal-tiny-q",
            OverflowError,
            "round(x / q) raises OverflowError('cannot convert float infinity to integer')",
        ),
    ],
)
def test_a_parsed_space_can_be_sampled(load: Load, spec: dict[str, Any]) -> None:
    """Parse refuses a space whose values would overflow, instead of failing at sampling."""
    with pytest.raises(ConfigError):
        load({"x": spec})


# Properties


def on_grid(value: float, q: float) -> bool:
    return math.isclose(value / q, round(value / q), abs_tol=1e-6)


def check(spec: dict[str, Any], value: Any) -> None:
    """`value` is what NNI's semantics allow for `spec`, judged from the JSON alone."""
    type_, v = spec["_type"], spec["_value"]
    if type_ == "choice":
        if all(isinstance(o, dict) and "_name" in o for o in v):
            assert isinstance(value, dict)
            (branch,) = [o for o in v if o["_name"] == value["_name"]]
            inner = {k: s for k, s in branch.items() if k != "_name"}
            assert set(value) == {"_name", *inner}
            for k, s in inner.items():
                check(s, value[k])
        else:
            assert any(value == o and type(value) is type(o) for o in v)
        return
    if type_ == "randint":
        assert type(value) is int and v[0] <= value < v[1]
        return
    assert type(value) is float and math.isfinite(value)
    if type_ in ("uniform", "loguniform"):
        assert v[0] <= value <= v[1]
    elif type_ in ("quniform", "qloguniform"):
        assert v[0] <= value <= v[1]
        assert value in (v[0], v[1]) or on_grid(value, v[2])
    elif type_ == "qnormal":
        assert on_grid(value, v[2])
    elif type_ == "lognormal":
        assert value > 0
    elif type_ == "qlognormal":
        assert value >= 0 and on_grid(value, v[2])


def floats(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def numbers(low: int, high: int) -> st.SearchStrategy[float]:
    return st.one_of(st.integers(low, high), floats(low, high))


def steps() -> st.SearchStrategy[float]:
    return st.one_of(st.integers(1, 20), floats(0.01, 20))


@st.composite
def leaf(draw: st.DrawFn, type_: str) -> dict[str, Any]:
    """A valid parameter of `type_`, kept to ranges where floats stay exact enough."""
    value: list[Any]
    low: float
    if type_ == "choice":
        option = st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-1000, 1000),
            floats(-1e6, 1e6),
            st.text(max_size=4),
        )
        value = draw(st.lists(option, min_size=1, max_size=5))
    elif type_ == "randint":
        start = draw(st.integers(-1000, 1000))
        value = [start, start + draw(st.integers(1, 1000))]
    elif type_ == "uniform":
        low = draw(numbers(-1000, 1000))
        value = [low, low + draw(st.one_of(st.integers(1, 1000), floats(1e-3, 1000)))]
    elif type_ == "loguniform":
        low = draw(floats(1e-6, 1000))
        value = [low, low * draw(floats(1.001, 1000))]
    elif type_ in ("quniform", "qloguniform"):
        q = draw(steps())
        if draw(st.booleans()):  # bounds on the grid
            k = draw(st.integers(1 if type_ == "qloguniform" else -100, 100))
            value = [k * q, (k + draw(st.integers(1, 100))) * q, q]
        else:  # bounds anywhere: clipping yields them as they are
            low = draw(floats(1e-3, 1000) if type_ == "qloguniform" else numbers(-1000, 1000))
            value = [low, low + draw(floats(1e-3, 1000)), q]
    elif type_ in ("normal", "qnormal"):
        value = [
            draw(numbers(-1000, 1000)),
            draw(st.one_of(st.integers(1, 100), floats(1e-3, 100))),
        ]
        if type_ == "qnormal":
            value.append(draw(steps()))
    else:  # lognormal, qlognormal
        value = [draw(floats(-5, 3)), draw(floats(1e-3, 1))]
        if type_ == "qlognormal":
            value.append(draw(st.one_of(st.integers(1, 10), floats(0.1, 10))))
    return {"_type": type_, "_value": value}


NAMES = st.text(min_size=1, max_size=6)


def parameters(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    """Any of the 10 types; with depth > 0 also a nested choice whose branches go depth - 1 down."""
    flat = st.sampled_from(TYPES).flatmap(leaf)
    if depth == 0:
        return flat
    branch_names = st.lists(NAMES, min_size=1, max_size=3, unique=True)
    inner = st.dictionaries(NAMES.filter(lambda n: n != "_name"), parameters(depth - 1), max_size=3)
    nested = branch_names.flatmap(
        lambda names: st.tuples(*[inner for _ in names]).map(
            lambda spaces: {
                "_type": "choice",
                "_value": [{"_name": n, **s} for n, s in zip(names, spaces, strict=True)],
            }
        )
    )
    return st.one_of(flat, nested)


SPACES = st.dictionaries(NAMES, parameters(2), min_size=1, max_size=5)


@settings(max_examples=150, deadline=None)
@given(data=SPACES, seed=st.integers(0, 2**32 - 1))
def test_samples_of_valid_spaces_lie_in_the_space(
    workdir: Path, data: dict[str, Any], seed: int
) -> None:
    s = load_file(workdir / "valid.json", data)
    assert list(s) == list(data)
    got = draws(s, 20, seed)
    assert got == draws(s, 20, seed)
    for d in got:
        assert s.contains(d), d
        assert set(d) == set(data)
        for name, spec in data.items():
            check(spec, d[name])


# Integers stay within 2**64: beyond float range parse raises OverflowError
# (test_parse_rejects_an_integer_beyond_float_range).
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**64), 2**64), st.floats(), st.text(max_size=5)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)
TYPE_NAMES = st.one_of(st.sampled_from(TYPES), st.text(max_size=8), JSON)
NUMBERS = st.one_of(st.integers(-5, 5), floats(-5, 5))
VALUES = st.one_of(
    st.lists(NUMBERS, min_size=2, max_size=3),
    st.lists(st.one_of(NUMBERS, SCALARS), max_size=4),
    JSON,
)


def spaceish(depth: int) -> st.SearchStrategy[Any]:
    """Dicts shaped like search spaces, mostly right, with every part sometimes wrong."""
    core = st.fixed_dictionaries(
        {"_type": st.one_of(st.sampled_from(TYPES), TYPE_NAMES), "_value": VALUES}
    )
    odd = st.fixed_dictionaries(
        {"_type": TYPE_NAMES, "_value": VALUES}, optional={"_name": JSON, "extra": JSON}
    )
    param = st.one_of(core, odd)
    if depth > 0:
        option = st.one_of(
            st.tuples(st.sampled_from("abc"), spaceish(depth - 1)).map(
                lambda named: {"_name": named[0], **named[1]}
            ),
            st.fixed_dictionaries({"_name": st.one_of(st.sampled_from("ab"), SCALARS)}),
            JSON,
        )
        nested = st.fixed_dictionaries(
            {"_type": st.just("choice"), "_value": st.lists(option, max_size=3)}
        )
        param = st.one_of(param, nested, nested)
    return st.dictionaries(st.text(max_size=4), st.one_of(param, param, JSON), max_size=3)


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(JSON, spaceish(2)),
    ascii_only=st.booleans(),
    indent=st.sampled_from([None, 2, "\t"]),
)
def test_parse_raises_only_config_errors(
    workdir: Path, data: Any, ascii_only: bool, indent: int | str | None
) -> None:
    path = workdir / "any.json"
    text = json.dumps(data, ensure_ascii=ascii_only, indent=indent)
    path.write_bytes(text.encode("utf-8", "surrogatepass"))  # lone surrogates: not UTF-8
    try:
        s = space.parse(document.load(path))
    except ConfigError as e:
        assert e.problems
        assert all(p.file == path and str(p).startswith(str(path)) for p in e.problems)
        return
    assert isinstance(data, dict) and list(s) == list(data)
