"""The tuners a config can name with `builtinTunerName`: add a file and one entry below.

Each is imported when a config names it: GP and Metis load scipy's linear algebra, which a
command reading the store, or an experiment tuned by TPE, should not pay for at start.
"""

from __future__ import annotations

from nnifc.registry import LazyRegistry
from nnifc.tuners.base import Tuner, TunerOptions

TUNERS: LazyRegistry[type[Tuner]] = LazyRegistry(
    {
        "Random": ("nnifc.tuners.random", "RandomTuner"),
        "TPE": ("nnifc.tuners.tpe", "TpeTuner"),
        "Anneal": ("nnifc.tuners.anneal", "AnnealTuner"),
        "Evolution": ("nnifc.tuners.evolution", "EvolutionTuner"),
        "GridSearch": ("nnifc.tuners.gridsearch", "GridSearchTuner"),
        "BatchTuner": ("nnifc.tuners.batch", "BatchTuner"),
        "PBTTuner": ("nnifc.tuners.pbt", "PbtTuner"),
        "GPTuner": ("nnifc.tuners.gp", "GpTuner"),
        "MetisTuner": ("nnifc.tuners.metis", "MetisTuner"),
    }
)

__all__ = ["TUNERS", "Tuner", "TunerOptions"]
