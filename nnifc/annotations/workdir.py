"""useAnnotation's working copy: trials run a copy of codeDir with its annotations expanded,
made once per experiment under its directory."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nnifc.experiment import Experiment


def expanded(experiment: Experiment, exp_dir: Path, *, made_in: Path | None = None) -> Experiment:
    """useAnnotation: trials run a copy of codeDir with the annotations expanded, made once.

    The copy is made in `made_in` when given: `create` makes it in the directory that becomes
    `exp_dir` once the experiment is registered whole.
    """
    if not experiment.config.use_annotation:
        return experiment
    from nnifc.annotations import expand

    where = made_in or exp_dir
    if not (where / "code").is_dir():
        partial = where / "code.partial"
        shutil.rmtree(partial, ignore_errors=True)
        expand(experiment.config.trial.code_dir, partial)
        partial.rename(where / "code")
    trial = experiment.config.trial.model_copy(update={"code_dir": exp_dir / "code"})
    return dataclasses.replace(
        experiment, config=experiment.config.model_copy(update={"trial": trial})
    )
