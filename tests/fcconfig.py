"""One FrameworkController experiment on disk for the e2e tests and the engine benchmark: a codeDir
holding trial.py, space.json, and the NNI v1 YAML that names them.

Written in block style with the layout NNI's examples use (roles' keys at six spaces, the
frameworkcontrollerConfig block last), so a test may still edit or append to the text it gets.
Imports nothing beyond the standard library: benchmarks/engine.py loads it in the launcher too.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# strings left unquoted in the YAML (but for ": " and " #"); the rest are JSON-quoted
PLAIN = re.compile(r"[A-Za-z/][\w./:@ -]*")
RANDOM: Mapping[str, Any] = {"builtinTunerName": "Random"}


@dataclass(frozen=True)
class Role:
    """One entry of trial.taskRoles."""

    name: str = "worker"
    task_num: int = 1
    command: str = "python3 trial.py"
    memory_mb: int = 512
    min_succeeded: int = 1  # -1: the Framework's outcome does not wait for this role

    def yaml(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "taskNum": self.task_num,
            "command": self.command,
            "gpuNum": 0,
            "cpuNum": 1,
            "memoryMB": self.memory_mb,
            "image": "msranni/nni:latest",
            "frameworkAttemptCompletionPolicy": {
                "minFailedTaskCount": 1,
                "minSucceededTaskCount": self.min_succeeded,
            },
        }


def nfs_storage(server: str, path: str) -> dict[str, Any]:
    """frameworkcontrollerConfig for code and outputs on an NFS export."""
    return {"storage": "nfs", "nfs": {"server": server, "path": path}}


def fc_config(
    where: Path,
    storage: Mapping[str, Any],
    *,
    trial: str,
    space: Mapping[str, Any],
    name: str = "fc",
    trials: int = 1,
    concurrency: int = 1,
    roles: Sequence[Role] = (Role(),),
    tuner: Mapping[str, Any] = RANDOM,
    assessor: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write where/code/trial.py (`trial`, dedented), where/space.json and where/exp.yml; the
    config's path. `storage` is the frameworkcontrollerConfig block, `extra` more top-level keys
    (authorName, maxExecDuration, ...)."""
    code = where / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "trial.py").write_text(textwrap.dedent(trial))
    (where / "space.json").write_text(json.dumps(space))
    document: dict[str, Any] = {
        "experimentName": name,
        "trialConcurrency": concurrency,
        "maxTrialNum": trials,
        "trainingServicePlatform": "frameworkcontroller",
        "searchSpacePath": "space.json",
        **(extra or {}),
        "tuner": tuner,
        **({"assessor": assessor} if assessor is not None else {}),
        "trial": {"codeDir": "code", "taskRoles": [role.yaml() for role in roles]},
        "frameworkcontrollerConfig": storage,
    }
    config = where / "exp.yml"
    config.write_text("".join(_lines(document, 0)))
    return config


def _lines(mapping: Mapping[str, Any], indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            out += [f"{pad}{key}:\n", *_lines(value, indent + 2)]
        elif isinstance(value, list):
            out.append(f"{pad}{key}:\n")
            for item in value:
                first, *rest = _lines(item, indent + 4)
                out += [f"{pad}  - {first[indent + 4 :]}", *rest]
        else:
            out.append(f"{pad}{key}: {_scalar(value)}\n")
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    plain = (
        PLAIN.fullmatch(text)
        and ": " not in text
        and " #" not in text
        and not text.endswith((" ", ":"))
        and text.lower() not in {"true", "false", "null", "yes", "no", "on", "off"}
    )
    return text if plain else json.dumps(text)
