"""BatchTuner: run a fixed list of configurations, in order, once each, then stop.

The search space is a single choice whose options are complete configurations; as in NNI, the
trial receives the next configuration not yet finished or running itself (not wrapped in the
choice's name). NNI v1 takes no classArgs for it.

    tuner:
      builtinTunerName: BatchTuner
    # search_space.json
    {"combine_params": {"_type": "choice", "_value": [{"lr": 0.1, "optimizer": "sgd"}, ...]}}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nnifc.records import Params, Result
from nnifc.space import Choice, SearchSpace
from nnifc.tuners.base import Tuner, TunerOptions


class BatchTuner(Tuner):
    name = "BatchTuner"
    default_optimize_mode = None

    def __init__(self, space: SearchSpace, options: TunerOptions) -> None:
        (key, param), *rest = space.items()
        if rest or not isinstance(param, Choice) or param.nested:
            raise ValueError(
                "BatchTuner needs a search space with a single choice parameter whose options are "
                f"the configurations to run, got parameters {', '.join(space)}"
            )
        super().__init__(space, options)
        self.key, self.configs = key, param.options

    def propose(
        self, history: Sequence[Result], pending: Sequence[Params], rng: np.random.Generator
    ) -> Params | None:
        started = [*(r.params for r in history), *pending]
        for config in self.configs:
            params = config if isinstance(config, dict) else {self.key: config}
            if params in started:
                started.remove(params)  # a config listed twice runs twice
            else:
                return params
        return None
