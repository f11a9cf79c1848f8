"""A small Gaussian process on the unit cube, fitted fast enough to propose within 50 ms at 200 trials.

Why not scikit-learn's GaussianProcessRegressor: its marginal-likelihood optimisation took 0.75 to 4
seconds at 200 results here (10-D, one start; NNI's GPTuner runs 26 starts), and its predict()
35 ms for 1,000 points. This is the textbook computation (Rasmussen & Williams, algorithm 2.1) on
numpy and scipy: a Matern kernel with one length scale for the cube, chosen from a grid by the
marginal likelihood with the signal variance profiled out, costs one Cholesky factorisation per
grid point. Losses are standardised as NNI's `normalize_y` does, after the worse three quarters are
compressed logarithmically: the good region keeps its shape (what converging on the optimum needs;
normal scores of ranks flattened it), while one huge loss (Rosenbrock's corners, a FAILED trial's
inf, counted as the worst finite loss) does not flatten the rest. Lower is better.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.special import gamma, kv, ndtr

from nnifc.tuners.unit_cube import Layout, Matrix

_LENGTHS = np.geomspace(0.04, 2.0, 8)  # in cube units: from a narrow bump to a smooth slope


class Gp:
    """A posterior over scores (standard normal ranks of the losses) given points of the cube."""

    def __init__(
        self,
        x: Matrix,
        y: Matrix,
        nu: float,
        alpha: float,
        length: float,
        distances: Matrix | None = None,
    ) -> None:
        self.x, self.nu, self.alpha, self.length = x, nu, alpha, length
        d = distance(x, x) if distances is None else distances
        k = matern(d / length, nu) + (alpha + 1e-8) * np.eye(len(x))
        self.chol = _cholesky(k)
        self.weights = cho_solve((self.chol, True), y)
        self.scale = max(float(y @ self.weights) / len(y), 1e-12)  # profiled signal variance
        self.y = y

    def predict(self, points: Matrix) -> tuple[Matrix, Matrix]:
        cross = correlation(points, self.x, self.length, self.nu)
        mean = cross @ self.weights
        v = solve_triangular(self.chol, cross.T, lower=True, check_finite=False)
        var = np.maximum(1.0 - (v * v).sum(axis=0), 1e-12) * self.scale
        return mean, np.sqrt(var)

    def covariance(self, points: Matrix, point: Matrix) -> Matrix:
        """Posterior covariance of each of `points` with `point`."""
        both = np.vstack([point[None, :], points])
        v = solve_triangular(
            self.chol, correlation(both, self.x, self.length, self.nu).T, lower=True
        )
        prior = correlation(points, point[None, :], self.length, self.nu)[:, 0]
        return np.asarray((prior - v[:, 1:].T @ v[:, 0]) * self.scale)

    def leave_one_out(self) -> tuple[Matrix, Matrix]:
        """Each observation's mean and std predicted from all the others (R&W eq. 5.12)."""
        inverse = cho_solve((self.chol, True), np.eye(len(self.x)))
        diagonal = np.diag(inverse)
        return self.y - self.weights / diagonal, np.sqrt(self.scale / diagonal)

    def believing(self, points: Matrix) -> Gp:
        """The same model also told its own mean at `points` (the kriging believer): the running
        trials' neighbourhoods lose their uncertainty, and nothing else changes."""
        if not len(points):
            return self
        mean, _ = self.predict(points)
        both = np.vstack([self.x, points])
        return Gp(both, np.concatenate([self.y, mean]), self.nu, self.alpha, self.length)


def fit(x: Matrix, losses: Matrix, nu: float, alpha: float) -> Gp:
    """The GP of `losses` at `x` whose length scale has the highest marginal likelihood."""
    y = standardised(losses)
    distances = distance(x, x)
    best: tuple[float, Gp] | None = None
    for length in _LENGTHS:
        try:
            model = Gp(x, y, nu, alpha, float(length), distances)
        except np.linalg.LinAlgError:
            continue
        # log marginal likelihood with the signal variance at its optimum, up to a constant
        fitness = -0.5 * len(y) * math.log(model.scale) - float(np.log(np.diag(model.chol)).sum())
        if best is None or fitness > best[0]:
            best = (fitness, model)
    assert best is not None  # the widest jitter always factorises
    return best[1]


def standardised(losses: Matrix) -> Matrix:
    """Zero mean and unit variance, after the losses above the lower quartile are compressed
    logarithmically (in units of the interquartile range); inf is the worst finite loss."""
    finite = losses[np.isfinite(losses)]
    if not len(finite):
        return np.zeros(len(losses))
    values = np.where(np.isfinite(losses), losses, finite.max())
    low, high = np.percentile(values, [25.0, 75.0])
    spread = float(high - low) or float(values.std()) or 1.0
    values = np.where(
        values > low, low + spread * np.log1p(np.maximum(values - low, 0.0) / spread), values
    )
    return np.asarray((values - values.mean()) / (values.std() or 1.0))


def correlation(a: Matrix, b: Matrix, length: float, nu: float) -> Matrix:
    return matern(distance(a, b) / length, nu)


def distance(a: Matrix, b: Matrix) -> Matrix:
    d2 = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * a @ b.T
    return np.asarray(np.sqrt(np.maximum(d2, 0.0)))


def matern(r: Matrix, nu: float) -> Matrix:
    if nu == 0.5:
        return np.asarray(np.exp(-r))
    if nu == 1.5:
        s = math.sqrt(3.0) * r
        return np.asarray((1.0 + s) * np.exp(-s))
    if nu == 2.5:
        s = math.sqrt(5.0) * r
        return np.asarray((1.0 + s + s * s / 3.0) * np.exp(-s))
    if math.isinf(nu):
        return np.asarray(np.exp(-0.5 * r * r))
    s = np.maximum(math.sqrt(2.0 * nu) * r, 1e-300)
    out = (2.0 ** (1.0 - nu) / gamma(nu)) * s**nu * kv(nu, s)
    return np.asarray(np.where(r == 0.0, 1.0, out))


def _cholesky(k: Matrix) -> Matrix:
    jitter = 0.0
    for _ in range(6):
        try:
            return np.asarray(cho_factor(k + jitter * np.eye(len(k)), lower=True)[0])
        except np.linalg.LinAlgError:
            jitter = max(jitter * 100, 1e-6)
    raise np.linalg.LinAlgError("the kernel matrix is not positive definite")


def improvement(mean: Matrix, std: Matrix, best: float, xi: float) -> Matrix:
    z = (best - xi - mean) / std
    return np.asarray((best - xi - mean) * ndtr(z) + std * np.exp(-0.5 * z * z) / 2.5066282746)


def probability(mean: Matrix, std: Matrix, best: float, xi: float) -> Matrix:
    return np.asarray(ndtr((best - xi - mean) / std))


def candidates(
    layout: Layout,
    rng: np.random.Generator,
    n_random: int,
    starts: Matrix,
    spread: float,
) -> Matrix:
    """Random points of the cube, and points around each start at a few distances, snapped."""
    dim = layout.end
    near = [s + rng.normal(0.0, spread * f, (32, dim)) for s in starts for f in (0.1, 0.3, 1.0)]
    points = (
        np.vstack([rng.random((n_random, dim)), *near]) if near else rng.random((n_random, dim))
    )
    points = np.clip(points, 0.0, 1.0)
    layout.snap(points)
    return points


def refine(
    layout: Layout,
    rng: np.random.Generator,
    points: Matrix,
    value: NDArray[np.float64],
    score: Callable[[Matrix], Matrix],
    n_starts: int,
    spread: float,
) -> tuple[Matrix, Matrix]:
    """Two rounds of smaller moves around the best `n_starts` points; all points, all values."""
    for f in (0.1, 0.02):
        top = points[np.argsort(-value, kind="stable")[:n_starts]]
        moved = np.clip(
            np.repeat(top, 24, axis=0)
            + rng.normal(0.0, spread * f, (24 * len(top), points.shape[1])),
            0.0,
            1.0,
        )
        layout.snap(moved)
        points = np.vstack([points, moved])
        value = np.concatenate([value, score(moved)])
    return points, value
