"""The advisors a config can name with `advisor: {builtinAdvisorName: ...}`: one entry each below.

An advisor chooses both the parameters and the budget of each trial (Hyperband, BOHB, ASHA);
it implements the Tuner interface, so the scheduler, the store and `resume` treat it as a tuner.
"""

from __future__ import annotations

from nnifc.advisors.asha import Asha
from nnifc.advisors.base import Advisor, AdvisorOptions
from nnifc.advisors.bohb import Bohb
from nnifc.advisors.hyperband import Hyperband
from nnifc.stages import BUDGET_KEY

ADVISORS: dict[str, type[Advisor]] = {a.name: a for a in (Hyperband, Bohb, Asha)}

__all__ = ["ADVISORS", "BUDGET_KEY", "Advisor", "AdvisorOptions"]
