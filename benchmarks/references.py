"""The reference tuners of issue 3 (optuna, hyperopt, NNI 3.0), run on tuners.py's problems.

They live apart from tuners.py so that the benchmark's own logic (nnifc's runners, the table, the
targets) reads without three other libraries' APIs in between. Every runner takes `batch`: 1 is
the sequential run; more is synchronous rounds of `batch` proposals made before any of their
results is known, then all of them told, the way tuners.py runs nnifc's `batch=8`. With
`concurrent`, `batch` trials run at once instead and a new one is asked as the oldest is told
(first in, first out), the way tuners.py runs nnifc's `concurrency=8` and nnifc's scheduler runs
trialConcurrency. Each library handles the pending proposals in its own way, described at its
runner.

`cached` keeps each reference run's losses on disk (benchmarks/.cache, gitignored), keyed by the
reference, problem, seed, trials, batch, classArgs if not the defaults, the reference library's
version and RUNNERS_VERSION, so a re-run of the benchmark only recomputes nnifc's tuners. Clear it
with `rm -rf benchmarks/.cache`; bump RUNNERS_VERSION when a runner or a problem changes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import warnings
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from nnifc.space import Choice, Normal, RandInt, SearchSpace, Uniform

Objective = Callable[[Mapping[str, Any]], float]

CACHE = Path(__file__).parent / ".cache"
RUNNERS_VERSION = 1  # bump when a runner or a problem changes: cached curves are then stale
_LIBRARY = {"optuna": "optuna", "hyperopt": "hyperopt", "nni": "nni"}


def cached(
    who: str,
    problem: str,
    seed: int,
    trials: int,
    batch: int,
    compute: Callable[[], list[float]],
    class_args: Mapping[str, Any] | None = None,
) -> list[float]:
    """compute()'s losses, from benchmarks/.cache when this run was made before (module doc);
    `class_args` other than the reference's defaults are part of the key."""
    library = _LIBRARY[who.split("-")[0]]
    version = f"v{RUNNERS_VERSION}-{library}-{metadata.version(library)}"
    args = "".join(f"-{k}={v}" for k, v in sorted((class_args or {}).items()))
    path = CACHE / version / who / f"{problem}-seed{seed}-trials{trials}-batch{batch}{args}.json"
    if path.exists():
        return [float(x) for x in json.loads(path.read_text())]
    losses = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(losses))
    partial.replace(path)  # whole or absent, were two runs to write it at once
    return losses


def run_optuna(
    space: SearchSpace,
    objective: Objective,
    seed: int,
    trials: int,
    batch: int = 1,
    concurrent: bool = False,
) -> list[float]:
    """optuna's multivariate TPE; ask() `batch` times, then tell() every result (or, concurrent,
    tell the oldest and ask again).

    With batch > 1 the sampler runs with constant_liar, optuna's documented setting for parallel
    runs: the asked, unfinished trials join the "bad" group. Sequential runs pass it off; in
    optuna 5.0 (where it defaults to on) that changes nothing, since the one running trial is the
    one being sampled and is left out.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sampler = optuna.samplers.TPESampler(multivariate=True, seed=seed, constant_liar=batch > 1)
        study = optuna.create_study(sampler=sampler)

        def ask() -> tuple[Any, dict[str, Any]]:
            trial = study.ask()
            return trial, _suggest(trial, space)  # params set now, seen as running

        def tell(asked: tuple[Any, dict[str, Any]]) -> float:
            trial, params = asked
            loss = objective(params)
            study.tell(trial, loss)
            return loss

        return in_slots(ask, tell, trials, batch, concurrent)


def in_slots(
    ask: Callable[[], Any],
    tell: Callable[[Any], float],
    trials: int,
    batch: int,
    concurrent: bool,
) -> list[float]:
    """The losses told, in order: rounds of `batch` asks then their tells, or (concurrent)
    `batch` asked at once, the oldest told before each new ask."""
    losses: list[float] = []
    running: list[Any] = []
    asked = 0
    while len(losses) < trials:
        if concurrent or not running:
            while asked < trials and len(running) < batch:
                running.append(ask())
                asked += 1
        losses.append(tell(running.pop(0)))
    return losses


def _suggest(trial: Any, space: SearchSpace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, p in space.items():
        if isinstance(p, Choice):
            params[key] = trial.suggest_categorical(key, list(p.options))
        elif isinstance(p, RandInt):
            params[key] = trial.suggest_int(key, p.low, p.high - 1)
        elif isinstance(p, Uniform):
            # a raw draw, rounded and clipped by NNI's rule (optuna's step grid starts at low)
            params[key] = p.finish(trial.suggest_float(key, p.low, p.high, log=p.log))
        else:
            raise NotImplementedError(p)
    return params


def run_hyperopt(
    algorithm: str,
    space: SearchSpace,
    objective: Objective,
    seed: int,
    trials: int,
    batch: int = 1,
    concurrent: bool = False,
) -> list[float]:
    """hyperopt's tpe or anneal through fmin, rounds of `batch` by fmin's `max_queue_len`; or,
    concurrent, through the calls fmin makes (see `_hyperopt_in_slots`).

    With in-memory Trials (not asynchronous), fmin fills its queue up to `max_queue_len` new
    trials, then evaluates all of them, and again: synchronous rounds. It asks the algorithm for
    the missing ones, and as long as it returns fewer docs than it was asked for, asks again
    with the rest; every call sees the same finished trials plus the round's earlier proposals as
    NEW docs. Both algorithms give those pending docs an infinite loss: tpe puts them among the
    "above" (bad) observations and counts them towards its 20 random start-up trials (below 20,
    it answers a whole request at once with random draws; from there, one doc per call); anneal
    counts them as observations, which narrows its neighbourhoods, and may pick one, ranked
    last, as the point to sample around. tpe.suggest is passed as it is; anneal.suggest takes
    exactly one id (ValueError otherwise), so it is asked for the first of them only.
    """
    from hyperopt import Trials, anneal, fmin, hp, tpe

    logging.getLogger("hyperopt").setLevel(logging.ERROR)
    hyper: dict[str, Any] = {}
    for key, p in space.items():
        if isinstance(p, Choice):
            hyper[key] = hp.choice(key, list(p.options))
        elif isinstance(p, RandInt):
            hyper[key] = hp.randint(key, p.low, p.high)
        elif isinstance(p, Uniform) and p.log:
            hyper[key] = hp.loguniform(key, math.log(p.low), math.log(p.high))
        elif isinstance(p, Uniform):
            hyper[key] = hp.uniform(key, p.low, p.high)  # q: NNI's rule on the raw draw, below
    record = Trials()
    suggest: Callable[..., Any]
    if algorithm == "tpe":
        suggest = tpe.suggest
    elif algorithm == "anneal":

        def suggest(new_ids: list[int], *args: Any) -> Any:
            return anneal.suggest(new_ids[:1], *args)

    else:
        raise ValueError(algorithm)

    def finished(params: Mapping[str, Any]) -> dict[str, Any]:
        return {k: _nni_rule(space[k], _plain(v)) for k, v in params.items()}

    if concurrent:
        return _hyperopt_in_slots(
            suggest, hyper, lambda params: objective(finished(params)), seed, trials, batch
        )
    fmin(
        lambda params: objective(finished(params)),
        hyper,
        algo=suggest,
        max_evals=trials,
        trials=record,
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
        max_queue_len=batch,
    )
    return [float(x) for x in record.losses()]


def _hyperopt_in_slots(
    suggest: Callable[..., Any],
    hyper: dict[str, Any],
    fn: Callable[[Any], float],
    seed: int,
    trials: int,
    slots: int,
) -> list[float]:
    """hyperopt with `slots` trials running, as with asynchronous workers (MongoTrials), the
    oldest finished before each new suggestion: fmin's own calls (new_trial_ids, the algorithm
    with a seed from the run's generator, insert_trial_docs, Domain.evaluate), one trial at a
    time. A running trial's document is in state RUNNING, as a worker leaves it: both algorithms
    see it as a point with no loss yet."""
    from hyperopt import Trials, base

    record = Trials()
    domain = base.Domain(fn, hyper)
    rstate = np.random.default_rng(seed)

    def ask() -> Any:
        new_ids = record.new_trial_ids(1)
        record.refresh()
        doc = suggest(new_ids, domain, record, rstate.integers(2**31 - 1))[0]
        doc["state"] = base.JOB_STATE_RUNNING
        record.insert_trial_docs([doc])
        record.refresh()
        return doc["tid"]

    def tell(tid: Any) -> float:
        doc = next(t for t in record._dynamic_trials if t["tid"] == tid)
        spec = base.spec_from_misc(doc["misc"])
        result = domain.evaluate(spec, base.Ctrl(record, current_trial=doc))
        doc["state"], doc["result"] = base.JOB_STATE_DONE, result
        record.refresh()
        return float(result["loss"])

    return in_slots(ask, tell, trials, slots, True)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _nni_rule(param: Any, value: Any) -> Any:
    """A uniform-family value rounded to a multiple of q, then clipped (NNI's rule)."""
    return param.finish(value) if isinstance(param, Uniform) else value


def in_domain(space: SearchSpace, who: str, objective: Objective) -> Objective:
    """`objective`, refusing any point outside nnifc's domain for `space`: a reference that
    measured other points than nnifc may would not be a fair comparison."""

    def checked(params: Mapping[str, Any]) -> float:
        reason = space.mismatch(params)
        if reason is not None:
            raise ValueError(f"{who} evaluated {dict(params)}, outside the space: {reason}")
        return objective(params)

    return checked


def run_nni(
    space: SearchSpace,
    objective: Objective,
    seed: int,
    trials: int,
    batch: int = 1,
    concurrent: bool = False,
) -> list[float]:
    """NNI 3.0's TpeTuner with its defaults; generate_parameters `batch` times, then the results
    (or, concurrent, the oldest's result before each new generate_parameters).

    NNI's own constant liar (default "best") gives every generated, unanswered parameter set the
    best loss so far while it proposes the next.
    """
    from nni.algorithms.hpo.tpe_tuner import TpeTuner

    logging.getLogger("nni").setLevel(logging.ERROR)
    tuner = TpeTuner(optimize_mode="minimize", seed=seed)
    tuner.update_search_space(nni_space(space))
    ids = iter(range(trials))

    def ask() -> tuple[int, Any]:
        i = next(ids)
        return i, tuner.generate_parameters(i)

    def tell(asked: tuple[int, Any]) -> float:
        i, params = asked
        loss = objective({k: _plain(v) for k, v in params.items()})
        tuner.receive_trial_result(i, params, loss)
        return loss

    return in_slots(ask, tell, trials, batch, concurrent)


def nni_space(space: SearchSpace) -> dict[str, dict[str, Any]]:
    """The NNI search-space JSON (`_type`, `_value`) that `space` was, or would be, parsed from."""
    raw: dict[str, dict[str, Any]] = {}
    for key, p in space.items():
        if isinstance(p, Choice) and not p.nested:
            raw[key] = {"_type": "choice", "_value": list(p.options)}
        elif isinstance(p, RandInt):
            raw[key] = {"_type": "randint", "_value": [p.low, p.high]}
        elif isinstance(p, Uniform | Normal):
            kind = ("log" if p.log else "") + ("uniform" if isinstance(p, Uniform) else "normal")
            values = [p.low, p.high] if isinstance(p, Uniform) else [p.mu, p.sigma]
            raw[key] = (
                {"_type": kind, "_value": values}
                if p.q is None
                else {"_type": "q" + kind, "_value": [*values, p.q]}
            )
        else:
            raise NotImplementedError(p)
    return raw


def run_nni_bo(
    name: str, space: SearchSpace, objective: Objective, seed: int, trials: int, **args: Any
) -> list[float] | None:
    """NNI 3.0's GPTuner or MetisTuner (`name` "GP" or "Metis"), sequentially; None when NNI
    refuses the space (GP takes numeric choices and no normal types, Metis no log types either).

    NNI 3.0 hands scipy.optimize.minimize a 2-D x0 and reads res.fun[0]; scipy 1.17 refuses the
    first and returns a float for the second, so both tuners fail as released. `_scipy_shim`
    flattens x0 and returns fun as a 1-element array, as the scipy NNI 3.0 was written for did.
    GPTuner draws from an unseeded RandomState and Metis from `random`: both are seeded here.
    """
    import random

    from nni.algorithms.hpo.gp_tuner import GPTuner
    from nni.algorithms.hpo.metis_tuner import MetisTuner

    _scipy_shim()
    logging.getLogger("nni").setLevel(logging.ERROR)
    logging.getLogger("GP_Tuner_AutoML").setLevel(logging.ERROR)
    logging.getLogger("Metis_Tuner_AutoML").setLevel(logging.ERROR)
    random.seed(seed)
    np.random.seed(seed)
    tuner: Any = (GPTuner if name == "GP" else MetisTuner)(optimize_mode="minimize", **args)
    if name == "GP":
        tuner._random_state = np.random.RandomState(seed)
        tuner._gp.random_state = tuner._random_state
    try:
        tuner.update_search_space(nni_space(space))
    except (ValueError, RuntimeError):
        return None
    losses: list[float] = []
    for i in range(trials):
        with warnings.catch_warnings(), _quiet():
            warnings.simplefilter("ignore")
            params = tuner.generate_parameters(i)
        loss = objective({k: _typed(space[k], _plain(v)) for k, v in params.items()})
        tuner.receive_trial_result(i, params, loss)
        losses.append(loss)
    return losses


def _typed(param: Any, value: Any) -> Any:
    return float(value) if isinstance(param, Uniform) and isinstance(value, int) else value


def _quiet() -> Any:
    """Metis prints to stdout and stderr on every proposal."""
    import contextlib
    import io

    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def _scipy_shim() -> None:
    import nni.algorithms.hpo.gp_tuner.util as gp_util
    import nni.algorithms.hpo.metis_tuner.lib_acquisition_function as metis_acquisition
    import scipy.optimize

    def minimize(fun: Callable[..., Any], x0: Any, *args: Any, **kwargs: Any) -> Any:
        def scalar(x: Any, *more: Any) -> float:
            return float(np.asarray(fun(x, *more)).ravel()[0])

        result = scipy.optimize.minimize(scalar, np.ravel(x0), *args, **kwargs)
        result.fun = np.atleast_1d(result.fun)
        return result

    gp_util.minimize = minimize
    metis_acquisition.minimize = minimize
