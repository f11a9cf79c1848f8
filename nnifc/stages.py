"""Where a trial stands in a multi-fidelity or population search, read from its parameters alone.

Why from the parameters: they are what the trial was given (NNI's `TRIAL_BUDGET`, PBT's
checkpoint directories), so `status`, `--json` and the web view show the same thing for a live
experiment, a finished one and one rebuilt from a cluster, without knowing the algorithm's
classArgs. A rung is the rank of a trial's budget among the budgets the experiment has used
(0: the smallest); a PBT generation is the one its checkpoint directory names.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

BUDGET_KEY = "TRIAL_BUDGET"  # NNI's advisors pass the budget under this key
SAVE_KEY = "save_checkpoint_dir"  # NNI's PBTTuner: <root>/<generation>/<index>
LOAD_KEY = "load_checkpoint_dir"  # the checkpoint a trial continues from


@dataclass(frozen=True)
class Stage:
    budget: float | None = None
    rung: int | None = None
    generation: int | None = None

    def budget_text(self) -> str:
        if self.budget is None:
            return ""
        budget = int(self.budget) if self.budget.is_integer() else self.budget
        return f"{budget} (rung {self.rung})"

    def generation_text(self) -> str:
        return "" if self.generation is None else str(self.generation)


def stages(params: Sequence[Mapping[str, Any]]) -> list[Stage]:
    """Each trial's stage, in the order given (an empty Stage for a trial that has none)."""
    budgets = [_budget(p) for p in params]
    ranks = {b: i for i, b in enumerate(sorted({b for b in budgets if b is not None}))}
    return [
        Stage(budget=b, rung=ranks[b] if b is not None else None, generation=_generation(p))
        for p, b in zip(params, budgets, strict=True)
    ]


def _budget(params: Mapping[str, Any]) -> float | None:
    value = params.get(BUDGET_KEY)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _generation(params: Mapping[str, Any]) -> int | None:
    path = params.get(SAVE_KEY)
    if not isinstance(path, str):
        return None
    parent = posixpath.basename(posixpath.dirname(path.rstrip("/")))
    return int(parent) if parent.isdecimal() and len(parent) < 10 else None
