"""The config sections that name an NNI class (a custom tuner, assessor or advisor, or NNI's builtin
that nnifc has no native version of), as `load` needs them: the class's source, its check at
create, and the warning that NNI's own code runs.

Why apart from `load`: every failure here is a ClassProblem naming the section's key, turned into
the located ConfigError every other config mistake is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nnifc import nni_classes
from nnifc.document import Source
from nnifc.nni_classes import NNI_TUNERS, ClassProblem, ClassSource, Section
from nnifc.space import SearchSpace


def nni_source(doc: Source, section: Section, spec: Any) -> ClassSource | None:
    """The NNI class a tuner, assessor or advisor section names (a custom one, or NNI's builtin
    that nnifc has no native version of); None for nnifc's own."""
    if spec is None:
        return None
    try:
        if spec.code_dir or spec.class_file_name or spec.class_name:
            return nni_classes.custom_source(section, spec, doc.path.parent)
        if section == "tuner" and spec.builtin_tuner_name in NNI_TUNERS:
            args = dict(spec.class_args)
            return nni_classes.builtin_source(spec.builtin_tuner_name, "builtinTunerName", args)
    except ClassProblem as e:
        raise doc.error((section, e.key), str(e)) from None
    return None


def check(doc: Source, source: ClassSource, search_space: SearchSpace) -> None:
    """At create: the class loads, takes its classArgs and (a tuner, an advisor) the search
    space."""
    try:
        nni_classes.check(source, search_space)
    except ClassProblem as e:
        raise doc.error((source.section, e.key), str(e)) from None


def runs_nni(path: Path, name: str, source: ClassSource | None) -> list[str]:
    if source is None or source.class_file is not None:
        return []
    return [
        f"{path}: {name} runs NNI's own code ({source.module}.{source.class_name}), not nnifc's"
    ]
