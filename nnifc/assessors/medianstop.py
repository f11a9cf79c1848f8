"""Median stopping rule (Golovin et al., "Google Vizier", KDD 2017), with NNI's exact rule.

At step t (= number of results so far) a trial is stopped when its best loss so far is strictly
worse than the median of the running averages, over their first t results, of the succeeded
trials that reached step t. Before `start_step`, or with no such trials, it continues.

    assessor:
      builtinAssessorName: Medianstop
      classArgs: {optimize_mode: maximize, start_step: 5}
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from nnifc.assessors.base import Assessor, AssessorOptions, Verdict


class MedianstopOptions(AssessorOptions):
    start_step: int = Field(default=0, ge=0, le=9999)


class MedianstopAssessor(Assessor):
    name = "Medianstop"
    default_optimize_mode = "maximize"
    Options = MedianstopOptions
    options: MedianstopOptions  # what the loader validated with Options

    def assess(self, curve: Sequence[float], finished: Sequence[Sequence[float]]) -> Verdict:
        step = len(curve)
        if step == 0 or step < self.options.start_step:
            return Verdict.CONTINUE
        averages = sorted(sum(c[:step]) / step for c in finished if len(c) >= step)
        if not averages:
            return Verdict.CONTINUE
        # NNI takes avg[(n-1)//2] of ascending maximised values; in losses that is avg[n//2].
        median = averages[len(averages) // 2]
        return Verdict.STOP if min(curve) > median else Verdict.CONTINUE
