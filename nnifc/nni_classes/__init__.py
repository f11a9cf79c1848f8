"""NNI's class API: custom tuners, assessors and advisors (`codeDir` + `classFileName` +
`className` + `classArgs`) and NNI's builtins nnifc has no native version of, run by nnifc's loop.

The loader (`nnifc.config`) turns a config section into a ClassSource, checks it at create with
`check`, and binds it into a Tuner or Assessor class (`tuner_class`, `advisor_class`,
`assessor_class`) that the scheduler builds like any other. `nni` is needed only when such a config is loaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nnifc.nni_classes import advisor
from nnifc.nni_classes.advisor import NniAdvisor, advisor_class
from nnifc.nni_classes.assessor import NniAssessor, assessor_class
from nnifc.nni_classes.builtins import NNI_DEFAULT_MODE, NNI_TUNERS, builtin_source
from nnifc.nni_classes.formats import nni_space
from nnifc.nni_classes.loading import (
    INSTALL_NNI,
    ClassProblem,
    ClassSource,
    Section,
    instantiate,
)
from nnifc.nni_classes.tuner import NniTuner, tuner_class
from nnifc.space import SearchSpace

__all__ = [
    "INSTALL_NNI",
    "NNI_DEFAULT_MODE",
    "NNI_TUNERS",
    "ClassProblem",
    "ClassSource",
    "NniAdvisor",
    "NniAssessor",
    "NniTuner",
    "Section",
    "advisor_class",
    "assessor_class",
    "builtin_source",
    "check",
    "custom_source",
    "tuner_class",
]


def custom_source(section: Section, spec: Any, base_dir: Path) -> ClassSource:
    """The class a section's codeDir, classFileName and className name; codeDir is relative to
    the config file, as NNI has it. NNI v2's dotted className ("file.Class") names the file too."""
    if not spec.class_name:
        raise ClassProblem(
            "className", "required with codeDir and classFileName: the class to load"
        )
    class_name, file_name = spec.class_name, spec.class_file_name
    if file_name is None:
        if "." not in class_name:
            raise ClassProblem(
                "classFileName", "required with className: the .py file in codeDir that defines it"
            )
        module, class_name = class_name.rsplit(".", 1)
        file_name = module.replace(".", "/") + ".py"
    code_dir = Path(os.path.abspath(base_dir / Path(spec.code_dir or ".").expanduser()))
    return ClassSource(
        section=section,
        class_name=class_name,
        module=Path(file_name).stem,
        class_args=dict(spec.class_args),
        code_dir=code_dir,
        class_file=code_dir / file_name,
    )


def check(source: ClassSource, space: SearchSpace) -> None:
    """Build the class with its classArgs, and give a tuner or advisor the search space, as the
    loop will: a ClassProblem (naming the config key) when either fails."""
    if source.section == "advisor":
        advisor.check(source, space)
        return
    instance = instantiate(source)
    if source.section != "tuner":
        return
    try:
        instance.update_search_space(nni_space(space))
    except Exception as e:
        raise ClassProblem(
            source.name_key,
            f"{source.label} refused the search space: {type(e).__name__}: {e}",
        ) from None
