"""Which way the tuner and the assessor optimize: their classArgs, else NNI's default for each.

Why: NNI gave each algorithm its own default (TPE and Anneal minimize, Evolution, Medianstop and
Curvefitting maximize, Random, GridSearch and BatchTuner have none) and ran the tuner and the
assessor each in its own mode. A config written for NNI that leaves optimize_mode out means here
what it meant there; a warning says when that makes the two disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nnifc.assessors import ASSESSORS, AssessorOptions
from nnifc.tuners import TunerOptions

OptimizeMode = Literal["maximize", "minimize"]
FALLBACK: OptimizeMode = "maximize"  # when neither plug-in has a direction of its own


@dataclass(frozen=True)
class Modes:
    """The experiment's mode (the tuner's, which ranks trials) and the assessor's own."""

    experiment: OptimizeMode
    assessor: OptimizeMode | None  # None: no assessor
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class _Side:
    section: str  # "tuner" or "assessor"
    name: str
    explicit: OptimizeMode | None
    default: OptimizeMode | None

    @property
    def mode(self) -> OptimizeMode | None:
        return self.explicit or self.default

    def said(self) -> str:
        verb = "minimizes" if self.mode == "minimize" else "maximizes"
        why = (
            f"{self.section}.classArgs.optimize_mode"
            if self.explicit
            else f"NNI's default for {self.name}"
        )
        return f"the {self.section} {self.name} {verb} ({why})"


def resolve(
    path: Path,
    proposer: tuple[str, str, Literal["maximize", "minimize"] | None],
    tuner: TunerOptions,
    assessor_name: str | None,
    assessor: AssessorOptions | None,
) -> Modes:
    """Each plug-in's mode; explicit modes that differ are refused before this (config.py).

    `proposer`: the section that proposes trials (tuner or advisor), its name and NNI's default
    optimize_mode for it.
    """
    section, name, default = proposer
    tuner_side = _Side(section, name, tuner.optimize_mode, default)
    assessor_side = None
    if assessor_name is not None and assessor is not None:
        default = ASSESSORS[assessor_name].default_optimize_mode
        assessor_side = _Side("assessor", assessor_name, assessor.optimize_mode, default)
    mode = tuner_side.mode or (assessor_side.mode if assessor_side else None)
    warnings: list[str] = []
    if mode is None:
        mode = FALLBACK
        warnings.append(
            f"{path}: optimize_mode is not set in {section}.classArgs; assuming maximize"
        )
    differ = assessor_side is not None and tuner_side.mode != (assessor_side.mode or mode)
    if tuner_side.explicit is None and tuner_side.default is not None and not differ:
        # earlier nnifc releases assumed maximize: say which way the trials are ranked
        warnings.append(
            f"{path}: optimize_mode is not set in {section}.classArgs; {tuner_side.said()}"
        )
    if assessor_side is None:
        return Modes(mode, None, tuple(warnings))
    if tuner_side.mode and assessor_side.mode and tuner_side.mode != assessor_side.mode:
        warnings.append(
            f"{path}: {tuner_side.said()} but {assessor_side.said()}; each runs in its own mode, "
            f"as under NNI. To make them agree, set optimize_mode in {section}.classArgs and "
            "assessor.classArgs"
        )
    return Modes(mode, assessor_side.mode or mode, tuple(warnings))
