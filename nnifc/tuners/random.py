"""Random search: every proposal is an independent draw from each parameter's prior.

tuner:
  builtinTunerName: Random
  classArgs: {seed: 42}      # optional
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nnifc.records import Params, Result
from nnifc.tuners.base import Tuner


class RandomTuner(Tuner):
    name = "Random"
    default_optimize_mode = None

    def propose(
        self, history: Sequence[Result], pending: Sequence[Params], rng: np.random.Generator
    ) -> Params:
        return self.space.sample(rng)
