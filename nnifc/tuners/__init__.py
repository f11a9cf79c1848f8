"""The tuners a config can name with `builtinTunerName`: add a file and one entry below."""

from __future__ import annotations

from nnifc.tuners.base import Tuner, TunerOptions
from nnifc.tuners.random import RandomTuner

TUNERS: dict[str, type[Tuner]] = {t.name: t for t in (RandomTuner,)}

__all__ = ["TUNERS", "Tuner", "TunerOptions"]
