"""MetisTuner (Li et al., SoCC 2018), NNI's classArgs and defaults.

After `cold_start_num` distinct random trials (running ones count), a GP (gp_model.py, Matern 3/2
as in NNI) models the losses, repeated points by their median. The point of lowest predicted
loss is the proposal, unless it was already run or, with `exploration_probability`, the best of
these candidates (none with `no_candidates`) is taken instead:

* exploration: the point the model is least sure of relative to its mean (NNI's std / mean, with
  the mean counted from below every candidate's interval: NNI's assumes a positive loss);
* exploitation, from 12 results: the point most likely under a Gaussian mixture of the best third
  of the trials relative to one of the rest (scikit-learn's GaussianMixture; NNI uses its
  Bayesian variant);
* resampling, unless `no_resampling`, from 50 distinct results: a trial whose loss lies 2.33 std
  from what the others predict for it, run at most 3 times.

Each candidate is judged as NNI does, by how much lower the model's lowest mean would become if
the candidate's loss came out 1.96 std above or below its mean; the best that would lower it wins,
a random point if none would. The search scores min(selection_num_starting_points, 1000) random
points and moves around the best trials, where NNI runs L-BFGS-B from each starting point.
Running trials are told to the model at its own mean (kriging believer) and never proposed again.

    tuner:
      builtinTunerName: MetisTuner
      classArgs: {optimize_mode: maximize, no_resampling: true, no_candidates: false,
                  selection_num_starting_points: 600, cold_start_num: 10,
                  exploration_probability: 0.9}
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from nnifc.records import Params, Result
from nnifc.space import SearchSpace
from nnifc.tuners import gp_model
from nnifc.tuners.base import Tuner, TunerOptions
from nnifc.tuners.encoded import freeze
from nnifc.tuners.gp import first_novel, novel
from nnifc.tuners.unit_cube import Layout, Matrix

_NU, _ALPHA = 1.5, 1e-10  # NNI's Metis kernel and noise
_MAX_RANDOM, _NEAR_BEST = 1000, 4
_EXPLOIT_FROM, _RESAMPLE_FROM, _MAX_REPEATS = 12, 50, 3


class MetisOptions(TunerOptions):
    no_resampling: bool = True
    no_candidates: bool = False
    selection_num_starting_points: int = Field(default=600, ge=1)
    cold_start_num: int = Field(default=10, ge=0)
    exploration_probability: float = Field(default=0.9, ge=0, le=1)


class MetisTuner(Tuner):
    name = "MetisTuner"
    default_optimize_mode = "maximize"
    Options = MetisOptions
    options: MetisOptions  # what the loader validated with Options

    def __init__(self, space: SearchSpace, options: TunerOptions) -> None:
        super().__init__(space, options)
        self.layout = Layout(space)

    def propose(
        self, history: Sequence[Result], pending: Sequence[Params], rng: np.random.Generator
    ) -> Params:
        args = self.options
        runs: dict[Hashable, tuple[Params, list[float]]] = {}
        for r in history:
            runs.setdefault(freeze(r.params), (r.params, []))[1].append(r.loss)
        running = {freeze(p) for p in pending}
        known = running | set(runs)
        if len(runs) + len(pending) < args.cold_start_num or len(runs) < 2:
            return novel(self.space.sample(rng), known, self.space, rng)
        x = self.layout.encode([params for params, _ in runs.values()])
        losses = np.array([np.median(ls) for _, ls in runs.values()])
        fitted = gp_model.fit(x, losses, _NU, _ALPHA)
        model = fitted.believing(self.layout.encode(list(pending)))
        starts = x[np.argsort(losses, kind="stable")[:_NEAR_BEST]]
        n_random = min(args.selection_num_starting_points, _MAX_RANDOM)
        points = gp_model.candidates(self.layout, rng, n_random, starts, model.length)
        mean, std = model.predict(points)
        lowest = int(mean.argmin())
        proposal = self.layout.decode(points[lowest])
        if freeze(proposal) not in known and rng.random() > args.exploration_probability:
            return proposal
        chosen: Matrix | None = None
        if not args.no_candidates:
            options = [points[int(_least_confident(mean, std))]]
            if len(history) >= _EXPLOIT_FROM:
                options.append(_exploitation(x, losses, points, rng))
            if not args.no_resampling and len(runs) >= _RESAMPLE_FROM:
                repeats = np.array([len(ls) for _, ls in runs.values()])
                options += list(x[_outliers(fitted) & (repeats < _MAX_REPEATS)])
            chosen = _most_informative(model, points, mean[lowest], options)
        if chosen is None:
            return novel(self.space.sample(rng), known, self.space, rng)
        params = self.layout.decode(chosen)
        if freeze(params) in running or (freeze(params) in runs and not _is_row(chosen, x)):
            return first_novel(self.layout, points, -mean, known, self.space, rng)
        return params


def _exploitation(x: Matrix, losses: Matrix, points: Matrix, rng: np.random.Generator) -> Matrix:
    """The point best explained by a mixture of the good trials rather than of the others."""
    from sklearn.mixture import GaussianMixture

    order = np.argsort(losses, kind="stable")
    n_good = max(1, int(len(x) * 0.34))
    scores = np.zeros(len(points))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes on a handful of points
        for part, sign in ((order[:n_good], 1.0), (order[n_good:], -1.0)):
            mixture = GaussianMixture(
                n_components=max(1, min(3, len(part) - 1)),
                covariance_type="diag",
                reg_covar=1e-3,
                random_state=int(rng.integers(2**31)),
            ).fit(x[part])
            scores += sign * mixture.score_samples(points)
    return np.asarray(points[int(scores.argmax())])


def _least_confident(mean: Matrix, std: Matrix) -> int:
    """NNI's lowest confidence, the widest interval relative to the mean, with the mean measured
    from below every candidate's interval so that it is positive, as NNI assumes a loss to be."""
    floor = float((mean - 2.0 * std).min())
    return int((std / (mean - floor + 1e-12)).argmax())


def _outliers(model: gp_model.Gp) -> NDArray[np.bool_]:
    mean, std = model.leave_one_out()
    return np.asarray(np.abs(model.y - mean) > 2.33 * std)


def _most_informative(
    model: gp_model.Gp, points: Matrix, lowest: float, options: list[Matrix]
) -> Matrix | None:
    """The option whose result could lower the model's lowest mean the most (None: no option can)."""
    mean, _ = model.predict(points)
    best_gain, chosen = 0.0, None
    for option in options:
        _, sd = model.predict(option[None, :])
        if sd[0] <= 0:
            continue
        covariance = model.covariance(points, option)
        for sign in (1.0, -1.0):  # the loss coming out 1.96 std above, then below, its mean
            moved = mean + covariance / sd[0] * sign * 1.96
            gain = lowest - float(moved.min())
            if gain > best_gain:
                best_gain, chosen = gain, option
    return chosen


def _is_row(point: Matrix, x: Matrix) -> bool:
    """Whether `point` is one of the trials run (a resampling candidate)."""
    return bool(np.any(np.all(x == point, axis=1)))
