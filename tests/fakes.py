"""A scripted platform: each submitted trial plays a list of event batches, one per poll."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from nnifc.experiment import Experiment
from nnifc.platforms import Platform, PlatformSettings, Reader
from nnifc.records import TrialEvent, TrialSpec

Script = Callable[[TrialSpec], list[list[TrialEvent]]]


class FakePlatform(Platform[PlatformSettings]):
    name = "fake"
    Settings = PlatformSettings

    def __init__(self, experiment: Experiment, exp_dir: Path, script: Script) -> None:
        super().__init__(PlatformSettings(), exp_dir)
        self.experiment = experiment
        self.script = script
        self.submitted: list[TrialSpec] = []
        self.cancelled: list[str] = []
        self.max_live = 0
        self._queues: dict[str, list[list[TrialEvent]]] = {}

    @classmethod
    def settings_of(cls, experiment: Experiment, options: Mapping[str, str]) -> PlatformSettings:
        return PlatformSettings()

    def submit(self, spec: TrialSpec) -> str:
        self.submitted.append(spec)
        self._queues[spec.trial_id] = self.script(spec)
        self.max_live = max(self.max_live, len(self._queues))
        return f"handle-{spec.trial_id}"

    def adopt(self, spec: TrialSpec, handle: str | None) -> str | None:
        self._queues[spec.trial_id] = self.script(spec)
        return handle or f"handle-{spec.trial_id}"

    def cancel(self, trial_id: str, handle: str) -> None:
        assert handle == f"handle-{trial_id}"
        self.cancelled.append(trial_id)
        self._queues.pop(trial_id, None)

    def poll(self, timeout: float) -> list[TrialEvent]:
        events: list[TrialEvent] = []
        for trial_id, queue in list(self._queues.items()):
            if queue:
                events.extend(queue.pop(0))
            if not queue:
                del self._queues[trial_id]
        return events

    def outputs(self, trial_id: str) -> dict[str, Reader]:
        return {}
