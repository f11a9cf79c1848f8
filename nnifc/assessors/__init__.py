"""The assessors a config can name with `builtinAssessorName`: add a file and one entry below."""

from __future__ import annotations

from nnifc.assessors.base import Assessor, AssessorOptions, Verdict
from nnifc.assessors.curvefitting import CurvefittingAssessor
from nnifc.assessors.medianstop import MedianstopAssessor

ASSESSORS: dict[str, type[Assessor]] = {
    a.name: a for a in (MedianstopAssessor, CurvefittingAssessor)
}

__all__ = ["ASSESSORS", "Assessor", "AssessorOptions", "Verdict"]
