"""An experiment and its platform rebuilt from what its store holds (the config and search
space as validated at create), for the commands that act on an experiment they did not start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from nnifc.annotations.workdir import expanded
from nnifc.platforms import PLATFORMS, Platform
from nnifc.store import ExperimentRow, experiment_dir

if TYPE_CHECKING:
    from nnifc.experiment import Experiment


def reload(row: ExperimentRow) -> Experiment:
    """The experiment as it was validated at create time (its config and search space as stored)."""
    from nnifc import config

    return config.load(Path(row.config_path), text=row.config_text, space_text=row.space_text)


def platform_for(row: ExperimentRow, experiment: Experiment | None = None) -> Platform:
    exp_dir = experiment_dir(row.id)
    experiment = expanded(experiment or reload(row), exp_dir)
    return PLATFORMS[row.platform](experiment, exp_dir, json.loads(row.options))
