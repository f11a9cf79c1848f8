"""Everything a user can fix raises an NnifcError; only the CLI prints them.

NnifcError
├── ConfigError          a config or search-space mistake, located as file:line:col key
├── ExperimentNotFound   no such experiment (or trial) in $NNIFC_HOME
├── ExperimentFailed     the experiment ended without a result (exit code 3)
├── PlatformError        the platform refused or failed to run a trial
├── StorageError         reading or writing trial files failed
└── StoreError           an experiment's database is damaged
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class NnifcError(Exception):
    """Base of every error the CLI reports as one line with exit code 1."""


@dataclass(frozen=True)
class Problem:
    """One located mistake in a config or search-space file."""

    file: Path
    line: int  # 1-based; 0 when the position is unknown
    column: int  # 1-based; 0 when the position is unknown
    key: str  # dotted path such as trial.taskRoles[0].name; "" for the whole document
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else f"{self.file}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(NnifcError):
    """One or more located problems; str() is the first, `problems` has them all."""

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("ConfigError needs at least one problem")
        self.problems = problems
        extra = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{extra}")


class ExperimentNotFound(NnifcError):
    """The experiment or trial id names nothing in the store."""


class ExperimentFailed(NnifcError):
    """The experiment FAILED, or ended with no trial's final metric: a script must not go on."""

    exit_code = 3


class PlatformError(NnifcError):
    """Starting, watching or stopping a trial failed; `status` is the HTTP status, if any."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotAuthorized(PlatformError):
    """The cluster refused our credentials (401) or a permission (403)."""


class NoKubeconfig(PlatformError):
    """No cluster is configured here: no kubeconfig file, and not inside a pod."""


class StorageError(NnifcError):
    """Reading or writing the trials' files failed."""


class StoreError(NnifcError):
    """An experiment's database cannot be read: its file is damaged or is no database."""
