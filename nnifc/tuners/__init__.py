"""The tuners a config can name with `builtinTunerName`: add a file and one entry below."""

from __future__ import annotations

from nnifc.tuners.anneal import AnnealTuner
from nnifc.tuners.base import Tuner, TunerOptions
from nnifc.tuners.batch import BatchTuner
from nnifc.tuners.evolution import EvolutionTuner
from nnifc.tuners.gridsearch import GridSearchTuner
from nnifc.tuners.random import RandomTuner
from nnifc.tuners.tpe import TpeTuner


class _Tuners(dict[str, type[Tuner]]):
    """The tuners by builtinTunerName; an advisor's name finds the advisor, which runs as a
    tuner (the scheduler looks both up here), but is not listed: `in`, keys() are tuners only."""

    def __missing__(self, name: str) -> type[Tuner]:
        from nnifc.advisors import ADVISORS

        return ADVISORS[name]


TUNERS: dict[str, type[Tuner]] = _Tuners(
    (t.name, t)
    for t in (
        RandomTuner,
        TpeTuner,
        AnnealTuner,
        EvolutionTuner,
        GridSearchTuner,
        BatchTuner,
    )
)

__all__ = ["TUNERS", "Tuner", "TunerOptions"]
