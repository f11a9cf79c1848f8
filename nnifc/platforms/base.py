"""The platform interface: where trials run and how the launcher learns what they did.

A platform starts a trial from a TrialSpec and returns a handle the store keeps (a process
group id, a Framework name), so another process (`nnifc stop`, a restarted launcher) can reach
the trial again. `poll` turns whatever the platform observes into TrialEvents; a platform emits
every metric line before the status that ends its trial, so no final metric is lost to a race.
What only some platforms can do (preflight checks, `status --cluster`, `stop --orphans`) is an
optional class hook whose default does nothing or refuses in a line, so the CLI never needs to
know a platform's internals.

A platform never sees the config after `create`: it derives its `Settings` from the experiment
once, the store keeps them, and every later command (`stop`, `logs`, `resume`) rebuilds the
platform from them alone. A config file edited, broken or deleted since cannot stop them, nor
can a stricter config check in a later nnifc.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

from pydantic import ConfigDict

from nnifc.errors import PlatformError
from nnifc.experiment import Model
from nnifc.metrics import OutputTail, metric_event
from nnifc.records import MetricReported, Started, TrialEvent, TrialSpec

if TYPE_CHECKING:
    from nnifc.experiment import Experiment
    from nnifc.platforms.checkup import Check
    from nnifc.store import ExperimentRow, TrialRow

Reader = Callable[[int, int], bytes]  # read(offset, size) of a task's output


class PlatformSettings(Model):
    """What a platform needs of an experiment, kept in the store from `create` on."""

    model_config = ConfigDict(**Model.model_config, validate_by_name=True)


SettingsT = TypeVar("SettingsT", bound=PlatformSettings)


class Platform(ABC, Generic[SettingsT]):
    name: ClassVar[str]  # the trainingServicePlatform value
    Settings: ClassVar[type[PlatformSettings]]

    def __init__(
        self, settings: SettingsT, exp_dir: Path, options: Mapping[str, str] | None = None
    ) -> None:
        """`options` are the CLI's platform settings (e.g. context, namespace), kept in the store."""
        self.settings = settings
        self.exp_dir = exp_dir
        self.experiment_id = exp_dir.name
        self.options = dict(options or {})
        self._outcomes: list[Started] = []

    @classmethod
    @abstractmethod
    def settings_of(cls, experiment: Experiment, options: Mapping[str, str]) -> PlatformSettings:
        """This platform's settings, derived from a validated experiment once, at create."""

    @classmethod
    def of(
        cls, experiment: Experiment, exp_dir: Path, options: Mapping[str, str] | None = None
    ) -> Self:
        """The platform for a validated experiment (its settings derived now)."""
        settings: Any = cls.settings_of(experiment, options or {})
        return cls(settings, exp_dir, options)

    @classmethod
    def preflight(cls, experiment: Experiment, options: Mapping[str, str]) -> None:
        """Check, before anything is created, that this experiment can run here; raise if not."""

    @classmethod
    def doctor(
        cls, experiment: Experiment | None, options: Mapping[str, str], *, probe: bool
    ) -> list[Check]:
        """Every check of this platform's setup, failed ones with their fix (`nnifc doctor`)."""
        raise PlatformError(f"doctor has nothing to check on the {cls.name} platform")

    @classmethod
    def describe(
        cls, settings: SettingsT, options: Mapping[str, str], spec: TrialSpec
    ) -> str | None:
        """What this platform would create for `spec`, for `create --dry-run` (None: nothing to show)."""
        return None

    @classmethod
    def census(
        cls, experiment: Experiment, experiment_id: str, options: Mapping[str, str]
    ) -> tuple[ExperimentRow, list[TrialRow]]:
        """The experiment and its trials as the platform alone knows them, for a machine
        without its store (`status --cluster`)."""
        raise PlatformError(f"status --cluster is not supported on the {cls.name} platform")

    @classmethod
    def remove_orphans(cls, options: Mapping[str, str], *, running: Collection[str]) -> list[str]:
        """Delete what experiments that are not `running` left on the platform (`stop
        --orphans`); a line saying what, per experiment."""
        raise PlatformError(f"stop --orphans is not supported on the {cls.name} platform")

    @property
    def capacity(self) -> int:
        """How many trials this platform can run at once (before trialConcurrency applies)."""
        return 1 << 30

    def prepare(self, *, resuming: bool = False) -> None:
        """Set up what every trial needs (code upload, credentials); `resuming`: it was done."""

    @abstractmethod
    def submit(self, spec: TrialSpec) -> str:
        """Start a trial; return its handle."""

    def start(self, specs: Sequence[TrialSpec]) -> None:
        """Begin starting these trials; `started()` hands back each one's handle or error.

        Here each is submitted at once, in turn. A platform whose starts wait on a server runs
        them while the loop goes on: trials that end meanwhile are not kept waiting for them.
        """
        for spec in specs:
            try:
                self._outcomes.append(Started(spec.trial_id, self.submit(spec)))
            except PlatformError as e:
                self._outcomes.append(Started(spec.trial_id, e))

    def started(self) -> list[Started]:
        """The starts that finished since the last call, in the order they finished."""
        outcomes, self._outcomes = self._outcomes, []
        return outcomes

    @abstractmethod
    def adopt(self, spec: TrialSpec, handle: str | None) -> str | None:
        """Watch a trial an earlier launcher recorded; its handle (found if `handle` is None).

        None means the trial never started (the launcher died before submitting it): the caller
        submits it now. Never starts a trial that exists.
        """

    @abstractmethod
    def cancel(self, trial_id: str, handle: str) -> None:
        """Stop a trial (idempotent, works from any process); emits no event."""

    @abstractmethod
    def poll(self, timeout: float) -> list[TrialEvent]:
        """Events since the last call, waiting up to `timeout` seconds for the first one."""

    @abstractmethod
    def outputs(self, trial_id: str) -> dict[str, Reader]:
        """Each task's output ("<role>_<index>" -> reader), readable after the trial ended."""

    def final_metrics(self, trial_id: str) -> list[MetricReported]:
        """Every metric the trial's tasks printed, read once more from their outputs: after a
        stop, whether the trial had reported its final result before the stop landed."""
        found: list[MetricReported] = []
        for task, read in self.outputs(trial_id).items():
            for line in OutputTail(read).lines(final=True):
                event = metric_event(trial_id, task, line)
                if event is not None:
                    found.append(event)
        return found

    def exit_code(self, trial_id: str, task: str) -> int | None:
        """The exit code a task's command recorded, None while it has none (or it was killed)."""
        return None

    def shared_dir(self) -> str | None:
        """A directory every trial of the experiment can read and write, as trials see it
        (PBT's checkpoints); None where trials share none."""
        return None

    def remove_storage(self) -> str:
        """Remove the experiment's files outside $NNIFC_HOME (`delete --storage`); says what."""
        return "no storage outside the experiment's directory"

    def cleanup(self) -> None:
        """Remove what the experiment created besides its trials (secrets); idempotent."""

    def trouble(self) -> str:
        """What keeps trials from being followed right now (storage unreachable...), or ""."""
        return ""

    def drain(self, timeout: float) -> int:
        """Wait up to `timeout` seconds for cancelled trials to be gone; how many are not."""
        return 0

    def close(self) -> None:
        """Release connections; running trials keep running."""
