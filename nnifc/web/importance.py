"""Which parameters matter: permutation importance of a small random forest, in numpy.

The method (documented in docs/view.md): fit TREES regression trees, each on a bootstrap sample
of the scored trials (parameters -> final result; categories as their index), grown to DEPTH
with at least LEAF trials per leaf. A parameter's importance is how much the forest's mean
squared error on the trials each tree did not see (out of bag) grows when that parameter's
values are shuffled, averaged over trees and scaled so all sum to 1. A parameter the result does
not depend on scores about 0. At most SAMPLE trials (the most recent) are used, and it is
recomputed only when 5% more trials have a result, so a running experiment's view stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nnifc.web.charts import scored
from nnifc.web.documents import flatten
from nnifc.web.reader import Snapshot

TREES, DEPTH, LEAF, SAMPLE, MIN_TRIALS = 16, 6, 3, 1000, 8
METHOD = (
    f"permutation importance of a random forest ({TREES} trees, depth {DEPTH}) fitted to the"
    " final results; out-of-bag error growth when a parameter is shuffled, scaled to sum 1"
)

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Tree:
    """Nodes as arrays: feature < 0 marks a leaf, whose prediction is `value`."""

    feature: NDArray[np.int64]
    threshold: Floats
    left: NDArray[np.int64]
    right: NDArray[np.int64]
    value: Floats

    def predict(self, x: Floats) -> Floats:
        node = np.zeros(len(x), dtype=np.int64)
        for _ in range(DEPTH + 1):
            f = self.feature[node]
            inner = f >= 0
            goes_left = x[np.arange(len(x)), np.maximum(f, 0)] <= self.threshold[node]
            node = np.where(inner, np.where(goes_left, self.left[node], self.right[node]), node)
        return self.value[node]


def _best_split(x: Floats, y: Floats) -> tuple[int, float, float]:
    """(feature, threshold, error reduction) of the best split, feature -1 when none helps."""
    best = (-1, 0.0, 0.0)
    n = len(y)
    total = float(((y - y.mean()) ** 2).sum())
    for f in range(x.shape[1]):
        order = np.argsort(x[:, f], kind="stable")
        xs, ys = x[order, f], y[order]
        sums, squares = np.cumsum(ys), np.cumsum(ys * ys)
        counts = np.arange(1, n + 1, dtype=np.float64)
        left_err = squares[:-1] - sums[:-1] ** 2 / counts[:-1]
        right_sum, right_sq = sums[-1] - sums[:-1], squares[-1] - squares[:-1]
        right_err = right_sq - right_sum**2 / (n - counts[:-1])
        gain = total - (left_err + right_err)
        valid = (xs[:-1] < xs[1:]) & (counts[:-1] >= LEAF) & (n - counts[:-1] >= LEAF)
        if not valid.any():
            continue
        gain = np.where(valid, gain, -np.inf)
        i = int(np.argmax(gain))
        if gain[i] > best[2]:
            best = (f, float((xs[i] + xs[i + 1]) / 2), float(gain[i]))
    return best


def fit_tree(x: Floats, y: Floats) -> Tree:
    feature: list[int] = []
    threshold: list[float] = []
    left: list[int] = []
    right: list[int] = []
    value: list[float] = []

    def grow(rows: NDArray[np.int64], depth: int) -> int:
        node = len(feature)
        feature.append(-1)
        threshold.append(0.0)
        left.append(node)
        right.append(node)
        value.append(float(y[rows].mean()))
        if depth < DEPTH and len(rows) >= 2 * LEAF:
            f, t, gain = _best_split(x[rows], y[rows])
            if f >= 0 and gain > 0:
                feature[node], threshold[node] = f, t
                left[node] = grow(rows[x[rows, f] <= t], depth + 1)
                right[node] = grow(rows[x[rows, f] > t], depth + 1)
        return node

    grow(np.arange(len(y)), 0)
    return Tree(
        np.array(feature, dtype=np.int64),
        np.array(threshold),
        np.array(left, dtype=np.int64),
        np.array(right, dtype=np.int64),
        np.array(value),
    )


def permutation_importance(x: Floats, y: Floats, seed: int = 0) -> Floats:
    """Each column's share of the forest's out-of-bag error growth when it is shuffled."""
    rng = np.random.default_rng(seed)
    n, d = x.shape
    growth = np.zeros(d)
    for _ in range(TREES):
        sample = rng.integers(0, n, n)
        out = np.setdiff1d(np.arange(n), sample)
        if len(out) < 2:
            continue
        tree = fit_tree(x[sample], y[sample])
        base = float(np.mean((tree.predict(x[out]) - y[out]) ** 2))
        for f in range(d):
            shuffled = x[out].copy()
            shuffled[:, f] = rng.permutation(shuffled[:, f])
            growth[f] += float(np.mean((tree.predict(shuffled) - y[out]) ** 2)) - base
    growth = np.maximum(growth, 0.0)
    total = growth.sum()
    return growth / total if total > 0 else growth


def importance(snapshot: Snapshot) -> dict[str, Any]:
    """The document for the importance plot (cached per number of scored trials)."""
    done = scored(snapshot.trials)
    counted = len(done) - len(done) % max(1, len(done) // 20)
    key = f"importance:{counted}"
    if key not in snapshot.cache:
        snapshot.cache[key] = _document(done[:counted][-SAMPLE:])
    result: dict[str, Any] = snapshot.cache[key]
    return result


def _document(trials: list[Any]) -> dict[str, Any]:
    document: dict[str, Any] = {"method": METHOD, "trials": len(trials), "params": []}
    if len(trials) < MIN_TRIALS:
        document["note"] = f"needs at least {MIN_TRIALS} trials with a final result"
        return document
    flat = [flatten(t.params) for t in trials]
    names = sorted({name for params in flat for name in params})
    columns = [_encoded([params.get(name) for params in flat]) for name in names]
    x = np.column_stack(columns)
    y = np.array([float(t.final) for t in trials])
    shares = permutation_importance(x, y)
    document["params"] = sorted(
        ({"name": n, "importance": round(float(s), 4)} for n, s in zip(names, shares, strict=True)),
        key=lambda p: -p["importance"],
    )
    return document


def _encoded(values: list[Any]) -> Floats:
    """Numbers as they are (missing: below the smallest); anything else as its category index."""
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values if v is not None):
        numbers = [float(v) for v in values if v is not None]
        missing = (min(numbers) - 1.0) if numbers else 0.0
        return np.array([missing if v is None else float(v) for v in values])
    categories = {c: i for i, c in enumerate(sorted({str(v) for v in values}))}
    return np.array([float(categories[str(v)]) for v in values])
