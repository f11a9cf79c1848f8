"""Annealing (hyperopt's `anneal`, as NNI's Anneal tuner runs it): local search that narrows.

Each proposal starts from a good finished trial, the best with probability 1/2, the runner-up with
1/4 and so on, and redraws every parameter near it: numbers uniformly in a window of
1 / (1 + 0.1 T) of the range around it (normal types from a normal that narrow), categories kept
unless a draw with that same probability resamples them, where T counts the trials that set the
parameter. A kept nested branch is annealed inside; a new branch is drawn from the prior.
With `parallel_optimize`, running trials count as finished at a constant-liar loss (v1 keys).

    tuner:
      builtinTunerName: Anneal
      classArgs: {optimize_mode: minimize, parallel_optimize: true, constant_liar_type: min}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from nnifc.records import Params, Result
from nnifc.space import Branch, Choice, Normal, RandInt, SearchSpace, Uniform
from nnifc.tuners.base import Tuner, TunerOptions


class AnnealOptions(TunerOptions):
    parallel_optimize: bool = False
    constant_liar_type: Literal["min", "max", "mean"] = "min"


class AnnealTuner(Tuner):
    name = "Anneal"
    default_optimize_mode = "minimize"
    Options = AnnealOptions
    options: AnnealOptions  # what the loader validated with Options

    def propose(
        self, history: Sequence[Result], pending: Sequence[Params], rng: np.random.Generator
    ) -> Params:
        known = [*pending, *(r.params for r in history)]
        obs = [r.params for r in history]
        losses = [r.loss for r in history]
        if self.options.parallel_optimize and pending and losses:
            liar = self.options.constant_liar_type
            lie = (
                min(losses)
                if liar == "min"
                else max(losses)
                if liar == "max"
                else float(np.mean(losses))
            )
            obs, losses = [*obs, *pending], [*losses, *[lie] * len(pending)]
        for _ in range(32):  # a repeat is only likely in a small discrete space
            if obs:
                rank = min(int(rng.geometric(0.5)) - 1, len(obs) - 1)
                start = obs[int(np.argsort(losses, kind="stable")[rank])]
                candidate = _near(self.space, start, obs, rng)
            else:
                candidate = self.space.sample(rng)
            if not any(candidate == p for p in known):
                return candidate
        return self.space.sample(rng)


def _near(
    space: SearchSpace, start: Params, obs: Sequence[Params], rng: np.random.Generator
) -> dict[str, Any]:
    shrink = 1.0 / (1.0 + 0.1 * len(obs))
    out: dict[str, Any] = {}
    for key, param in space.items():
        value = start[key]
        match param:
            case Uniform(low=low, high=high, log=log):
                lo, hi = (math.log(low), math.log(high)) if log else (low, high)
                half = 0.5 * (hi - lo) * shrink
                mid = min(max(math.log(value) if log else value, lo + half), hi - half)
                raw = float(rng.uniform(mid - half, mid + half))
                out[key] = param.finish(math.exp(raw) if log else raw)
            case Normal(sigma=sigma, q=q, log=log):
                centre = math.log(max(value, (q or 1e-12) / 2)) if log else value
                out[key] = param.finish(float(rng.normal(centre, sigma * shrink)))
            case Choice() | RandInt() if rng.random() < shrink:
                out[key] = _draw(param, rng)
            case Choice() if param.nested:
                branch = next(b for b in param.options if b.name == value["_name"])
                same = [o[key] for o in obs if o[key]["_name"] == branch.name]
                out[key] = {"_name": branch.name, **_near(branch.space, value, same, rng)}
            case _:
                out[key] = value
    return out


def _draw(param: Choice | RandInt, rng: np.random.Generator) -> Any:
    value = param.sample(rng)
    if isinstance(value, Branch):
        return {"_name": value.name, **value.space.sample(rng)}
    return value
