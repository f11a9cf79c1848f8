"""Trials as FrameworkController Frameworks, with code and outputs on shared storage.

One Framework per trial, one list+watch per experiment (in a thread, feeding a queue), and the
tasks' output files read incrementally from the storage, never from pods: FrameworkController
deletes pods as soon as tasks end, and the storage copy is complete even if nnifc was away.
A trial's final status is reported only after its outputs are read to the end, and then its
Framework is deleted (foreground), so the cluster keeps nothing a finished trial needs.
"""

from __future__ import annotations

import collections
import functools
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from nnifc import codedir
from nnifc.document import to_yaml
from nnifc.errors import PlatformError, StorageError
from nnifc.experiment import Experiment, duration_seconds
from nnifc.platforms.base import Platform, Reader
from nnifc.platforms.checkup import Check
from nnifc.platforms.frameworkcontroller import census, manifest, orphans, pods, preflight, secrets
from nnifc.platforms.frameworkcontroller.client import Frameworks
from nnifc.platforms.frameworkcontroller.creator import Creator
from nnifc.platforms.frameworkcontroller.feed import Feed
from nnifc.platforms.frameworkcontroller.followed import FollowedTrial
from nnifc.platforms.frameworkcontroller.k8s import Cluster, connect
from nnifc.platforms.frameworkcontroller.outputs import OutputReader
from nnifc.platforms.frameworkcontroller.reaper import Reaper
from nnifc.platforms.frameworkcontroller.settings import FrameworkControllerSettings, settings_of
from nnifc.records import (
    MetricReported,
    Started,
    StatusChanged,
    TrialEvent,
    TrialSpec,
    TrialStatus,
)
from nnifc.storage import Storage
from nnifc.storage.base import FileReader
from nnifc.store import ExperimentRow, TrialRow
from nnifc.wrapper import EXIT_NAME, LOG_NAME, parse_exit_code

# How often running trials' outputs are read: an assessor judges intermediate results as they
# come; without one they are only shown, and a final result is read the moment a trial ends.
OUTPUT_SECONDS = 1.0
OUTPUT_SECONDS_UNASSESSED = 5.0
PENDING_PROBE_SECONDS = 20.0  # after this long waiting, look at the pods for a reason
# The sweep, a look at every trial each output period (outputs due, pending pods), is spread
# over polls, at most this long per poll, so reading 500 running trials' outputs never delays
# reacting to an end. What changes in between (a state, an end, a deletion) comes by the watch.
SWEEP_SLICE_SECONDS = 0.01
DRAIN_POLL_SECONDS = 0.5


class FrameworkControllerPlatform(Platform[FrameworkControllerSettings]):
    name = "frameworkcontroller"
    Settings = FrameworkControllerSettings

    def __init__(
        self,
        settings: FrameworkControllerSettings,
        exp_dir: Path,
        options: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(settings, exp_dir, options)
        self.config = settings
        self.fc = settings.frameworkcontroller_config
        self.storage: Storage[Any] = settings.storage()
        self._cluster: Cluster | None = None
        self._frameworks: Frameworks | None = None
        self._trials: dict[str, FollowedTrial] = {}
        self._feed: Feed | None = None
        self._pull_secrets: dict[str, str] = {}
        self._changed: set[str] = set()  # trials whose Framework changed since the last poll
        self._swept = 0.0  # when the last sweep over every trial began
        self._sweep: collections.deque[str] = collections.deque()  # trials the sweep has left
        self._reaper: Reaper | None = None  # deletes reported trials' Frameworks
        self._creator = Creator(self._create, first_wave=self.config.trial_concurrency)
        self._outputs = OutputReader()
        self._terminating: set[str] = set()  # Frameworks cancelled, for `drain`
        self._cleaned = False  # every Framework deleted, for `drain`
        self._read_every = OUTPUT_SECONDS if settings.assessed else OUTPUT_SECONDS_UNASSESSED

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            self._cluster = _connect(self.options, self.fc.namespace)
        return self._cluster

    @property
    def frameworks(self) -> Frameworks:
        if self._frameworks is None:
            self._frameworks = Frameworks(self.cluster)
        return self._frameworks

    @classmethod
    def settings_of(
        cls, experiment: Experiment, options: Mapping[str, str]
    ) -> FrameworkControllerSettings:
        return settings_of(experiment)

    @classmethod
    def preflight(cls, experiment: Experiment, options: Mapping[str, str]) -> None:
        settings = settings_of(experiment)
        fc = settings.frameworkcontroller_config
        _collect(settings)
        cluster = _connect(options, fc.namespace)
        storage = settings.storage()
        try:
            preflight.check_cluster(
                cluster,
                service_account=fc.service_account_name,
                secrets=secrets.used(settings),
            )
            storage.check()
        finally:
            storage.close()
            cluster.close()

    @classmethod
    def doctor(
        cls, experiment: Experiment | None, options: Mapping[str, str], *, probe: bool
    ) -> list[Check]:
        from nnifc.platforms.frameworkcontroller import doctor

        return doctor.run(experiment, options, probe=probe)

    @classmethod
    def describe(
        cls, settings: FrameworkControllerSettings, options: Mapping[str, str], spec: TrialSpec
    ) -> str:
        body = manifest.manifest(
            spec,
            settings,
            namespace=options.get("namespace") or settings.frameworkcontroller_config.namespace,
            volume=settings.storage().volume(manifest.STORAGE_VOLUME, spec.experiment_id),
            pull_secrets=manifest.pull_secrets(settings, spec.experiment_id),
        )
        return to_yaml(body)

    @classmethod
    def census(
        cls, experiment: Experiment, experiment_id: str, options: Mapping[str, str]
    ) -> tuple[ExperimentRow, list[TrialRow]]:
        return census.census(experiment, experiment_id, options)

    @classmethod
    def remove_orphans(cls, options: Mapping[str, str], *, running: Collection[str]) -> list[str]:
        return orphans.remove(options, running=running)

    def prepare(self, *, resuming: bool = False) -> None:
        self.storage.check()
        if not resuming:  # running trials' pods may be copying the code: never replace it
            self.storage.upload(
                _collect(self.config), f"{manifest.experiment_root(self.experiment_id)}/code"
            )
        self._pull_secrets = manifest.pull_secrets(self.config, self.experiment_id)
        if secrets.used(self.config):
            secrets.create(self.cluster, self.storage, self.config, self.experiment_id)
        self._reaper = Reaper(self.frameworks, self.experiment_id)
        self._feed = Feed(self.frameworks, manifest.selector(self.experiment_id))
        self._feed.start()

    def submit(self, spec: TrialSpec) -> str:
        self._watch_for(spec)
        try:
            return self._create(spec)
        except PlatformError:
            self._forget(spec.trial_id)
            raise

    def start(self, specs: Sequence[TrialSpec]) -> None:
        """The creates run beside the loop (creator.py): each mostly waits on the API
        server, and the loop meanwhile reacts to trials that end."""
        for spec in specs:
            self._watch_for(spec)  # before the create: its first events may beat its answer
            self._creator.submit(spec)

    def started(self) -> list[Started]:
        outcomes: list[Started] = []
        for trial_id, outcome in self._creator.finished():
            if isinstance(outcome, BaseException):
                self._forget(trial_id)
                if not isinstance(outcome, PlatformError):
                    raise outcome
            outcomes.append(Started(trial_id, outcome))
        return outcomes

    def _watch_for(self, spec: TrialSpec) -> None:
        name = manifest.framework_name(spec.experiment_id, spec.trial_id)
        self._trials[spec.trial_id] = FollowedTrial(
            spec.trial_id, name, self._readers(spec.trial_id), time.monotonic()
        )

    def _create(self, spec: TrialSpec) -> str:
        """Create the trial's Framework (in a creator thread for `start`); its name."""
        body = manifest.manifest(
            spec,
            self.config,
            namespace=self.cluster.namespace,
            volume=self.storage.volume(manifest.STORAGE_VOLUME, spec.experiment_id),
            pull_secrets=self._pull_secrets,
        )
        name = str(body["metadata"]["name"])
        try:
            self.frameworks.create(body)
        except PlatformError as e:
            if e.status != 409 or not self._is_ours(name, spec.trial_id):
                raise
        return name

    def adopt(self, spec: TrialSpec, handle: str | None) -> str | None:
        name = handle or manifest.framework_name(spec.experiment_id, spec.trial_id)
        if handle is None:  # the launcher died around the create: did it happen?
            try:
                self.frameworks.get(name)
            except PlatformError as e:
                if e.status != 404:
                    raise
                return None  # recorded, never created: the caller submits it
        # seen in the next list; if it is not there, the trial ended (or never started) unwatched
        readers = self._readers(spec.trial_id)
        self._trials[spec.trial_id] = FollowedTrial(
            spec.trial_id, name, readers, time.monotonic(), adopted=True
        )
        return name

    def cancel(self, trial_id: str, handle: str) -> None:
        self._creator.wait_for(trial_id)  # a create under way lands (or fails) first
        self._forget(trial_id)
        name = handle or manifest.framework_name(self.experiment_id, trial_id)
        self._remove(name, stop=True)
        self._terminating.add(name)

    def drain(self, timeout: float) -> int:
        """Wait for the Frameworks cancelled (all of them after `cleanup`) to be gone: a deletion
        waits for their pods to terminate. How many are still there."""
        deadline = time.monotonic() + timeout
        while self._terminating or self._cleaned:
            names = self._present()
            left = len(names) if self._cleaned else len(self._terminating & names)
            if not left:
                self._terminating.clear()
                self._cleaned = False
                return 0
            if time.monotonic() >= deadline:
                return left
            time.sleep(DRAIN_POLL_SECONDS)
        return 0

    def _present(self) -> set[str]:
        items = self.frameworks.list(manifest.selector(self.experiment_id)).get("items") or []
        return {str(item["metadata"]["name"]) for item in items}

    def _remove(self, name: str, *, stop: bool) -> None:
        """Stop a running Framework (so it completes with -210), then delete it with its pods."""
        calls = [self.frameworks.stop, self.frameworks.delete] if stop else [self.frameworks.delete]
        for call in calls:
            try:
                call(name)
            except PlatformError as e:
                if e.status != 404:
                    raise

    def poll(self, timeout: float) -> list[TrialEvent]:
        if self._reaper is not None:
            self._reaper.step()
        self._drain_watch(timeout)
        now = time.monotonic()
        events = self._read()
        # trials whose Framework changed, now; then a slice of the sweep over every trial
        changed, self._changed = self._changed, set()
        for trial_id in sorted(
            changed, key=lambda t: self._trials[t].submitted if t in self._trials else 0
        ):
            trial = self._trials.get(trial_id)
            if trial is not None:
                events.extend(self._observe(trial, now))
        if not self._sweep and now - self._swept >= self._read_every:
            self._swept = now
            self._sweep.extend(self._trials)
        until = time.monotonic() + SWEEP_SLICE_SECONDS
        while self._sweep and time.monotonic() < until:
            trial_id = self._sweep.popleft()
            trial = self._trials.get(trial_id)
            if trial is not None and trial_id not in changed:
                # as of the sweep's start: each running trial is read once per sweep
                events.extend(self._observe(trial, self._swept))
        return events

    def _logs(self, trial_id: str) -> dict[str, str]:
        """Each task's output file on the storage."""
        root = manifest.trial_root(self.experiment_id, trial_id)
        return {task: f"{root}/output/{task}/{LOG_NAME}" for task in manifest.tasks(self.config)}

    def _readers(self, trial_id: str) -> dict[str, FileReader]:
        return {task: self.storage.reader(path) for task, path in self._logs(trial_id).items()}

    def _forget(self, trial_id: str) -> None:
        trial = self._trials.pop(trial_id, None)
        if trial is not None:
            self._outputs.release(trial)

    def trouble(self) -> str:
        waiting = sum(trial.ended_at is not None for trial in self._trials.values())
        return self._outputs.trouble(waiting)

    def _reachable(self) -> None:
        """A read on the loop's thread (a stop's last look) is not tried while the share is
        known unreachable: it would wait out every retry."""
        since = self._outputs.unreachable_since
        if since is not None:
            raise StorageError(self._outputs.trouble(0))

    def final_metrics(self, trial_id: str) -> list[MetricReported]:
        self._reachable()
        return super().final_metrics(trial_id)

    def exit_code(self, trial_id: str, task: str) -> int | None:
        self._reachable()
        root = manifest.trial_root(self.experiment_id, trial_id)
        return parse_exit_code(self.storage.read(f"{root}/output/{task}/{EXIT_NAME}", 0, 64))

    def outputs(self, trial_id: str) -> dict[str, Reader]:
        logs = self._logs(trial_id).items()
        return {task: functools.partial(self.storage.read, path) for task, path in logs}

    def shared_dir(self) -> str:
        return str(manifest.MOUNT / manifest.experiment_root(self.experiment_id) / manifest.SHARED)

    def remove_storage(self) -> str:
        root = manifest.experiment_root(self.experiment_id)
        removed = self.storage.remove_tree(root)
        return f"removed {root}/ on the {self.fc.storage} share ({removed} files)"

    def cleanup(self) -> None:
        if self._reaper is not None:
            self._reaper.close()  # what it has not deleted goes with the rest
        if secrets.used(self.config):
            secrets.delete(self.cluster, self.experiment_id)
        selector = manifest.selector(self.experiment_id)
        self.frameworks.delete_all(selector, "the experiment's Frameworks")
        self._cleaned = True

    def close(self) -> None:
        self._creator.close()
        self._outputs.close()
        if self._reaper is not None:
            self._reaper.close()
        if self._feed is not None:
            self._feed.close()
        self.storage.close()
        if self._cluster is not None:
            self._cluster.close()

    def _observe(self, trial: FollowedTrial, now: float) -> list[TrialEvent]:
        """Outputs due are asked for; an end is told once they are read to the end (`_read`)."""
        if trial.ended_at is not None:
            return []
        observed = manifest.trial_status(trial.raw) if trial.raw is not None else None
        if trial.gone or (observed is not None and observed.status and observed.status.final):
            trial.ended_at = time.time()
            self._outputs.read(trial, final=True)  # or once the read under way is done
            return []
        if trial.status is TrialStatus.RUNNING and now - trial.read_at >= self._read_every:
            self._outputs.read(trial, final=False)
            trial.read_at = now
        if (
            observed is not None
            and observed.status is TrialStatus.RUNNING
            and trial.status is not TrialStatus.RUNNING
        ):
            trial.status = TrialStatus.RUNNING
            return [StatusChanged(trial.trial_id, TrialStatus.RUNNING)]
        if trial.status is TrialStatus.WAITING:
            return self._pending(trial, now)
        return []

    def _read(self) -> list[TrialEvent]:
        """The metrics of the reads that finished, and the ends they complete."""
        events: list[TrialEvent] = []
        for done in self._outputs.finished():
            trial = done.trial
            if self._trials.get(trial.trial_id) is not trial:
                continue  # cancelled meanwhile
            events.extend(done.events)
            if trial.ended_at is not None and not done.final:
                self._outputs.read(trial, final=True)
            elif trial.ended_at is not None:
                events.append(self._end(trial, trial.ended_at))
        return events

    def _end(self, trial: FollowedTrial, ended: float) -> StatusChanged:
        trial_id = trial.trial_id
        self._forget(trial_id)
        observed = manifest.trial_status(trial.raw) if trial.raw is not None else None
        if observed is not None and observed.status is not None and observed.status.final:
            message = observed.message
            if observed.status is TrialStatus.FAILED:
                message = trial.with_output(message)
            message = "; ".join(m for m in (message, trial.note) if m)
            if not trial.gone:  # deleted after the caller has recorded this status
                assert self._reaper is not None
                self._reaper.add(trial_id)
            return StatusChanged(trial_id, observed.status, message, observed.code, ended)
        if trial.final_seen:  # e.g. deleted by an earlier launcher that then died
            done = "its Framework was gone; its outputs are complete"
            return StatusChanged(trial_id, TrialStatus.SUCCEEDED, done, ended=ended)
        gone = "its Framework was deleted outside nnifc"
        return StatusChanged(trial_id, TrialStatus.SYS_CANCELED, gone, ended=ended)

    def _pending(self, trial: FollowedTrial, now: float) -> list[TrialEvent]:
        trial_id = trial.trial_id
        waited = now - trial.submitted
        limit = duration_seconds(self.fc.pending_timeout)
        probe_after = min(PENDING_PROBE_SECONDS, limit / 3)
        if waited < probe_after or (now - trial.probed_at < probe_after / 2 and waited < limit):
            return []
        trial.probed_at = now
        reason = pods.pending_reason(self.cluster, trial.name)
        if waited >= limit:
            self.cancel(trial_id, trial.name)
            why = f"pods still pending after {self.fc.pending_timeout}" + (
                f": {reason}" if reason else ""
            )
            return [StatusChanged(trial_id, TrialStatus.FAILED, why)]
        if reason and reason != trial.reason:
            trial.reason = reason
            return [StatusChanged(trial_id, TrialStatus.WAITING, reason)]
        return []

    def _drain_watch(self, timeout: float) -> None:
        if self._feed is None:
            return
        for kind, payload in self._feed.drain(0.0 if self._sweep else timeout):
            self._apply(kind, payload)

    def _apply(self, kind: str, payload: Any) -> None:
        if kind == "fatal":
            raise PlatformError(
                f"watching the experiment's Frameworks failed: {payload}"
            ) from payload
        if kind == "list":
            present = {raw["metadata"]["name"]: raw for raw in payload}
            for trial_id, trial in self._trials.items():
                trial.raw = present.get(trial.name, trial.raw)
                seen = trial.raw is not None or trial.adopted
                trial.gone = trial.gone or (trial.name not in present and seen)
                self._changed.add(trial_id)
            return
        metadata = payload["metadata"]
        trial_id = metadata.get("labels", {}).get(manifest.TRIAL_LABEL, "")
        found = self._trials.get(trial_id)
        if found is not None and found.name == metadata["name"]:
            found.raw = payload
            found.gone = found.gone or kind == "DELETED"
            self._changed.add(trial_id)

    def _is_ours(self, name: str, trial_id: str) -> bool:
        raw = self.frameworks.get(name)
        return bool(raw.get("metadata", {}).get("labels", {}).get(manifest.TRIAL_LABEL) == trial_id)


def _connect(options: Mapping[str, str], namespace: str) -> Cluster:
    return connect(context=options.get("context"), namespace=options.get("namespace") or namespace)


def _collect(config: FrameworkControllerSettings) -> list[Any]:
    fc = config.frameworkcontroller_config
    return codedir.collect(
        config.trial.code_dir, max_files=fc.max_code_files, max_bytes=fc.max_code_size_mb << 20
    )
