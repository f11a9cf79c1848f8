"""The tuners a config can name with `builtinTunerName`: add a file and one entry below."""

from __future__ import annotations

from nnifc.tuners.anneal import AnnealTuner
from nnifc.tuners.base import Tuner, TunerOptions
from nnifc.tuners.batch import BatchTuner
from nnifc.tuners.evolution import EvolutionTuner
from nnifc.tuners.gp import GpTuner
from nnifc.tuners.gridsearch import GridSearchTuner
from nnifc.tuners.metis import MetisTuner
from nnifc.tuners.pbt import PbtTuner
from nnifc.tuners.random import RandomTuner
from nnifc.tuners.tpe import TpeTuner

TUNERS: dict[str, type[Tuner]] = dict(
    (t.name, t)
    for t in (
        RandomTuner,
        TpeTuner,
        AnnealTuner,
        EvolutionTuner,
        GridSearchTuner,
        BatchTuner,
        PbtTuner,
        GpTuner,
        MetisTuner,
    )
)

__all__ = ["TUNERS", "Tuner", "TunerOptions"]
