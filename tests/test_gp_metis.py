"""GPTuner and MetisTuner: NNI's classArgs, determinism, quality, speed, a local run; and the
benchmark references' fidelity to NNI's domain (issue 21)."""

from __future__ import annotations

import inspect
import math
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from nnifc.records import Params, Result
from nnifc.space import Choice, RandInt, SearchSpace, Uniform
from nnifc.tuners import TUNERS, Tuner, gp_model
from tests.conftest import created_id, run_nnifc, status_json

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SMOOTH = SearchSpace({f"x{i}": Uniform(-2.0, 3.0) for i in range(4)})


def bowl(params: Mapping[str, Any]) -> float:
    return float(sum((v - 0.7) ** 2 for v in params.values()))


def best_after(tuner: Tuner, n: int, seed: int) -> float:
    history: list[Result] = []
    for i in range(n):
        params = tuner.propose(history, [], np.random.default_rng([seed, i]))
        assert params is not None
        history.append(Result(params, bowl(params)))
    return min(r.loss for r in history)


def make(name: str, space: SearchSpace = SMOOTH, **options: Any) -> Tuner:
    cls = TUNERS[name]
    return cls(space, cls.Options.model_validate(options))


def nni_defaults(cls: type) -> dict[str, Any]:
    return {
        k: p.default
        for k, p in inspect.signature(cls).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def test_class_args_defaults_are_nnis() -> None:
    from nni.algorithms.hpo.gp_tuner import GPTuner
    from nni.algorithms.hpo.metis_tuner import MetisTuner

    for ours, theirs in (("GPTuner", GPTuner), ("MetisTuner", MetisTuner)):
        defaults = nni_defaults(theirs)
        assert TUNERS[ours].default_optimize_mode == defaults.pop("optimize_mode") == "maximize"
        options = TUNERS[ours].Options().model_dump()
        assert {k: options[k] for k in defaults} == defaults
        # NNI's own classArgs, as a config gives them, are accepted
        TUNERS[ours].Options.model_validate({"optimize_mode": "minimize", **defaults})


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("GPTuner", {"utility": "lcb"}),
        ("GPTuner", {"nu": 0.0}),
        ("GPTuner", {"alpha": -1.0}),
        ("GPTuner", {"cold_start_num": "10"}),
        ("GPTuner", {"selection_num_warm_up": 0}),
        ("GPTuner", {"no_resampling": True}),
        ("MetisTuner", {"no_resampling": "yes"}),
        ("MetisTuner", {"exploration_probability": 1.5}),
        ("MetisTuner", {"selection_num_starting_points": 0}),
        ("MetisTuner", {"kappa": 5.0}),
    ],
)
def test_bad_class_args_are_rejected(name: str, options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TUNERS[name].Options.model_validate(options)


@pytest.mark.parametrize("name", ["GPTuner", "MetisTuner"])
def test_the_rng_alone_decides(name: str) -> None:
    rng = np.random.default_rng(0)
    history = [Result(p, bowl(p)) for p in (SMOOTH.sample(rng) for _ in range(15))]
    pending = [SMOOTH.sample(rng)]

    def proposal(seed: int) -> Params | None:
        return make(name).propose(history, pending, np.random.default_rng(seed))

    assert proposal(1) == proposal(1)
    assert len({tuple(sorted(p.items())) for p in map(proposal, range(6)) if p}) > 1


@pytest.mark.parametrize("name", ["GPTuner", "MetisTuner"])
def test_beats_random_on_a_smooth_problem(name: str) -> None:
    seeds = range(5)
    ours = statistics.median(best_after(make(name), 25, s) for s in seeds)
    chance = statistics.median(best_after(make("Random"), 25, s) for s in seeds)
    assert ours < 0.5 * chance, (ours, chance)


def test_running_trials_push_the_next_proposals_apart() -> None:
    rng = np.random.default_rng(3)
    history = [Result(p, bowl(p)) for p in (SMOOTH.sample(rng) for _ in range(20))]
    tuner = make("GPTuner")
    pending: list[Params] = []
    for i in range(4):
        params = tuner.propose(history, pending, np.random.default_rng([4, i]))
        assert params is not None
        pending.append(params)
    points = np.array([[p[k] for k in SMOOTH] for p in pending])
    gaps = [np.linalg.norm(a - b) for i, a in enumerate(points) for b in points[i + 1 :]]
    assert min(gaps) > 0.05, pending


def test_the_model_sees_the_good_losses_as_they_are_and_tames_the_bad() -> None:
    """Near the optimum the GP needs the losses' own differences (normal scores of ranks made
    0.40 vs 0.41 as far apart as 3 vs 1e6: 2.7x NNI's regret on Branin); far losses and a FAILED
    trial's inf must not flatten the rest."""
    losses = np.array([0.40, 0.41, 0.50, 0.60, 1.0, 2.0, 3.0, 1e6, math.inf, 0.45])
    y = gp_model.standardised(losses)
    assert np.isfinite(y).all() and abs(y.mean()) < 1e-9 and abs(y.std() - 1.0) < 1e-9
    good = (y[1] - y[0]) / (y[9] - y[0])
    assert good == pytest.approx((0.41 - 0.40) / (0.45 - 0.40))  # below the lower quartile
    assert list(np.argsort(y, kind="stable")) == list(np.argsort(losses, kind="stable"))
    assert y[8] == y[7]  # inf counts as the worst finite loss
    assert (y[7] - y[6]) < 50 * (y[6] - y[0])  # raw, 1e6 would be 385,000 times further
    assert (gp_model.standardised(np.array([math.inf, math.inf])) == 0).all()


def test_values_follow_nnis_rounding() -> None:
    space = SearchSpace(
        {
            "q": Uniform(1.0, 10.0, q=3.0),  # NNI: round to multiples of 3, then clip: 1..10
            "n": RandInt(-3, 4),
            "c": Choice((0.5, 8, 2)),
        }
    )
    tuner = make("GPTuner", space, cold_start_num=2)
    history: list[Result] = []
    for i in range(25):
        params = tuner.propose(history, [], np.random.default_rng([9, i]))
        assert params is not None and space.contains(params), params
        history.append(Result(params, abs(params["q"] - 6) + params["n"] ** 2 + params["c"]))
    assert {r.params["q"] for r in history} <= {1.0, 3.0, 6.0, 9.0, 10.0}


def test_gp_proposes_within_50_ms_at_200_results() -> None:
    """The issue's bound is 50 ms of the launcher's time. Measured as this thread's CPU time
    (BLAS limited to this thread), so other tests on the machine do not count; 2x for noise."""
    from threadpoolctl import threadpool_limits

    space = SearchSpace({f"x{i}": Uniform(-5.0, 10.0) for i in range(10)})
    rng = np.random.default_rng(0)
    history = [Result(p, bowl(p)) for p in (space.sample(rng) for _ in range(200))]
    tuner = make("GPTuner", space)
    times = []
    with threadpool_limits(1):  # as the launcher runs tuners
        for i in range(7):
            start = time.thread_time()
            tuner.propose(history, [], np.random.default_rng(i))
            times.append(time.thread_time() - start)
    assert statistics.median(times) < 0.1, times


TRIAL = """\
    from nnifc import trial as nni

    params = nni.get_next_parameter()
    nni.report_final_result(-((params["x"] - 0.3) ** 2) - 0.1 * (params["k"] - 3) ** 2)
"""


@pytest.mark.parametrize("name", ["GPTuner", "MetisTuner"])
def test_runs_end_to_end_on_the_local_platform(
    name: str, home: Path, experiment_files: Callable[..., Path]
) -> None:
    config = experiment_files(TRIAL, tuner=name, max_trials=14, concurrency=2)
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 0, result.stderr
    data = status_json(created_id(result))
    assert data["status"] == "DONE"
    assert [t["status"] for t in data["trials"]] == ["SUCCEEDED"] * 14
    for trial in data["trials"]:
        assert 0 <= trial["parameters"]["x"] <= 1 and trial["parameters"]["k"] in range(1, 5)
    assert len({(t["parameters"]["x"], t["parameters"]["k"]) for t in data["trials"]}) == 14


@pytest.fixture
def references() -> Any:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import references as module

        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))
        sys.modules.pop("references", None)


OFF_GRID = SearchSpace({"a": Uniform(1.0, 10.0, q=3.0), "b": Uniform(1.0, 10.0, q=4.0)})


def off_grid(params: Mapping[str, Any]) -> float:
    return float(abs(params["a"] - 5.5) + abs(params["b"] - 5.5))


@pytest.mark.parametrize("library", ["optuna", "hyperopt"])
def test_references_evaluate_only_points_of_nnis_domain(library: str, references: Any) -> None:
    """NNI rounds quniform to multiples of q, then clips; optuna's grid started at low (4, 7) and
    hyperopt's was not clipped (0, 12)."""
    pytest.importorskip(library)
    objective = references.in_domain(OFF_GRID, library, off_grid)
    if library == "optuna":
        losses = references.run_optuna(OFF_GRID, objective, 0, 30)
    else:
        losses = references.run_hyperopt("tpe", OFF_GRID, objective, 0, 30)
    assert len(losses) == 30


def test_the_domain_check_names_the_point(references: Any) -> None:
    objective = references.in_domain(OFF_GRID, "someone", off_grid)
    assert math.isclose(float(objective({"a": 3.0, "b": 10.0})), 7.0)
    with pytest.raises(ValueError, match=r"someone evaluated .*'a': 4\.0"):
        objective({"a": 4.0, "b": 8.0})


@pytest.mark.parametrize(
    ("concurrent", "order"),
    [
        (False, "a0 a1 a2 t0 t1 t2 a3 a4 t3 t4"),  # rounds of 3
        (True, "a0 a1 a2 t0 a3 t1 a4 t2 t3 t4"),  # 3 running, the oldest told before each ask
    ],
)
def test_references_run_in_rounds_or_with_trials_running(
    references: Any, concurrent: bool, order: str
) -> None:
    calls: list[str] = []
    asked = iter(range(5))

    def ask() -> int:
        i = next(asked)
        calls.append(f"a{i}")
        return i

    def tell(i: int) -> float:
        calls.append(f"t{i}")
        return float(i)

    assert references.in_slots(ask, tell, 5, 3, concurrent) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert " ".join(calls) == order


@pytest.mark.parametrize("algorithm", ["tpe", "anneal"])
def test_hyperopt_runs_with_trials_running(references: Any, algorithm: str) -> None:
    pytest.importorskip("hyperopt")
    seen: list[Mapping[str, Any]] = []

    def recorded(params: Mapping[str, Any]) -> float:
        seen.append(dict(params))
        return off_grid(params)

    objective = references.in_domain(OFF_GRID, algorithm, recorded)
    losses = references.run_hyperopt(algorithm, OFF_GRID, objective, 0, 30, 4, True)
    assert losses == [off_grid(p) for p in seen] and len(losses) == 30
