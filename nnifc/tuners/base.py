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
    # keys the tuner adds to the parameters besides the search space's (an advisor's budget)
    added_keys: ClassVar[frozenset[str]] = frozenset()
    # a trial that ended without a usable result (cancelled, NaN) is learnt as loss inf, as a
    # FAILED one is: successive halving and PBT must know that the trial's slot was used
    learns_unfinished: ClassVar[bool] = False
    # NNI refuses an assessor beside a tuner that decides when its trials end (PBT)
    takes_assessor: ClassVar[bool] = True

    def __init__(self, space: SearchSpace, options: TunerOptions) -> None:
        self.space = space
        self.options = options
        # set by the scheduler: an absolute directory every trial of the experiment can read
        # and write, as the trials see it (PBT's checkpoints)
        self.shared_dir: str | None = None
        # set by the scheduler: the launcher's own directory for the experiment, private to
        # its user and kept across resume (NNI's checkpoint directory, for tuners that keep
        # state between calls), and whether this object follows an earlier loop's trials
        self.state_dir: str | None = None
        self.resumed = False

    def wait(self, history: Sequence[Result], pending: Sequence[Params]) -> bool:
        """Whether a free slot stays empty for now, until a running trial ends (a None from
        `propose` ends the experiment's proposals for good)."""
        return False

    def observe(self, history: Sequence[Result], pending: Sequence[Params]) -> None:
        """Trials ended: the same arguments as `propose`, called once a poll's trials are learnt.
        Stateless tuners read them at the next proposal; a stateful one (NNI's class API) is
        told each result as NNI tells it, even when no proposal follows."""
        return None

    def progress(self, params: Params, step: int, raw: str) -> None:
        """A running trial with these parameters reported intermediate result `step` (0 first;
        `raw`: the value as the trial serialised it). The built-in tuners learn from ended
        trials only; an NNI advisor is told it as NNI tells it (PERIODICAL)."""
        return None

    def stops(self) -> list[Params]:
        """Parameters of running trials to stop early, each returned once (an NNI advisor's
        KillTrialJob); the loop asks after each poll."""
        return []

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
