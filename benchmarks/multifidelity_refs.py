"""The reference methods of issue 19, as policies for multifidelity.py's simulated clock.

Apart from multifidelity.py so that its own logic reads without NNI's and optuna's APIs in between.
A policy answers three calls of the clock: `start(trial)` (parameters and the steps to run, or
None: the slot stays idle), `report(trial, step, loss)` after each step but the last (True: stop
the trial now) and `end(trial, loss, completed)`.

* NNI 3.0's Hyperband and BOHB run as NNI's dispatcher runs them: `handle_initialize`, then
  `handle_request_trial_jobs` for each free slot; a trial's end is its FINAL metric (sequence 0,
  what `nni.report_final_result` sends), `handle_trial_end`, then one more request, as NNI's
  manager does. Jobs the advisor "sends" are queued for the next free slot; an advisor that sends
  none (BOHB waits for its bracket) leaves the slot idle. Both need one change to run at all:
  NNI 3.0's `is_created_in_previous_exp` compares their string parameter ids with an int
  (TypeError on the first metric), so it answers False here, as in a fresh experiment. And
  BOHB's model samples each continuous parameter with one call of scipy's `truncnorm.rvs`,
  about 1 ms each (70 s per run here): those calls go to `_TruncNorm`, the same distribution by
  the inverse CDF, drawing its uniform from numpy's global generator as scipy's does.
* optuna's TPESampler (constant_liar when trials run in parallel, as optuna documents) with
  HyperbandPruner or SuccessiveHalvingPruner: every trial is asked for the maximum budget and
  reports each step; a pruned trial stops at once.

Their runs take most of a benchmark's time and do not change when nnifc does: `Cache` keeps
each run's outcome (and the sgd problem's learning curves) under benchmarks/.cache/, named by a
digest of everything that decides it (the code of the problem, the clock and this module, and
the versions of nni, optuna and numpy), so a re-run recomputes only nnifc's methods.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import types
import warnings
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from references import _suggest, nni_space
from scipy.special import ndtr, ndtri

from nnifc.space import SearchSpace

Start = tuple[Mapping[str, Any], int] | None
CACHE = Path(__file__).resolve().parent / ".cache" / "multifidelity"


class Cache:
    """JSON files under CACHE, each named by its key and the digest of what decided it."""

    def __init__(self, *deciding: object) -> None:
        texts = [inspect.getsource(d) if callable(d) else repr(d) for d in deciding]
        texts += [Path(__file__).read_text(), *(version(p) for p in ("nni", "optuna", "numpy"))]
        self.digest = hashlib.sha256("\0".join(texts).encode()).hexdigest()[:12]

    def path(self, key: str) -> Path:
        return CACHE / f"{key.replace(' ', '_')}-{self.digest}.json"

    def get(self, key: str) -> Any:
        try:
            return json.loads(self.path(key).read_text())
        except (OSError, ValueError):
            return None

    def put(self, key: str, value: Any) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(value))
        partial.replace(target)  # atomic: a reader never sees half a file


_CHANNEL = "ws://_unittest_multifidelity"  # NNI's dispatcher does not connect to such a URL


class _TruncNorm:
    """scipy.stats.truncnorm.rvs for one draw: a <= 0 <= b in BOHB's use, so no tail issue."""

    @staticmethod
    def rvs(a: float, b: float, loc: float, scale: float) -> float:
        low, high = ndtr(a), ndtr(b)
        return float(loc + scale * ndtri(low + np.random.random_sample() * (high - low)))


def _nni_dispatcher(kind: str, seed: int, args: dict[str, Any]) -> Any:
    from nni.runtime.env_vars import dispatcher_env_vars

    if not str(dispatcher_env_vars.NNI_TUNER_COMMAND_CHANNEL).startswith("ws://_unittest_"):
        raise RuntimeError("nni was imported before NNI_TUNER_COMMAND_CHANNEL could be set")
    logging.getLogger("nni").setLevel(logging.ERROR)
    if kind == "Hyperband":
        from nni.algorithms.hpo.hyperband_advisor import Hyperband as base
    else:
        from nni.algorithms.hpo.bohb_advisor import BOHB as base
        from nni.algorithms.hpo.bohb_advisor import config_generator

        config_generator.sps = types.SimpleNamespace(truncnorm=_TruncNorm)

    class Driven(base):  # type: ignore[misc]
        outbox: list[str]

        def send(self, command: Any, data: str) -> None:
            if command.name == "NewTrialJob":
                self.outbox.append(data)

        def is_created_in_previous_exp(self, param_id: Any) -> bool:
            return False

        def handle_update_search_space(self, data: Any) -> None:
            super().handle_update_search_space(data)
            if kind == "Hyperband":
                self.random_state = np.random.RandomState(seed)
            else:
                self.search_space.seed(seed)

    dispatcher = Driven(optimize_mode="minimize", **args)
    dispatcher.outbox = []
    return dispatcher


class NniAdvisor:
    """NNI 3.0's Hyperband (exec_mode parallelism) or BOHB, through its dispatcher calls."""

    def __init__(
        self, kind: str, space: SearchSpace, max_budget: int, eta: int, seed: int, slots: int
    ) -> None:
        os.environ.setdefault("NNI_TUNER_COMMAND_CHANNEL", _CHANNEL)  # before nni is imported
        import nni

        self.nni = nni
        args = (
            {"R": max_budget, "eta": eta, "exec_mode": "parallelism"}
            if kind == "Hyperband"
            else {"min_budget": 1, "max_budget": max_budget, "eta": eta}
        )
        np.random.seed(seed)  # BOHB's model draws from numpy's global generator
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.dispatcher = _nni_dispatcher(kind, seed, args)
            self.dispatcher.handle_initialize(nni_space(space))
            self.dispatcher.handle_request_trial_jobs(slots)
        self.jobs: dict[int, dict[str, Any]] = {}

    def start(self, trial: int) -> Start:
        if not self.dispatcher.outbox:
            return None
        job = self.nni.load(self.dispatcher.outbox.pop(0))
        self.jobs[trial] = job
        params = job["parameters"]
        return params, int(params["TRIAL_BUDGET"])

    def report(self, trial: int, step: int, loss: float) -> bool:
        return False

    def end(self, trial: int, loss: float, completed: bool) -> None:
        job = self.jobs.pop(trial)
        metric = {
            "parameter_id": job["parameter_id"],
            "trial_job_id": str(trial),
            "type": "FINAL",
            "sequence": 0,
            "value": self.nni.dump(float(loss)),
        }
        ended = {
            "trial_job_id": str(trial),
            "event": "SUCCEEDED",
            "hyper_params": self.nni.dump(job),
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.dispatcher.handle_report_metric_data(metric)
            self.dispatcher.handle_trial_end(ended)
            self.dispatcher.handle_request_trial_jobs(1)


class OptunaPruned:
    """optuna's TPESampler with HyperbandPruner ("hyperband") or SuccessiveHalvingPruner ("sha")."""

    def __init__(
        self, pruner: str, space: SearchSpace, max_budget: int, eta: int, seed: int, slots: int
    ) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        self.optuna = optuna
        self.space, self.max_budget = space, max_budget
        pruners = {
            "hyperband": optuna.pruners.HyperbandPruner(
                min_resource=1, max_resource=max_budget, reduction_factor=eta
            ),
            "sha": optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=eta),
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=slots > 1)
        # named: HyperbandPruner puts a trial in a bracket by a checksum of the study's name,
        # which optuna otherwise draws at random (a run would not repeat for its seed)
        name = f"multifidelity-seed{seed}"
        self.study = optuna.create_study(sampler=sampler, pruner=pruners[pruner], study_name=name)
        self.live: dict[int, Any] = {}

    def start(self, trial: int) -> Start:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            asked = self.study.ask()
            params = _suggest(asked, self.space)
        self.live[trial] = asked
        return params, self.max_budget

    def report(self, trial: int, step: int, loss: float) -> bool:
        asked = self.live[trial]
        asked.report(loss, step)
        return bool(asked.should_prune())

    def end(self, trial: int, loss: float, completed: bool) -> None:
        asked = self.live.pop(trial)
        if completed:
            self.study.tell(asked, loss)
        else:
            self.study.tell(asked, state=self.optuna.trial.TrialState.PRUNED)
