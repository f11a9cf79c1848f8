"""The assessor interface: should a running trial go on, given its curve and the finished ones?

Curves are losses (lower is better); the scheduler orients metrics before an assessor sees them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from enum import Enum
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict


class Verdict(Enum):
    CONTINUE = "continue"
    STOP = "stop"


class AssessorOptions(BaseModel):
    """`classArgs` every assessor accepts; an assessor extends this with its own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    optimize_mode: Literal["maximize", "minimize"] | None = None


class Assessor(ABC):
    name: ClassVar[str]  # the builtinAssessorName, e.g. "Medianstop"
    # NNI's default for classArgs.optimize_mode; None where NNI's assessor has no direction
    default_optimize_mode: ClassVar[Literal["maximize", "minimize"] | None]
    Options: ClassVar[type[AssessorOptions]] = AssessorOptions

    def __init__(self, options: AssessorOptions) -> None:
        self.options = options
        # set by the scheduler, as a tuner's are (see `Tuner.state_dir`)
        self.state_dir: str | None = None
        self.resumed = False

    @abstractmethod
    def assess(self, curve: Sequence[float], finished: Sequence[Sequence[float]]) -> Verdict:
        """Judge a running trial.

        Args:
            curve: this trial's intermediate losses so far, step 0 first.
            finished: the intermediate loss curves of trials that SUCCEEDED.
        """

    def assess_trial(
        self, trial_id: str, curve: Sequence[float], finished: Sequence[Sequence[float]]
    ) -> Verdict:
        """`assess` for a trial known by its id, as the loop asks: an assessor that keeps state
        per trial (NNI's class API) overrides this; the others judge the curve alone."""
        return self.assess(curve, finished)

    def trial_end(self, trial_id: str, success: bool) -> None:
        """A trial ended (`success`: it SUCCEEDED); for assessors that keep state per trial."""
        return None
