"""NNI 2.x ("v2") experiment keys, and the v1 key each one means.

Why: the translation in nni_v2.py is driven by these tables, so adding or checking a key is one
line here, next to the facts it rests on: NNI 2.10's `experiment/config` field names and
defaults, `parse_time` and `parse_memory_size`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nnifc.document import shown
from nnifc.experiment import DURATION

MARKERS = (
    "trainingService",
    "trialCommand",
    "trialCodeDirectory",
    "maxTrialNumber",
    "maxExperimentDuration",
    "searchSpaceFile",
    "searchSpace",
)
DEFAULT_IMAGE = "msranni/nni:latest"  # NNI 2.x's default dockerImage
TIME_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
SIZE_UNITS = {"tb": 1024**4, "gb": 1024**3, "mb": 1024**2, "kb": 1024, "b": 1}


def seconds(value: Any) -> str:
    """NNI's parse_time: a number of seconds, or a number with a unit d, h, m or s."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a duration like 30m, 1.5h or 3600, got {shown(value)}")
    if isinstance(value, str) and DURATION.match(value.strip()):
        return value.strip()  # already a v1 duration: shown as written
    total: float = math.nan
    if isinstance(value, int | float):
        total = float(value)
    else:
        text = value.strip().lower()
        unit = text[-1:] if text[-1:] in TIME_UNITS else ""
        try:
            total = float(text[: len(text) - len(unit)]) * TIME_UNITS.get(unit, 0)
        except ValueError:
            total = math.nan
        if not unit or not math.isfinite(total):
            raise ValueError(
                f"must be a number and a unit d, h, m or s, like 30m or 1.5h, got {shown(value)}"
            )
    if not 0 < total < 1e12:
        raise ValueError(f"must be more than 0 seconds, got {shown(value)}")
    return f"{math.ceil(total)}s"


def megabytes(value: Any) -> int:
    """NNI's parse_memory_size: a number of MB, or a number with a unit tb, gb, mb, kb or b."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        for unit, factor in SIZE_UNITS.items():
            if text.endswith(unit):
                try:
                    size = float(text[: -len(unit)]) * factor / SIZE_UNITS["mb"]
                except ValueError:
                    break
                if math.isfinite(size) and size > 0:
                    return math.ceil(size)
                break
    raise ValueError(
        f"must be megabytes (8192) or a size with a unit tb, gb, mb, kb or b (8gb), got {shown(value)}"
    )


def gpu_indices(value: Any) -> Any:
    """v2 takes a list of ints; the v1 model takes "0,1" (or one int)."""
    if isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return ",".join(str(v) for v in value)
    return value


@dataclass(frozen=True)
class To:
    """The value goes to this v1 path (relative to the enclosing v1 block), converted."""

    path: tuple[str, ...]
    convert: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Ignored:
    """Accepted and ignored, with a warning."""


@dataclass(frozen=True)
class Known:
    """Accepted silently: its meaning is already taken into account."""


@dataclass(frozen=True)
class Refused:
    why: str


@dataclass(frozen=True)
class Within:
    """A v2 mapping whose keys are translated by `spec`, into the v1 block at `path`."""

    spec: Mapping[str, Rule]
    path: tuple[str, ...] = ()


@dataclass(frozen=True)
class Each:
    """A v2 list of mappings, each translated by `spec` into the v1 list at `path`."""

    path: tuple[str, ...]
    spec: Mapping[str, Rule]


Rule = To | Ignored | Known | Refused | Within | Each

ALGORITHM: dict[str, Rule] = {
    "name": To(("builtin",)),  # builtinTunerName, builtinAssessorName...: see _algorithm
    "classArgs": To(("classArgs",)),
    "className": To(("className",)),
    "codeDirectory": To(("codeDir",)),
}
SHORTCUTS: dict[str, Rule] = {  # TrainingServiceConfig fields NNI also takes at the top level
    "trialCommand": To(("trial", "command")),
    "trialCodeDirectory": To(("trial", "codeDir")),
    "trialGpuNumber": To(("trial", "gpuNum")),
    "nniManagerIp": Ignored(),
    "debug": Ignored(),
}
COMMON: dict[str, Rule] = {
    **SHORTCUTS,
    "experimentName": To(("experimentName",)),
    "experimentType": To(("experimentType",)),  # checked in translate()
    "searchSpaceFile": To(("searchSpacePath",)),
    "searchSpace": To(("searchSpace",)),  # inline: taken out in translate()
    "trialConcurrency": To(("trialConcurrency",)),
    "maxExperimentDuration": To(("maxExecDuration",), seconds),
    "maxTrialNumber": To(("maxTrialNum",)),
    "maxFailedTrialNumber": To(("maxFailedTrialNum",)),  # nnifc's, spelt as v2 would
    "maxTrialDuration": To(("maxTrialDuration",), seconds),
    "useAnnotation": To(("useAnnotation",)),
    "versionCheck": To(("versionCheck",)),  # nnifc's: v2 dropped it, nnifc still checks
    "logLevel": Ignored(),
    "experimentWorkingDirectory": Ignored(),
    "tunerGpuIndices": Ignored(),
    "tuner": Within(ALGORITHM, ("tuner",)),
    "assessor": Within(ALGORITHM, ("assessor",)),
    "advisor": Within(ALGORITHM, ("advisor",)),
    "sharedStorage": Refused("shared storage is not supported; nnifc copies codeDir itself"),
    "trainingService": To(("trainingService",)),  # dispatched on its platform in translate()
}
LOCAL: dict[str, Rule] = {
    **SHORTCUTS,
    "platform": Known(),
    "useActiveGpu": To(("localConfig", "useActiveGpu")),
    "maxTrialNumberPerGpu": To(("localConfig", "maxTrialNumPerGpu")),
    "gpuIndices": To(("localConfig", "gpuIndices"), gpu_indices),
    "reuseMode": Ignored(),  # one process per trial, nothing to reuse
}
POLICY: dict[str, Rule] = {
    "minFailedTaskCount": To(("minFailedTaskCount",)),
    "minSucceedTaskCount": To(("minSucceededTaskCount",)),
}
ROLE: dict[str, Rule] = {
    "name": To(("name",)),
    "dockerImage": To(("image",)),
    "taskNumber": To(("taskNum",)),
    "command": To(("command",)),
    "gpuNumber": To(("gpuNum",)),
    "cpuNumber": To(("cpuNum",)),
    "memorySize": To(("memoryMB",), megabytes),
    "privateRegistryAuthPath": To(("privateRegistryAuthPath",)),
    "frameworkAttemptCompletionPolicy": Within(POLICY, ("frameworkAttemptCompletionPolicy",)),
}
FC = ("frameworkcontrollerConfig",)
FRAMEWORKCONTROLLER: dict[str, Rule] = {
    **SHORTCUTS,
    "platform": Known(),
    "reuseMode": Ignored(),  # nnifc always runs one Framework per trial, NNI's non-reuse mode
    "namespace": To((*FC, "namespace")),
    "serviceAccountName": To((*FC, "serviceAccountName")),
    "storage": Known(),  # by the storage's own v2_keys, in nni_v2._frameworkcontroller
    "taskRoles": Each(("trial", "taskRoles"), ROLE),
    "configPath": Refused(
        "custom Framework templates (configPath) are not supported; describe the trial with taskRoles"
    ),
    # nnifc's own keys, as in a v1 frameworkcontrollerConfig
    **{
        key: To((*FC, key))
        for key in (
            "pendingTimeout",
            "frameworkBarrier",
            "frameworkBarrierImage",
            "maxCodeFiles",
            "maxCodeSizeMB",
        )
    },
}
PLATFORMS = {"local": LOCAL, "frameworkcontroller": FRAMEWORKCONTROLLER}
