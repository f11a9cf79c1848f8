"""BOHB's model: product kernel densities of good and bad configs, on numpy alone.

Numbers are mapped to [0, 1] (log scale for log types) or to standard units (normal types) with
tpe's coordinates; choices and randints are option indices with the Aitchison-Aitken kernel, as
statsmodels' KDEMultivariate (which NNI's BOHB uses) has them. Bandwidths by the normal
reference rule, at least `min_bandwidth`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nnifc.records import Params
from nnifc.space import Choice, Normal, RandInt, SearchSpace, Uniform
from nnifc.tuners import coords

Array = NDArray[np.float64]
SQRT_2PI = float(np.sqrt(2 * np.pi))
TRIES = 50  # redraws of a value that fell outside [0, 1]; then it is clipped


@dataclass(frozen=True)
class Encoding:
    """A flat search space (no nested choices) as model coordinates, one column per parameter."""

    space: SearchSpace
    sizes: NDArray[np.int64]  # options of a categorical column; 0 for a number
    bounded: NDArray[np.bool_]  # a column in [0, 1]

    @classmethod
    def of(cls, space: SearchSpace) -> Encoding:
        for name, p in space.items():
            if isinstance(p, Choice) and p.nested:
                raise ValueError(f"BOHB does not support nested choices ({name!r})")
        sizes = [coords.size(p) if isinstance(p, Choice | RandInt) else 0 for p in space.values()]
        bounded = [not isinstance(p, Normal) for p in space.values()]
        return cls(space, np.array(sizes, dtype=np.int64), np.array(bounded))

    def encode(self, configs: Sequence[Params]) -> Array:
        columns = []
        for name, p in self.space.items():
            values = [c[name] for c in configs]
            if isinstance(p, Choice | RandInt):
                columns.append(np.array(coords.indices(p, values), dtype=np.float64))
            else:
                columns.append(coords.encode(p, values))
        return np.array(columns, dtype=np.float64).T.reshape(len(configs), len(self.space))

    def decode(self, row: Array) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for (name, p), u in zip(self.space.items(), row, strict=True):
            if isinstance(p, RandInt):
                config[name] = p.low + int(u)
            elif isinstance(p, Choice):
                config[name] = p.options[int(u)]
            else:
                assert isinstance(p, Uniform | Normal)
                config[name] = coords.decode(
                    p, float(np.clip(u, 0, 1)) if isinstance(p, Uniform) else float(u)
                )
        return config


@dataclass(frozen=True)
class Kde:
    data: Array
    bw: Array
    sizes: NDArray[np.int64]

    @classmethod
    def fit(cls, data: Array, sizes: NDArray[np.int64], min_bandwidth: float) -> Kde:
        n, d = data.shape
        bw = 1.06 * data.std(axis=0, ddof=1) * n ** (-1.0 / (4 + d))
        bw = np.maximum(bw, min_bandwidth)
        most = np.where(sizes > 1, (sizes - 1) / np.maximum(sizes, 1), np.inf)
        return cls(data, np.minimum(bw, most), sizes)

    def pdf(self, x: Array) -> Array:
        """Density at each row of x (m, d)."""
        diff = x[:, None, :] - self.data[None, :, :]  # (m, n, d)
        kernel = np.empty_like(diff)
        numbers, options = self.sizes == 0, self.sizes > 0  # each kernel on its columns only
        if numbers.any():
            bw = self.bw[numbers]
            kernel[..., numbers] = np.exp(-0.5 * (diff[..., numbers] / bw) ** 2) / (SQRT_2PI * bw)
        if options.any():
            bw = self.bw[options]
            other = bw / np.maximum(self.sizes[options] - 1, 1)
            kernel[..., options] = np.where(np.abs(diff[..., options]) < 0.5, 1 - bw, other)
        return np.asarray(np.prod(kernel, axis=2).mean(axis=1), dtype=np.float64)


@dataclass(frozen=True)
class Model:
    good: Kde
    bad: Kde


def fit(
    encoding: Encoding, points: Array, losses: Array, min_points: int, top_percent: int, bw: float
) -> Model | None:
    """NNI's rule: the best top_n_percent (at least min_points) are good, the next ones bad."""
    n, d = points.shape
    if n < min_points:
        return None
    n_good = max(min_points, top_percent * n // 100)
    n_bad = max(min_points, (100 - top_percent) * n // 100)
    order = np.argsort(losses, kind="stable")
    good, bad = points[order[:n_good]], points[order[n_good : n_good + n_bad]]
    if len(good) <= d or len(bad) <= d:
        return None
    return Model(Kde.fit(good, encoding.sizes, bw), Kde.fit(bad, encoding.sizes, bw))


def sample(
    model: Model,
    encoding: Encoding,
    num_samples: int,
    bandwidth_factor: float,
    rng: np.random.Generator,
) -> Array:
    """The candidate with the least g(x)/l(x) among draws around good configs (widened)."""
    good = model.good
    rows = good.data[rng.integers(len(good.data), size=num_samples)]
    width = np.where(encoding.sizes > 0, good.bw, good.bw * bandwidth_factor)
    numeric = _truncated_normal(rows, width, encoding.bounded, rng)
    keep = rng.random(rows.shape) < 1 - good.bw
    other = np.floor(rng.random(rows.shape) * np.maximum(encoding.sizes, 1))
    categorical = np.where(keep, rows, other)
    candidates = np.where(encoding.sizes > 0, categorical, numeric)
    score = np.maximum(model.bad.pdf(candidates), 1e-32) / np.maximum(good.pdf(candidates), 1e-32)
    return np.asarray(candidates[int(np.argmin(score))], dtype=np.float64)


def _truncated_normal(
    mean: Array, width: Array, bounded: NDArray[np.bool_], rng: np.random.Generator
) -> Array:
    """Normal draws around `mean`, redrawn while a bounded column falls outside [0, 1]."""
    x = rng.normal(mean, width)
    for _ in range(TRIES):
        outside = bounded & ((x < 0) | (x > 1))
        if not outside.any():
            break
        x = np.where(outside, rng.normal(mean, width), x)
    return np.where(bounded, np.clip(x, 0, 1), x)
