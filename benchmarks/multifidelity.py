"""Multi-fidelity search (issue 19): nnifc's Hyperband, BOHB and ASHA against NNI's and optuna's.

Problems, both with maximum budget R = 27 steps and eta = 3 (budgets 1, 3, 9, 27):
* `sgd`: learning curves of real training runs, the numpy networks of benchmarks/assessors.py
  (4-class tasks of 500 training and 500 validation samples, 4 of them, seed s on task s % 4;
  one-hidden-layer ReLU network, minibatch SGD with momentum). Search
  space: lr loguniform [1e-4, 0.1], momentum uniform [0, 1], batch_size and hidden_size choices of
  {16, 32, 64, 128}; budget = epochs; the loss is the validation error after that many epochs.
  The trial rounds lr to a quarter decade and momentum to 0.1 (2288 cells), so that a cell's run
  is trained once per task, lazily, and shared by every method and seed: a tabular benchmark.
* `misleading`: 4 parameters in [0, 1]; the loss at budget b is final(x) + (early(x) - final(x))
  exp(-3b/R) with the optima of early and final apart, so low budgets rank configs wrongly.

One simulated clock for every method: `concurrency` workers, each running one step (one unit of
budget) of one trial per tick. Compute = the steps actually run, by every method alike: a
promoted config of nnifc's advisors and of NNI's restarts from scratch (all its steps are paid
again), but for `nnifc ASHA continuing`, ASHA for trial code that resumes from the checkpoint
its promotion loads (multifidelity_ours.py: only the steps it adds are paid); optuna's pruners
and nnifc's Medianstop stop a running trial (its remaining steps are never paid). A slot with no trial to run stays idle (NNI's BOHB waits for its brackets). A
result counts at compute level L when the compute spent at the end of its tick is at most L x R.
Reported per cell: over the seeds, the median of the best loss at the maximum budget found
within the compute, with a bootstrap 95% interval of that median (inf: no such result yet).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from assessors import _task
from intervals import ratio_of_best
from multifidelity_ours import Advised, Resumed, TpeMedianstop
from multifidelity_refs import Cache, NniAdvisor, OptunaPruned, Start
from references import _suggest, nni_space
from verdict import verdict

from nnifc.records import Params
from nnifc.space import Choice, SearchSpace, Uniform

R, ETA, START_STEP = 27, 3, 5
LEVELS = (10, 30, 100)
Loss = Callable[[Params, int], float]  # a config's loss after that many steps
SIZES = (16, 32, 64, 128)


class Policy(Protocol):
    def start(self, trial: int) -> Start | Resumed: ...
    def report(self, trial: int, step: int, loss: float) -> bool: ...
    def end(self, trial: int, loss: float, completed: bool) -> None: ...


@dataclass(frozen=True)
class Problem:
    name: str
    space: SearchSpace
    make: Callable[[int], Loss]  # per seed


def misleading(seed: int) -> Loss:
    rng = np.random.default_rng([seed, 7])
    good, early = rng.uniform(0.2, 0.8, 4), rng.uniform(0.2, 0.8, 4)

    def loss(params: Params, steps: int) -> float:
        x = np.array([params[f"x{i}"] for i in range(4)])
        final = float(np.sum((x - good) ** 2))
        first = float(np.sum((x - early) ** 2)) + 0.3
        return final + (first - final) * math.exp(-3 * steps / R)

    return loss


class Network:
    """One SGD run of assessors.py's network, trained an epoch at a time when asked."""

    def __init__(self, task: Any, cell: tuple[int, int, int, int], seed: int) -> None:
        self.task, self.rng = task, np.random.default_rng([seed, *cell])
        self.lr, self.momentum = 10 ** (cell[0] / 4 - 4), cell[1] / 10
        self.batch, hidden = cell[2], cell[3]
        d, self.k = task[0].shape[1], int(max(task[1].max(), task[3].max())) + 1
        self.w = [
            self.rng.standard_normal((d, hidden)) * np.sqrt(2.0 / d),
            np.zeros(hidden),
            self.rng.standard_normal((hidden, self.k)) * np.sqrt(1.0 / hidden),
            np.zeros(self.k),
        ]
        self.velocity = [np.zeros_like(w) for w in self.w]
        self.targets = np.eye(self.k)[task[1]]
        self.errors: list[float] = []

    def error(self, epochs: int) -> float:
        while len(self.errors) < epochs:
            self._epoch()
        return self.errors[epochs - 1]

    def _epoch(self) -> None:
        xt, _, xv, yv = self.task
        w = self.w
        sgd_epoch(
            xt, self.targets, w, self.velocity, (self.lr, self.momentum, self.batch), self.rng
        )
        with np.errstate(all="ignore"):  # a diverging run is part of the population
            z = np.maximum(xv @ w[0] + w[1], 0.0) @ w[2] + w[3]
            self.errors.append(1.0 - float((np.nan_to_num(z).argmax(axis=1) == yv).mean()))


def sgd_epoch(
    xt: Any,
    targets: Any,
    w: list[Any],
    velocity: list[Any],
    settings: tuple[float, float, int],
    rng: np.random.Generator,
) -> None:
    """One epoch of minibatch SGD with momentum on cross-entropy, updating w and velocity."""
    lr, momentum, batch = settings
    with np.errstate(all="ignore"):  # a diverging run is part of the population
        order = rng.permutation(len(xt))
        for first in range(0, len(xt), batch):
            rows = order[first : first + batch]
            h = np.maximum(xt[rows] @ w[0] + w[1], 0.0)
            p = np.exp((z := h @ w[2] + w[3]) - z.max(axis=1, keepdims=True))
            g = (p / p.sum(axis=1, keepdims=True) - targets[rows]) / len(rows)
            gh = (g @ w[2].T) * (h > 0)
            grads = [xt[rows].T @ gh, gh.sum(axis=0), h.T @ g, g.sum(axis=0)]
            for v, weight, grad in zip(velocity, w, grads, strict=True):
                v *= momentum
                v -= lr * grad
                weight += v


TASKS = 4  # seed s trains on task s % TASKS: a table is shared by the seeds of its task
Cell = tuple[int, int, int, int]


@dataclass
class Table:
    """One task's learning curves: known from the cache, else trained (again) when asked."""

    task: Any
    seed: int
    curves: dict[Cell, list[float]]
    live: dict[Cell, Network]

    def error(self, cell: Cell, epochs: int) -> float:
        known = self.curves.get(cell)
        if known is not None and len(known) >= epochs:
            return known[epochs - 1]
        if cell not in self.live:  # trained from the start: the same numbers as the cache's
            self.live[cell] = Network(self.task, cell, self.seed)
        error = self.live[cell].error(epochs)
        self.curves[cell] = self.live[cell].errors
        return error


_TABLES: dict[int, Table] = {}


def sgd(seed: int) -> Loss:
    task_seed = seed % TASKS
    if task_seed not in _TABLES:
        task = _task(np.random.default_rng([task_seed, 779]), n_train=500, n_val=500)
        saved = CURVES.get(f"sgd-task{task_seed}") or {}
        curves = {tuple(json.loads(k)): v for k, v in saved.items()}
        _TABLES[task_seed] = Table(task, task_seed, curves, {})
    table = _TABLES[task_seed]

    def loss(params: Params, steps: int) -> float:
        lr_step = min(max(round(4 * (math.log10(params["lr"]) + 4)), 0), 12)
        cell = (lr_step, round(10 * params["momentum"]), params["batch_size"], params["hidden"])
        return table.error(cell, steps)

    return loss


def save_curves() -> None:
    """This process's learning curves into the cache (a task's seeds share one process)."""
    for task_seed, table in _TABLES.items():
        if table.live:
            CURVES.put(f"sgd-task{task_seed}", {json.dumps(k): v for k, v in table.curves.items()})


CURVES = Cache(Network, sgd_epoch, Table, sgd, _task)


PROBLEMS = (
    Problem(
        "sgd",
        SearchSpace(
            {
                "lr": Uniform(1e-4, 0.1, log=True),
                "momentum": Uniform(0.0, 1.0),
                "batch_size": Choice(SIZES),
                "hidden": Choice(SIZES),
            }
        ),
        sgd,
    ),
    Problem("misleading", SearchSpace({f"x{i}": Uniform(0.0, 1.0) for i in range(4)}), misleading),
)


@dataclass(frozen=True)
class Outcome:
    found: list[tuple[int, float]]  # (compute at the end of the tick, loss at the maximum budget)
    idle: float  # fraction of slot-ticks with no trial

    def best(self, compute: float) -> float:
        return min((loss for spent, loss in self.found if spent <= compute), default=math.inf)


def simulate(
    policy: Policy, loss: Loss, concurrency: int, limit: int, until: Callable[[], bool] = bool
) -> Outcome:
    running: dict[int, list[Any]] = {}  # trial -> [params, steps planned, steps run]
    found: list[tuple[int, float]] = []
    trials = compute = idle = ticks = 0
    while compute < limit and not until():
        while len(running) < concurrency and (started := policy.start(trials)) is not None:
            running[trials] = [started[0], started[1], started[2] if len(started) > 2 else 0]
            trials += 1
        if not running:
            raise RuntimeError(f"{type(policy).__name__} started nothing with every slot free")
        ticks, idle = ticks + 1, idle + concurrency - len(running)
        at_max = []
        for trial, entry in list(running.items()):
            entry[2] += 1
            compute += 1
            value = loss(entry[0], entry[2])
            if entry[2] == R:
                at_max.append(value)
            completed = entry[2] >= entry[1]
            if completed or policy.report(trial, entry[2], value):
                del running[trial]
                policy.end(trial, value, completed)
        found.extend((compute, value) for value in at_max)
    return Outcome(found, idle / (ticks * concurrency))


CONTINUING = "nnifc ASHA continuing"
BRACKETED = "nnifc ASHA 4 brackets+TPE"


def ours(space: SearchSpace, seed: int) -> dict[str, Callable[[], Policy]]:
    return {
        "nnifc Hyperband": lambda: Advised("Hyperband", space, seed, r=R, eta=ETA),
        "nnifc BOHB": lambda: Advised("BOHB", space, seed, r=R, eta=ETA),
        "nnifc ASHA": lambda: Advised("ASHA", space, seed, r=R, eta=ETA),
        CONTINUING: lambda: Advised("ASHA", space, seed, r=R, eta=ETA, continuing=True),
        BRACKETED: lambda: Advised(
            "ASHA", space, seed, r=R, eta=ETA, continuing=True, brackets=4, sampler="tpe"
        ),
        "nnifc TPE+Medianstop": lambda: TpeMedianstop(space, seed, r=R, start_step=START_STEP),
    }


def references(space: SearchSpace, seed: int, slots: int) -> dict[str, Callable[[], Policy]]:
    return {
        "NNI 3.0 Hyperband": lambda: NniAdvisor("Hyperband", space, R, ETA, seed, slots),
        "NNI 3.0 BOHB": lambda: NniAdvisor("BOHB", space, R, ETA, seed, slots),
        "optuna TPE+Hyperband": lambda: OptunaPruned("hyperband", space, R, ETA, seed, slots),
        "optuna TPE+SH": lambda: OptunaPruned("sha", space, R, ETA, seed, slots),
    }


def methods(space: SearchSpace, seed: int, slots: int) -> dict[str, Callable[[], Policy]]:
    return {**ours(space, seed), **references(space, seed, slots)}


REFERENCES = ("NNI 3.0 Hyperband", "NNI 3.0 BOHB", "optuna TPE+Hyperband", "optuna TPE+SH")
OURS = ("nnifc Hyperband", "nnifc BOHB", "nnifc ASHA", CONTINUING, BRACKETED)
HALF = 15  # the compute level (x R) at which nnifc must match NNI's Hyperband at 30x
TIE = 1e-9  # medians are means of two errors: 0.188 can come out as 0.18800000000000003
Row = dict[str, list[float]]  # "c=1 10x" -> one best loss per seed; "c=8 idle" -> idle fractions


Cells = dict[str, dict[str, float]]  # method -> "c=1 10x" or "c=8 idle" -> value


def run_seeds(problem: Problem, seeds: Sequence[int], levels: Sequence[int]) -> list[Cells]:
    try:
        return [run_seed(problem, seed, levels) for seed in seeds]
    finally:
        save_curves()


def run_seed(problem: Problem, seed: int, levels: Sequence[int]) -> Cells:
    """Every method at both concurrencies on one seed; the references' runs from the cache."""
    loss = problem.make(seed)
    cells: dict[str, dict[str, float]] = {}
    limit = max(levels) * R
    for slots in (1, 8):
        for name, make in methods(problem.space, seed, slots).items():
            key = f"{problem.name}-{name}-seed{seed}-c{slots}-{limit}"
            saved = RUNS.get(key) if name in REFERENCES else None
            if saved is not None:
                outcome = Outcome([(c, v) for c, v in saved["found"]], saved["idle"])
            else:
                outcome = simulate(make(), loss, slots, limit)
                if name in REFERENCES:
                    RUNS.put(key, {"found": outcome.found, "idle": outcome.idle})
            row = cells.setdefault(name, {})
            row.update({f"c={slots} {x}x": outcome.best(x * R) for x in (*levels, HALF)})
            row[f"c={slots} idle"] = outcome.idle
    return cells


RUNS = Cache(  # everything that decides a reference's run, as code or values
    simulate,
    Outcome,
    references,
    misleading,
    CURVES.digest,
    nni_space,
    _suggest,
    [(p.name, p.space) for p in PROBLEMS],
    (R, ETA),
)


def interval(values: Sequence[float], seed: int = 0) -> tuple[float, float, float]:
    """The median and a bootstrap 95% interval of the median."""
    data = np.array(values)
    rng = np.random.default_rng(seed)
    medians = np.sort(np.median(rng.choice(data, size=(2000, len(data))), axis=1))
    low, high = medians[50], medians[1949]  # percentiles 2.5 and 97.5, inf-safe
    return float(np.median(data)), float(low), float(high)


def decision_ms(name: str) -> tuple[float, float, int]:
    """Median and 95th percentile ms of nnifc's proposals made with 1000 to 1200 results."""
    policy = ours(PROBLEMS[1].space, 0)[name]()
    assert isinstance(policy, Advised)
    simulate(policy, misleading(0), 8, 600 * R, lambda: len(policy.history) >= 1200)
    times = [s * 1000 for n, s in policy.seconds if 1000 <= n < 1200]
    if not times:
        return math.inf, math.inf, len(policy.history)
    return float(np.median(times)), float(np.percentile(times, 95)), len(policy.history)


def table(
    problem: Problem, seeds: Sequence[int], levels: Sequence[int], jobs: int, compare: bool = True
) -> list[str]:
    """Print one problem's table; return the targets it missed (without `compare`, the smoke
    run's: every nnifc advisor found a result at R in every cell, and target 3)."""
    groups = [[s for s in seeds if s % jobs == k] for k in range(jobs)]  # a task stays in a job
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        done = list(pool.map(run_seeds, [problem] * jobs, groups, [levels] * jobs))
    rows: dict[str, Row] = {}
    for seed_cells in (c for group in done for c in group):
        for name, cells in seed_cells.items():
            for key, value in cells.items():
                rows.setdefault(name, {}).setdefault(key, []).append(value)
    keys = [f"c={c} {x}x" for c in (1, 8) for x in levels]
    print(f"\n== {problem.name}: median best loss at budget R [bootstrap 95%], {len(seeds)} seeds")
    print(f"{'method':<27}" + "".join(f"{k:<25}" for k in keys) + "idle c=1, c=8 (max)")
    medians: dict[str, dict[str, float]] = {}
    for name, row in rows.items():
        stats = {k: interval(v) for k, v in row.items() if not k.endswith("idle")}
        medians[name] = {k: s[0] for k, s in stats.items()}
        shown = "".join(f"{_cell(*stats[k]):<25}" for k in keys)
        idle = f"{max(row['c=1 idle']):.1%}, {max(row['c=8 idle']):.1%}"
        print(f"{name:<27}{shown}{idle}")
    missed = []
    for c in (1, 8):
        for x in levels if not compare else ():
            for name in OURS:
                if not math.isfinite(medians[name][f"c={c} {x}x"]):
                    missed.append(f"{problem.name} c={c} {x}x: {name} has no result at R")
        for x in levels if compare else ():
            key = f"c={c} {x}x"
            ours, theirs = _best(medians, OURS, key), _best(medians, REFERENCES, key)
            if not ours[1] <= theirs[1] + TIE:
                sure = _sureness(rows, key)
                missed.append(f"{problem.name} {key}: {_named(ours)} > {_named(theirs)}; {sure}")
        if compare and 30 in levels:
            ours, nni = _best(medians, OURS, f"c={c} {HALF}x"), medians["NNI 3.0 Hyperband"]
            if not ours[1] <= nni[f"c={c} 30x"] + TIE:
                missed.append(
                    f"{problem.name} c={c}: {_named(ours)} at {HALF}x > NNI 3.0 Hyperband "
                    f"{nni[f'c={c} 30x']:.4f} at 30x"
                )
    for name in OURS:
        worst = max(rows[name]["c=8 idle"])
        if worst > 0.05:
            missed.append(f"{problem.name}: {name} idle {worst:.1%} of slot time at c=8")
    return missed


def _sureness(rows: dict[str, Row], key: str) -> str:
    """The best of ours over the best reference, with its paired bootstrap interval over seeds."""
    ratio, low, high = ratio_of_best(
        [np.array(rows[n][key]) for n in OURS], [np.array(rows[n][key]) for n in REFERENCES]
    )
    verdict = "by chance alone as likely" if low <= 1.0 else "a real difference"
    return f"ratio {ratio:.3f} [{low:.3f}, {high:.3f}]: {verdict}"


def _cell(median: float, low: float, high: float) -> str:
    return f"{median:.4f} [{low:.4f},{high:.4f}]" if math.isfinite(median) else "none yet"


def _best(
    medians: dict[str, dict[str, float]], names: Sequence[str], key: str
) -> tuple[str, float]:
    return min(((n, medians[n][key]) for n in names), key=lambda pair: pair[1])


def _named(pair: tuple[str, float]) -> str:
    return f"{pair[0]} {pair[1]:.4f}"


TARGETS = f"""targets (nnifc = the best of {", ".join(OURS)}, per cell, by median; references:
{", ".join(REFERENCES)}; nnifc TPE+Medianstop is shown as the baseline, not a reference):
  1. at every compute level and both concurrencies, nnifc's median best loss <= the best
     reference's (the losses are regrets on `misleading`, whose optimum is 0);
  2. nnifc's median best loss at {HALF}x R <= NNI 3.0 Hyperband's at 30x R, at both concurrencies;
  3. every nnifc advisor leaves at most 5% of slot time idle at c=8, in every seed;
  4. an nnifc advisor's proposal (new config or promotion) with 1000-1200 results recorded:
     median under 2 ms (measured on `misleading`, c=8).
--quick (2 seeds, 15x R: too few seeds to rank methods, and at c=8 a promoted trial cannot
reach R by 10x) checks only that every nnifc advisor finds a result at R in every cell, and 3."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="2 seeds, up to 15x R: a smoke run")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (seeds split)")
    args = parser.parse_args(argv)
    seeds = range(2 if args.quick else args.seeds)
    levels = (HALF,) if args.quick else LEVELS
    print((__doc__ or "").strip())
    print("\n" + TARGETS)
    began = time.perf_counter()
    missed: list[str] = []
    for problem in PROBLEMS:
        missed += table(problem, seeds, levels, args.jobs, compare=not args.quick)
    print("\n== proposal time with 1000-1200 results (ms): median, 95th percentile")
    for name in () if args.quick else OURS:
        median, p95, results = decision_ms(name)
        print(f"{name:<27}{median:.2f}  {p95:.2f}  ({results} results at the end)")
        if not median < 2.0:
            missed.append(f"{name}: median proposal {median:.2f} ms >= 2 ms")
    print(f"\n{time.perf_counter() - began:.0f} s")
    return verdict(missed)


if __name__ == "__main__":
    sys.exit(main())
