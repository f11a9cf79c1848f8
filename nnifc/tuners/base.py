"""The tuner interface: parameters in, parameters out, no state of its own.

A tuner sees the finished trials (`history`, losses already oriented so lower is better) and the
parameters of trials still running (`pending`), and draws randomness only from the `rng` it is
given. A restarted experiment therefore rebuilds any tuner from the store alone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from nnifc.records import Params, Result
from nnifc.space import SearchSpace


class TunerOptions(BaseModel):
    """`classArgs` every tuner accepts; a tuner extends this with its own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    optimize_mode: Literal["maximize", "minimize"] | None = None
    seed: int | None = None


class Tuner(ABC):
    name: ClassVar[str]  # the builtinTunerName, e.g. "TPE"
    # NNI's default for classArgs.optimize_mode; None where NNI's tuner has no direction
    default_optimize_mode: ClassVar[Literal["maximize", "minimize"] | None]
    Options: ClassVar[type[TunerOptions]] = TunerOptions

    def __init__(self, space: SearchSpace, options: TunerOptions) -> None:
        self.space = space
        self.options = options

    @abstractmethod
    def propose(
        self, history: Sequence[Result], pending: Sequence[Params], rng: np.random.Generator
    ) -> Params | None:
        """Parameters for the next trial, or None when the tuner has nothing left to propose.

        Args:
            history: finished trials with a usable metric, in the order they finished; a
                trial that FAILED is there too, with loss inf.
            pending: parameters of trials submitted but not finished.
            rng: the only source of randomness, seeded per proposal by the scheduler.
        """
