"""An experiment as every layer sees it: NNI's v1 YAML as frozen pydantic models, and `Experiment`.

Why here and not in `config.py`: platforms, storage and the scheduler need these types but not
the loader (tuner registries, the NNI v2 translation, the YAML parser). The models mirror the
file (same camelCase keys, types and defaults); `config.load` turns a validated file into an
`Experiment`. Strict types (no "3" for 3), unknown keys rejected, and the checks NNI never made
(FrameworkController's name rules, storage blocks that match `storage`, anchored Azure name
patterns) made here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
)
from pydantic.alias_generators import to_camel

if TYPE_CHECKING:
    from nnifc.assessors import Assessor, AssessorOptions
    from nnifc.errors import ConfigError
    from nnifc.optimize import OptimizeMode
    from nnifc.space import SearchSpace
    from nnifc.tuners import Tuner, TunerOptions

DURATION = re.compile(r"^[1-9][0-9]*[smhd]$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
K8S_NAME = r"^[a-z0-9]{1,63}$"  # FrameworkController's rule for Framework and task-role names


def duration_seconds(text: str) -> int:
    return int(text[:-1]) * UNIT_SECONDS[text[-1]]


def _duration(value: object) -> str:
    if not isinstance(value, str) or not DURATION.match(value):
        shown = json.dumps(value)
        raise ValueError(
            f"must be a whole number and a unit s, m, h or d, like 30m or 10h, got {shown}"
        )
    return value


def _resolve(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir", Path.cwd())
    try:
        expanded = value.expanduser()
    except RuntimeError:
        raise ValueError(f"cannot expand {str(value).split('/')[0]}: no such user") from None
    return Path(os.path.abspath(base / expanded))


STORED = {"stored": True}  # validation context: settings kept in a store, checked at create


def _stored(info: ValidationInfo) -> bool:
    """Whether this is a setting kept since create: its files were checked then, and may be gone
    now without stopping `stop` or `logs`."""
    return bool((info.context or {}).get("stored"))


def _existing_dir(value: Path, info: ValidationInfo) -> Path:
    if _stored(info):
        return value
    if not value.is_dir():
        raise ValueError(
            f"no such directory: {value}" if not value.exists() else f"not a directory: {value}"
        )
    return value


def _existing_file(value: Path, info: ValidationInfo) -> Path:
    if _stored(info):
        return value
    if not value.is_file():
        raise ValueError(f"no such file: {value}" if not value.exists() else f"not a file: {value}")
    return value


def _command(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty (it is only spaces)")
    if "\0" in value:
        raise ValueError("must not contain a NUL character (no shell can run it)")
    return value


Duration = Annotated[str, BeforeValidator(_duration)]
Command = Annotated[str, Field(min_length=1), AfterValidator(_command)]
ConfigPath = Annotated[Path, Field(strict=False), AfterValidator(_resolve)]
ExistingDir = Annotated[ConfigPath, AfterValidator(_existing_dir)]
ExistingFile = Annotated[ConfigPath, AfterValidator(_existing_file)]
Count = Annotated[int, Field(ge=0, le=99999)]
Text = Annotated[str, Field(min_length=1)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, alias_generator=to_camel)


class TunerSpec(Model):
    builtin_tuner_name: str | None = None
    class_args: dict[str, Any] = Field(default_factory=dict)
    code_dir: str | None = None  # custom tuners: run by nnifc.nni_classes (config.py)
    class_file_name: str | None = None
    class_name: str | None = None
    include_intermediate_results: bool = False
    gpu_indices: int | str | None = None
    gpu_num: int | None = None  # accepted by old NNI releases; ignored


class AssessorSpec(Model):
    builtin_assessor_name: str | None = None
    class_args: dict[str, Any] = Field(default_factory=dict)
    code_dir: str | None = None
    class_file_name: str | None = None
    class_name: str | None = None
    gpu_num: int | None = None  # accepted by old NNI releases; ignored


class AdvisorSpec(Model):
    builtin_advisor_name: str | None = None
    class_args: dict[str, Any] = Field(default_factory=dict)
    code_dir: str | None = None  # custom advisors: run by nnifc.nni_classes (config.py)
    class_file_name: str | None = None
    class_name: str | None = None
    gpu_indices: int | str | None = None
    gpu_num: int | None = None  # accepted by old NNI releases; ignored


class LocalTrial(Model):
    command: Command
    code_dir: ExistingDir
    gpu_num: Count = 0


class CompletionPolicy(Model):
    min_failed_task_count: int = Field(ge=-1)
    min_succeeded_task_count: int = Field(ge=-1)


class TaskRole(Model):
    name: Annotated[str, Field(pattern=K8S_NAME)]
    task_num: int = Field(ge=1, le=99999)
    command: Command
    gpu_num: Count = 0
    cpu_num: Annotated[int | float, Field(gt=0, le=99999)] = 1
    memory_mb: int = Field(alias="memoryMB", ge=1)
    image: Text
    private_registry_auth_path: ExistingFile | None = None
    framework_attempt_completion_policy: CompletionPolicy


class FrameworkControllerTrial(Model):
    code_dir: ExistingDir
    task_roles: Annotated[list[TaskRole], Field(min_length=1)]  # unique names: see config.py


class FrameworkControllerConfig(Model):
    """The keys every storage shares; the loader adds the named storage's own blocks."""

    storage: Text = "nfs"  # a key of nnifc.storage.STORAGES, checked by the loader
    service_account_name: Text | None = None
    namespace: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")] = "default"
    upload_retry_count: int | None = Field(default=None, ge=1, le=99999)
    reuse: bool | None = None
    # nnifc's own keys (NNI has none of these)
    pending_timeout: Duration = "15m"  # a trial whose pods stay Pending this long fails
    framework_barrier: bool | None = None  # default: on when a trial has more than one task
    framework_barrier_image: Text = "frameworkcontroller/frameworkbarrier"
    max_code_files: int = Field(default=2000, ge=1)
    max_code_size_mb: int = Field(default=300, alias="maxCodeSizeMB", ge=1)


class LocalConfig(Model):
    gpu_indices: int | str | None = None
    max_trial_num_per_gpu: int = Field(default=1, ge=1)
    use_active_gpu: bool = False


class CommonConfig(Model):
    author_name: str | None = None
    experiment_name: Text
    description: str | None = None
    trial_concurrency: int = Field(ge=1, le=99999)
    max_exec_duration: Duration = "999d"
    max_trial_duration: Duration = "999d"  # NNI 2.x's v1 schema: a longer trial is EARLY_STOPPED
    max_trial_num: int = Field(default=99999, ge=1, le=99999)
    # nnifc's (Katib's maxFailedTrialCount): the experiment is FAILED once this many trials failed
    max_failed_trial_num: Count | None = None
    search_space_path: ExistingFile | None = None
    use_annotation: bool = False
    multi_phase: bool = False
    multi_thread: bool = False
    nni_manager_ip: str | None = None
    log_dir: str | None = None
    debug: bool = False
    version_check: bool = True
    log_level: Literal["trace", "debug", "info", "warning", "error", "fatal"] = "info"
    log_collection: Literal["http", "none"] | None = None
    tuner: TunerSpec | None = None
    assessor: AssessorSpec | None = None
    advisor: AdvisorSpec | None = None  # excludes tuner and assessor: see config.py

    @property
    def max_exec_seconds(self) -> int:
        return duration_seconds(self.max_exec_duration)

    @property
    def max_trial_seconds(self) -> int:
        return duration_seconds(self.max_trial_duration)


class LocalExperimentConfig(CommonConfig):
    training_service_platform: Literal["local"]
    trial: LocalTrial
    local_config: LocalConfig = Field(default_factory=LocalConfig)
    frameworkcontroller_config: dict[str, Any] | None = None  # ignored here, with a warning


class FrameworkControllerExperimentConfig(CommonConfig):
    training_service_platform: Literal["frameworkcontroller"]
    trial: FrameworkControllerTrial
    frameworkcontroller_config: FrameworkControllerConfig
    local_config: dict[str, Any] | None = None  # ignored here, with a warning


ExperimentConfig = LocalExperimentConfig | FrameworkControllerExperimentConfig
PLATFORM_CONFIGS: dict[
    str, type[LocalExperimentConfig] | type[FrameworkControllerExperimentConfig]
] = {
    "local": LocalExperimentConfig,
    "frameworkcontroller": FrameworkControllerExperimentConfig,
}


@dataclass(frozen=True)
class Experiment:
    """A validated experiment: the config as written, its search space and plug-in options."""

    source: Path
    config_text: str
    space_text: str
    config: ExperimentConfig
    space: SearchSpace
    tuner_options: TunerOptions
    tuner_class: type[Tuner]  # what proposes trials: the tuner, or the advisor (which runs as one)
    assessor_options: AssessorOptions | None
    optimize_mode: OptimizeMode  # the tuner's: how trials are ranked
    assessor_optimize_mode: OptimizeMode | None  # None: no assessor
    warnings: tuple[str, ...]
    # A mistake found after loading (a platform's preflight), located in the file as written;
    # the loader supplies it, so no platform needs the loader.
    error_at: Callable[[Sequence[str | int], str], ConfigError] = field(compare=False, repr=False)
    # a custom assessor's class (nnifc.nni_classes); None: the builtin `assessor_name` names
    assessor_class: type[Assessor] | None = None

    @property
    def platform(self) -> str:
        return self.config.training_service_platform

    @property
    def tuner_name(self) -> str:
        """The tuner's name, or the advisor's: an advisor runs as the tuner."""
        if self.config.advisor is not None:
            advisor = self.config.advisor
            assert advisor.builtin_advisor_name or advisor.class_name
            return advisor.builtin_advisor_name or advisor.class_name or ""
        tuner = self.config.tuner
        assert tuner is not None and (tuner.builtin_tuner_name or tuner.class_name)
        return tuner.builtin_tuner_name or tuner.class_name or ""

    @property
    def assessor_name(self) -> str | None:
        """The builtin assessor's name, or a custom one's className."""
        assessor = self.config.assessor
        return (assessor.builtin_assessor_name or assessor.class_name) if assessor else None
