"""PBT (issue 19): nnifc's PBTTuner against NNI 3.0's, each training one population, same problem.

Problem: the numpy network of benchmarks/assessors.py (one hidden ReLU layer of 32, a 4-class
task of 1000 training and 500 validation samples, task s for seed s) trained by minibatch SGD
with momentum, batch 32. A trial trains one epoch: it loads weights, velocities and its epoch
count from `model.npz` in its `load_checkpoint_dir` when that file exists (else starts from the
seed's initial weights), trains with its lr (loguniform [1e-3, 1]) and momentum (uniform
[0, 0.99]), saves `model.npz` in its `save_checkpoint_dir` and reports the validation
cross-entropy (inf when it diverged). High rates help early and hurt late, so a schedule found
by exploit/explore should beat any fixed pair. Minibatch order depends on the seed and the
epoch only, so both tuners see the same data.

Both tuners: population_size 10, 20 generations (200 one-epoch trials), NNI's other defaults
(factor 0.2, resample_probability 0.25, fraction 0.2), minimize, all 10 trials of a generation
running at once (trials end in the order they started). NNI's PBTTuner is driven as NNI's
dispatcher drives it: `generate_multiple_parameters` for each requested job (its
`NoMoreTrialError` leaves the request as credit, which it pays through `st_callback` when the
generation ends), then per ended trial `receive_trial_result`, `trial_end` and one more
request. Its unseeded RandomState, numpy's and Python's global generators are replaced by
seeded ones in its module. nnifc's is driven as its scheduler does: `wait`, else `propose`.

Reported, over the seeds: the median of the best loss of the last generation, with a bootstrap
95% interval of that median; tuner time per trial (ms, median and 95th percentile): nnifc's
`wait` + `propose`, NNI's calls after each trial's end (its exploit/explore runs there).
Target (issue 19): nnifc's median best final loss <= NNI's.
"""

from __future__ import annotations

import argparse
import copy
import logging
import random
import sys
import tempfile
import time
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from assessors import _task
from multifidelity import interval, sgd_epoch
from references import nni_space
from verdict import verdict

from nnifc.records import Params, Result
from nnifc.space import SearchSpace, Uniform
from nnifc.tuners.pbt import PbtOptions, PbtTuner

POPULATION, GENERATIONS, HIDDEN, BATCH = 10, 20, 32, 32
SPACE = SearchSpace({"lr": Uniform(1e-3, 1.0, log=True), "momentum": Uniform(0.0, 0.99)})
Train = Callable[[Params], float]  # runs one trial from its parameters, returns its loss
Run = tuple[list[float], list[float]]  # (losses in the order trials ended, tuner seconds)


def trainer(seed: int) -> Train:
    """One epoch of training from a trial's checkpoint parameters, as a PBT trial would run."""
    xt, yt, xv, yv = _task(np.random.default_rng([seed, 780]), n_train=1000, n_val=500)
    k = int(max(yt.max(), yv.max())) + 1
    targets = np.eye(k)[yt]
    init = np.random.default_rng([seed, 781])
    d = xt.shape[1]
    start = [
        init.standard_normal((d, HIDDEN)) * np.sqrt(2.0 / d),
        np.zeros(HIDDEN),
        init.standard_normal((HIDDEN, k)) * np.sqrt(1.0 / HIDDEN),
        np.zeros(k),
    ]

    def train(params: Params) -> float:
        found = Path(params["load_checkpoint_dir"]) / "model.npz"
        if found.exists():
            with np.load(found) as saved:
                w = [saved[f"w{i}"] for i in range(4)]
                velocity = [saved[f"v{i}"] for i in range(4)]
                epoch = int(saved["epoch"])
        else:
            w, velocity, epoch = [a.copy() for a in start], [np.zeros_like(a) for a in start], 0
        settings = (float(params["lr"]), float(params["momentum"]), BATCH)
        sgd_epoch(xt, targets, w, velocity, settings, np.random.default_rng([seed, 782, epoch]))
        save = Path(params["save_checkpoint_dir"])
        save.mkdir(parents=True, exist_ok=True)
        arrays = {f"w{i}": a for i, a in enumerate(w)} | {
            f"v{i}": a for i, a in enumerate(velocity)
        }
        np.savez(save / "model.npz", epoch=epoch + 1, **arrays)
        with np.errstate(all="ignore"):
            z = np.maximum(xv @ w[0] + w[1], 0.0) @ w[2] + w[3]
            z = z - z.max(axis=1, keepdims=True)
            entropy = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(yv)), yv]))
        return entropy if np.isfinite(entropy) else float("inf")

    return train


def run_nnifc(train: Train, root: str, seed: int) -> Run:
    tuner = PbtTuner(
        SPACE,
        PbtOptions.model_validate({"all_checkpoint_dir": root, "population_size": POPULATION}),
    )
    history: list[Result] = []
    running: list[Params] = []
    seconds: list[float] = []
    total = POPULATION * GENERATIONS
    while len(history) < total:
        while len(running) < POPULATION and len(history) + len(running) < total:
            began = time.perf_counter()
            if tuner.wait(history, running):
                break
            rng = np.random.default_rng([seed, len(history) + len(running)])
            running.append(tuner.propose(history, running, rng))
            seconds.append(time.perf_counter() - began)
        params = running.pop(0)
        history.append(Result(params, train(params)))
    return [r.loss for r in history], seconds


def run_nni(train: Train, root: str, seed: int) -> Run:
    from nni.algorithms.hpo import pbt_tuner

    logging.getLogger("pbt_tuner_AutoML").setLevel(logging.ERROR)
    state = np.random.RandomState(seed)
    seeded = types.SimpleNamespace(random=types.SimpleNamespace(RandomState=lambda: state))
    seeded.random.choice = state.choice
    pbt_tuner.np = types.SimpleNamespace(**{**vars(np), "random": seeded.random})
    pbt_tuner.random = random.Random(seed)
    tuner = pbt_tuner.PBTTuner(
        optimize_mode="minimize", all_checkpoint_dir=root, population_size=POPULATION
    )
    tuner.update_search_space(nni_space(SPACE))
    queue: list[tuple[int, dict[str, Any]]] = []  # jobs NNI sent, as its dispatcher packs them
    ids = iter(range(10**9))

    def sent(parameter_id: int, params: dict[str, Any]) -> None:
        queue.append((parameter_id, copy.deepcopy(params)))

    def request(n: int) -> None:
        asked = [next(ids) for _ in range(n)]
        made = tuner.generate_multiple_parameters(asked, st_callback=sent)
        queue.extend(zip(asked, (copy.deepcopy(p) for p in made), strict=False))

    losses: list[float] = []
    seconds: list[float] = []
    running: list[tuple[int, dict[str, Any]]] = []
    total = POPULATION * GENERATIONS
    request(POPULATION)
    started = 0
    while len(losses) < total:
        while queue and len(running) < POPULATION and started < total:
            running.append(queue.pop(0))
            started += 1
        parameter_id, params = running.pop(0)
        loss = train(params)
        losses.append(loss)
        began = time.perf_counter()
        tuner.receive_trial_result(parameter_id, params, loss)
        tuner.trial_end(parameter_id, True)
        request(1)
        seconds.append(time.perf_counter() - began)
    return losses, seconds


RUNNERS: dict[str, Callable[[Train, str, int], Run]] = {
    "nnifc PBTTuner": run_nnifc,
    "NNI 3.0 PBTTuner": run_nni,
}


def run_seed(seed: int) -> dict[str, Run]:
    train = trainer(seed)
    with tempfile.TemporaryDirectory(prefix="nnifc-pbt-bench-") as tmp:
        return {
            name: run(train, f"{tmp}/{k}", seed) for k, (name, run) in enumerate(RUNNERS.items())
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="3 seeds: a smoke run")
    args = parser.parse_args(argv)
    seeds = range(3 if args.quick else args.seeds)
    print((__doc__ or "").strip())
    began = time.perf_counter()
    finals: dict[str, list[float]] = {name: [] for name in RUNNERS}
    seconds: dict[str, list[float]] = {name: [] for name in RUNNERS}
    for seed in seeds:
        for name, (losses, took) in run_seed(seed).items():
            finals[name].append(min(losses[-POPULATION:]))
            seconds[name].extend(took)
    print(
        f"\n== best loss of generation {GENERATIONS} (validation cross-entropy), {len(seeds)} seeds"
    )
    print(f"{'tuner':<20}{'median [bootstrap 95%]':<28}{'tuner ms per trial: median, p95'}")
    medians = {}
    for name in RUNNERS:
        median, low, high = interval(finals[name])
        medians[name] = median
        ms = np.array(seconds[name]) * 1000
        cell = f"{median:.4f} [{low:.4f},{high:.4f}]"
        print(f"{name:<20}{cell:<28}{np.median(ms):.3f}, {np.percentile(ms, 95):.3f}")
    wins = sum(a < b for a, b in zip(*finals.values(), strict=True))
    print(f"nnifc lower in {wins} of {len(seeds)} seeds")
    print(f"\n{time.perf_counter() - began:.0f} s")
    missed = []
    if not medians["nnifc PBTTuner"] <= medians["NNI 3.0 PBTTuner"]:
        missed.append(
            f"nnifc PBTTuner {medians['nnifc PBTTuner']:.4f} > "
            f"NNI 3.0 PBTTuner {medians['NNI 3.0 PBTTuner']:.4f}"
        )
    return verdict(missed)


if __name__ == "__main__":
    sys.exit(main())
