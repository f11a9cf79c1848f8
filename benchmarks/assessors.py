"""Medianstop on noisy learning curves: nnifc's, NNI 3.0's own and optuna's MedianPruner, same curves.

The issue's target: with start_step 5, use at most half the epochs of running every trial to the
end, and never stop the trial that would have been best (NNI's Medianstop used 54% there, optuna's
MedianPruner 22% but stopped the eventual best in 2 of 10 seeds). Each seed is 50 trials of 20
epochs, losses (lower is better), run one after another and judged at every result but the last.
"Epochs used" counts every result a trial reported, the one it was stopped at included. "Stopped
the best" counts seeds where stopping lost the best final loss: no trial that ran to the end
reached the lowest final value of the full curves (a tie that survived is not a loss).

Two families of curves, both printed:

* `sgd` (checked): real training runs. Each seed draws a 4-class task (16 Gaussian features, labels
  from a random tanh teacher network plus Gumbel noise, 1000 training and 500 validation samples)
  and trains 50 one-hidden-layer ReLU networks by minibatch SGD with momentum on cross-entropy,
  with hyperparameters drawn from the search space of NNI's mnist example (lr loguniform
  [1e-4, 0.1], momentum uniform [0, 1], batch size {16, 32, 64, 128}; hidden size {16, 32, 64,
  128}, smaller than mnist's). The curve is the validation error after each epoch. Noise, speeds,
  asymptotes, stalls and crossings come from the training, not from a formula: low learning rates
  crawl, high ones with high momentum plateau or oscillate, and many runs end near the task's
  Bayes error.
* `power-law` (printed, not checked): the earlier generator, loss final + (first - final)
  (t + 1)^-rate + N(0, 0.05^2) with final ~ U(0.1, 1), first - final ~ U(0.5, 1.5), rate ~ U(0.3,
  1). Every trial there learns steadily and the finals are spread evenly, so the running averages
  that the median rule compares with stay high and it stops little: NNI's own assessor uses 71%
  on it with start_step 5, exactly as nnifc's does.

The `concurrency=8` rows replay the same curves the way nnifc's scheduler feeds an assessor with
trialConcurrency: 8: eight trials advance an epoch at a time, a trial is judged against the trials
that had SUCCEEDED by then, and a freed slot starts the next trial. Fewer finished trials to
compare with (none for the first eight) means fewer stops.

    .venv/bin/python benchmarks/assessors.py          # 10 seeds, about a minute and a half
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from verdict import verdict

from nnifc.assessors import ASSESSORS, Verdict

Curves = NDArray[np.float64]  # (trials, epochs) of losses
TRIALS, EPOCHS, START_STEP = 50, 20, 5


def power_law_curves(seed: int, n_trials: int = TRIALS, epochs: int = EPOCHS) -> Curves:
    rng = np.random.default_rng([seed, 777])
    final = rng.uniform(0.1, 1.0, n_trials)
    first = final + rng.uniform(0.5, 1.5, n_trials)
    rate = rng.uniform(0.3, 1.0, n_trials)
    t = np.arange(1, epochs + 1)
    full = final[:, None] + (first - final)[:, None] * t[None, :] ** -rate[:, None]
    return full + rng.normal(0.0, 0.05, full.shape)


def sgd_curves(seed: int, n_trials: int = TRIALS, epochs: int = EPOCHS) -> Curves:
    rng = np.random.default_rng([seed, 778])
    task = _task(rng)
    rows = []
    for _ in range(n_trials):
        lr = float(np.exp(rng.uniform(np.log(1e-4), np.log(1e-1))))
        momentum = float(rng.uniform(0.0, 1.0))
        batch = int(rng.choice([16, 32, 64, 128]))
        hidden = int(rng.choice([16, 32, 64, 128]))
        rows.append(_train(task, lr, momentum, batch, hidden, epochs, rng))
    return np.array(rows)


_Task = tuple[Curves, NDArray[np.int64], Curves, NDArray[np.int64]]


def _task(rng: np.random.Generator, n_train: int = 1000, n_val: int = 500) -> _Task:
    x = rng.standard_normal((n_train + n_val, 16))
    hidden = np.tanh(x @ (rng.standard_normal((16, 32)) / 4.0))
    logits = hidden @ (2.0 * rng.standard_normal((32, 4))) + rng.gumbel(size=(len(x), 4))
    y = logits.argmax(axis=1)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def _train(
    task: _Task,
    lr: float,
    momentum: float,
    batch: int,
    hidden: int,
    epochs: int,
    rng: np.random.Generator,
) -> list[float]:
    """Validation error after each epoch of minibatch SGD with momentum on cross-entropy."""
    xt, yt, xv, yv = task
    d, k = xt.shape[1], int(max(yt.max(), yv.max())) + 1
    w1 = rng.standard_normal((d, hidden)) * np.sqrt(2.0 / d)
    w2 = rng.standard_normal((hidden, k)) * np.sqrt(1.0 / hidden)
    params = [w1, np.zeros(hidden), w2, np.zeros(k)]
    velocity = [np.zeros_like(p) for p in params]
    targets = np.eye(k)[yt]
    errors = []
    with np.errstate(all="ignore"):  # a diverging run is part of the population
        for _ in range(epochs):
            order = rng.permutation(len(xt))
            for start in range(0, len(xt), batch):
                rows = order[start : start + batch]
                x = xt[rows]
                h = np.maximum(x @ params[0] + params[1], 0.0)
                z = h @ params[2] + params[3]
                p = np.exp(z - z.max(axis=1, keepdims=True))
                g = (p / p.sum(axis=1, keepdims=True) - targets[rows]) / len(rows)
                gh = (g @ params[2].T) * (h > 0)
                grads = [x.T @ gh, gh.sum(axis=0), h.T @ g, g.sum(axis=0)]
                for v, w, grad in zip(velocity, params, grads, strict=True):
                    v *= momentum
                    v -= lr * grad
                    w += v
            z = np.maximum(xv @ params[0] + params[1], 0.0) @ params[2] + params[3]
            errors.append(1.0 - float((np.nan_to_num(z).argmax(axis=1) == yv).mean()))
    return errors


class Judge(Protocol):
    """One assessor, through the calls its own framework makes."""

    def stop(self, trial: int, curve: Sequence[float]) -> bool: ...

    def end(self, trial: int, curve: Sequence[float], succeeded: bool) -> None: ...


class Nnifc:
    def __init__(self, start_step: int) -> None:
        cls = ASSESSORS["Medianstop"]
        self.assessor = cls(cls.Options.model_validate({"start_step": start_step}))
        self.succeeded: list[list[float]] = []  # the scheduler's finished_curves

    def stop(self, trial: int, curve: Sequence[float]) -> bool:
        return self.assessor.assess(curve, self.succeeded) is Verdict.STOP

    def end(self, trial: int, curve: Sequence[float], succeeded: bool) -> None:
        if succeeded:
            self.succeeded.append(list(curve))


class Nni:
    """NNI 3.0's MedianstopAssessor (minimize mode, as the curves are losses)."""

    def __init__(self, start_step: int) -> None:
        from nni.algorithms.hpo.medianstop_assessor import MedianstopAssessor
        from nni.assessor import AssessResult

        logging.getLogger("medianstop_Assessor").setLevel(logging.ERROR)
        self.bad = AssessResult.Bad
        self.assessor = MedianstopAssessor(optimize_mode="minimize", start_step=start_step)

    def stop(self, trial: int, curve: Sequence[float]) -> bool:
        return bool(self.assessor.assess_trial(trial, [float(v) for v in curve]) == self.bad)

    def end(self, trial: int, curve: Sequence[float], succeeded: bool) -> None:
        self.assessor.trial_end(trial, succeeded)  # it kept the curve from assess_trial


class Optuna:
    """optuna's MedianPruner; steps are numbered from 1, so n_warmup_steps=5 judges from the 5th."""

    def __init__(self, warmup: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        self.optuna = optuna
        pruner = optuna.pruners.MedianPruner(n_warmup_steps=warmup)
        self.study = optuna.create_study(direction="minimize", pruner=pruner)
        self.trials: dict[int, Any] = {}

    def stop(self, trial: int, curve: Sequence[float]) -> bool:
        if trial not in self.trials:
            self.trials[trial] = self.study.ask()
        self.trials[trial].report(float(curve[-1]), len(curve))
        return bool(self.trials[trial].should_prune())

    def end(self, trial: int, curve: Sequence[float], succeeded: bool) -> None:
        t = self.trials.pop(trial)
        if succeeded:
            self.study.tell(t, float(curve[-1]))
        else:
            self.study.tell(t, state=self.optuna.trial.TrialState.PRUNED)


def replay(curves: Curves, judge: Judge, concurrency: int = 1) -> tuple[int, set[int]]:
    """Epochs used and the trials stopped, `concurrency` trials running at a time."""
    n, epochs = curves.shape
    running: dict[int, int] = {}  # trial -> results reported so far
    started, used, stopped = 0, 0, set()
    while started < n or running:
        while started < n and len(running) < concurrency:
            running[started] = 0
            started += 1
        for trial in list(running):  # every running trial reports its next epoch
            running[trial] += 1
            step = running[trial]
            used += 1
            curve = [float(v) for v in curves[trial, :step]]
            if step == epochs:  # the last result ends the trial; stopping it then saves nothing
                judge.end(trial, curve, True)
                del running[trial]
            elif judge.stop(trial, curve):
                judge.end(trial, curve, False)
                stopped.add(trial)
                del running[trial]
    return used, stopped


def lost_best(curves: Curves, stopped: set[int]) -> bool:
    kept = [i for i in range(len(curves)) if i not in stopped]
    return not kept or float(curves[kept, -1].min()) > float(curves[:, -1].min())


def medianstop_targets(seeds: Sequence[int]) -> list[str]:
    """Print the table; return the targets missed (nnifc, start_step 5, sgd curves)."""
    families: dict[str, Callable[[int], Curves]] = {
        "sgd": sgd_curves,
        "power-law": power_law_curves,
    }
    print(f"== Medianstop on noisy learning curves ({len(seeds)} seeds x {TRIALS} trials x {EPOCHS} epochs)")  # fmt: skip
    print(f"{'curves':<11}{'assessor':<38}{'epochs used, median [IQR]':<28}stopped the best")
    missed: list[str] = []
    for family, generate in families.items():
        data = [generate(seed) for seed in seeds]
        judges: list[tuple[str, Callable[[], Judge], int]] = [
            *((f"nnifc start_step={s}", lambda s=s: Nnifc(s), 1) for s in (0, 3, 5)),
            *((f"NNI 3.0 start_step={s}", lambda s=s: Nni(s), 1) for s in (0, 3, 5)),
            ("optuna MedianPruner (defaults)", lambda: Optuna(0), 1),
            (f"optuna n_warmup_steps={START_STEP}", lambda: Optuna(START_STEP), 1),
            (f"nnifc start_step={START_STEP} concurrency=8", lambda: Nnifc(START_STEP), 8),
            (f"NNI 3.0 start_step={START_STEP} concurrency=8", lambda: Nni(START_STEP), 8),
        ]
        for label, make, concurrency in judges:
            fractions, lost = [], 0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for curves in data:
                    used, stopped = replay(curves, make(), concurrency)
                    fractions.append(used / curves.size)
                    lost += lost_best(curves, stopped)
            q1, median, q3 = np.percentile(fractions, [25, 50, 75])
            cell = f"{median:.1%} [{q1:.1%}, {q3:.1%}]"
            print(f"{family:<11}{label:<38}{cell:<28}{lost} of {len(data)} seeds")
            if family == "sgd" and label == f"nnifc start_step={START_STEP}":
                if median > 0.5:
                    missed.append(f"Medianstop used {median:.1%} > 50% of the epochs")
                if lost:
                    missed.append(f"Medianstop stopped the eventual best trial in {lost} seeds")
    return missed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args(argv)
    missed = medianstop_targets(range(args.seeds))
    return verdict(missed)


if __name__ == "__main__":
    sys.exit(main())
