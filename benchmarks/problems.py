"""The tuner benchmark's problems: three classic test functions and a training-run stand-in.

Apart from tuners.py (the runs, the tables, the targets) so that what is measured reads on its
own; every method and reference sees these spaces and objectives exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from references import Objective

from nnifc.space import Choice, RandInt, SearchSpace, Uniform


@dataclass(frozen=True)
class Problem:
    name: str
    space: SearchSpace
    objective: Objective
    optimum: float
    anchor: float | None  # best reference median after 100 trials quoted in issue 3 (None: measure)


def branin(p: Mapping[str, Any]) -> float:
    x1, x2 = p["x1"], p["x2"]
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return float(
        (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10
    )


_HA = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])  # fmt: skip
_HP = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991], [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])  # fmt: skip
_HALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(p: Mapping[str, Any]) -> float:
    x = np.array([p[f"x{i}"] for i in range(6)])
    return float(-(_HALPHA * np.exp(-(_HA * (x - _HP) ** 2).sum(axis=1))).sum())


def rosenbrock(p: Mapping[str, Any]) -> float:
    x = np.array([p[f"x{i}"] for i in range(10)])
    return float((100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum())


def mixed(p: Mapping[str, Any]) -> float:
    """A training-run stand-in with optimum 0 at adam, lr 3e-3, width 192, 4 layers.

    optimizer: choice [sgd, adam, rmsprop]; lr: loguniform [1e-5, 1e-1]; width: quniform
    [16, 512, 16]; layers: randint [1, 8). The learning rate's best value depends on the optimizer
    (sgd wants 10x more), so the optimizer and lr interact, as they do in practice.
    """
    offset, lr_shift = {"adam": (0.0, 0.0), "rmsprop": (0.1, 0.3), "sgd": (0.3, 1.0)}[
        p["optimizer"]
    ]
    lr_term = (math.log10(p["lr"]) - math.log10(3e-3) - lr_shift) ** 2
    return float(
        offset + 0.5 * lr_term + ((p["width"] - 192) / 128) ** 2 + 0.05 * (p["layers"] - 4) ** 2
    )


PROBLEMS = (
    Problem("Branin", SearchSpace({"x1": Uniform(-5.0, 10.0), "x2": Uniform(0.0, 15.0)}), branin, 0.397887, 0.4164),
    Problem("Hartmann6", SearchSpace({f"x{i}": Uniform(0.0, 1.0) for i in range(6)}), hartmann6, -3.32237, -3.233),
    Problem("Rosenbrock10", SearchSpace({f"x{i}": Uniform(-5.0, 10.0) for i in range(10)}), rosenbrock, 0.0, 819.0),
    Problem(
        "Mixed",
        SearchSpace(
            {
                "optimizer": Choice(("sgd", "adam", "rmsprop")),
                "lr": Uniform(1e-5, 1e-1, log=True),
                "width": Uniform(16.0, 512.0, q=16.0),
                "layers": RandInt(1, 8),
            }
        ),
        mixed,
        0.0,
        None,
    ),
)  # fmt: skip
