"""An experiment's platform rebuilt from the settings its store keeps, and the experiment itself
from its config and search space as stored, for the commands that act on an experiment they did
not start.

Why settings and not the config: `stop` and `logs` must work whatever became of the config file
and codeDir since `create`, and whatever a later nnifc would think of the config.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from nnifc.annotations.workdir import expanded
from nnifc.errors import StoreError
from nnifc.experiment import STORED
from nnifc.platforms import PLATFORMS, Platform
from nnifc.store import ExperimentRow, experiment_dir

if TYPE_CHECKING:
    from nnifc.experiment import Experiment


def reload(row: ExperimentRow) -> Experiment:
    """The experiment as validated at create time (its config and search space as stored); files
    it named then (codeDir) are not required to exist now."""
    from nnifc import config

    return config.load(
        Path(row.config_path), text=row.config_text, space_text=row.space_text, stored=True
    )


def settings_text(
    experiment: Experiment, exp_id: str, options: Mapping[str, str], made_in: Path
) -> str:
    """The platform's settings for a new experiment, as the store keeps them; what they need on
    disk (annotations expanded) is made in `made_in`, the directory that becomes its own."""
    ready = expanded(experiment, experiment_dir(exp_id), made_in=made_in)
    settings = PLATFORMS[experiment.platform].settings_of(ready, options)
    return settings.model_dump_json(by_alias=True)


def platform_for(row: ExperimentRow) -> Platform[Any]:
    cls = PLATFORMS[row.platform]
    options = json.loads(row.options)
    exp_dir = experiment_dir(row.id)
    if not row.settings:  # created by an nnifc that kept no settings
        return cls(cls.settings_of(expanded(reload(row), exp_dir), options), exp_dir, options)
    try:
        settings = cls.Settings.model_validate_json(row.settings, context=STORED)
    except ValidationError as e:
        raise StoreError(
            f"experiment {row.id}: its stored platform settings are damaged"
            f" ({e.error_count()} problems, first: {e.errors()[0]['msg']})"
        ) from None
    return cls(settings, exp_dir, options)
