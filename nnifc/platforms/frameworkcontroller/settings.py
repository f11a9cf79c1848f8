"""What the FrameworkController platform keeps of an experiment from create on: the task roles,
the frameworkcontrollerConfig keys and the storage's own options. A later `stop`, `logs` or
`resume` rebuilds the platform from these alone, whatever became of the config file or codeDir.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from nnifc.errors import PlatformError
from nnifc.experiment import (
    STORED,
    Experiment,
    FrameworkControllerConfig,
    FrameworkControllerExperimentConfig,
    FrameworkControllerTrial,
)
from nnifc.platforms.base import PlatformSettings
from nnifc.storage import STORAGES, Storage


class FrameworkControllerSettings(PlatformSettings):
    trial: FrameworkControllerTrial
    frameworkcontroller_config: FrameworkControllerConfig
    storage_options: dict[str, Any]  # the storage's Options as JSON
    version_check: bool
    trial_concurrency: int
    assessed: bool  # an assessor judges intermediate results: read outputs more often

    @property
    def storage_kind(self) -> str:
        return self.frameworkcontroller_config.storage

    def storage(self) -> Storage[Any]:
        """The experiment's storage (connecting only when first used)."""
        cls = STORAGES[self.storage_kind]
        return cls(cls.Options.model_validate(self.storage_options, context=STORED))


def settings_of(experiment: Experiment) -> FrameworkControllerSettings:
    config = experiment.config
    if not isinstance(config, FrameworkControllerExperimentConfig):
        raise PlatformError(
            f"a {config.training_service_platform} experiment is not for FrameworkController"
        )
    fc = config.frameworkcontroller_config
    options = STORAGES[fc.storage].Options
    return FrameworkControllerSettings(
        trial=config.trial,
        frameworkcontroller_config=FrameworkControllerConfig.model_validate(
            _part(fc, FrameworkControllerConfig), context=STORED
        ),
        storage_options=_part(fc, options),
        version_check=config.version_check,
        trial_concurrency=config.trial_concurrency,
        assessed=config.assessor is not None,
    )


def _part(block: FrameworkControllerConfig, model: type[BaseModel]) -> dict[str, Any]:
    """The keys of `model` in `block` (the loader's model holds the storage's keys too), as JSON."""
    dumped: dict[str, Any] = block.model_dump(
        by_alias=True, mode="json", include=set(model.model_fields)
    )
    return dumped
