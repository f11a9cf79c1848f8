"""The live trials and what happens to them: starts reported, one poll's events and metrics
recorded, the assessor asked, a trial finished (its result learnt), stopped or cancelled.

One poll's events share a store batch, committed before a stop and, on an error, as far as it
got; a trial ending in that poll is not assessed. MAX_SUBMIT_FAILURES refused starts in a row
end the experiment (a config the cluster will never accept).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nnifc import stopping
from nnifc.assessors import Assessor, Verdict
from nnifc.budget import Failures
from nnifc.errors import PlatformError
from nnifc.knowledge import Knowledge
from nnifc.platforms import Platform
from nnifc.records import (
    MetricReported,
    Params,
    StatusChanged,
    TrialEvent,
    TrialSpec,
    TrialStatus,
)
from nnifc.scheduling.cpu import CpuTime
from nnifc.store import Store, TrialRow

MAX_SUBMIT_FAILURES = 3


@dataclass
class Live:
    spec: TrialSpec
    handle: str
    curve: list[float] = field(default_factory=list)
    curve_task: str | None = None
    submitted: float = field(default_factory=time.time)


class Trials:
    def __init__(
        self,
        store: Store,
        platform: Platform[Any],
        knowledge: Knowledge,
        failures: Failures,
        cpu: CpuTime,
        assessor: Assessor | None,
    ) -> None:
        self.store, self.platform, self.knowledge = store, platform, knowledge
        self.failures, self.cpu, self.assessor = failures, cpu, assessor
        self.live: dict[str, Live] = {}
        self.failed_starts = 0  # in a row
        self.overdue_checked = 0.0
        # each counted intermediate result, for the tuner: parameters, step, raw value
        self.progress: Callable[[Params, int, str], None] = lambda params, step, raw: None

    def start(self, spec: TrialSpec) -> None:
        """Live from here; its handle is recorded when the platform reports its start."""
        self.live[spec.trial_id] = Live(spec, "")
        self.platform.start([spec])  # no store transaction is open across it

    def record_starts(self) -> None:
        with self.store.batch():
            refused = self._note_starts()
        if refused is not None:
            raise refused

    def handle_all(self, events: list[TrialEvent]) -> None:
        """The starts that finished and one poll's events, in one store transaction; a trial
        ending in it is not assessed.

        Committed before a cancel (in `metric`), and on an error as far as it got, as one
        transaction per write would have left it.
        """
        ending = {e.trial_id for e in events if isinstance(e, MetricReported) and e.final}
        ending |= {e.trial_id for e in events if isinstance(e, StatusChanged) and e.status.final}
        with self.store.batch():
            try:
                refused = self._note_starts()
                for event in events:
                    self.handle(event, assess=event.trial_id not in ending)
            except BaseException:
                self.store.commit()
                raise
        if refused is not None:
            raise refused

    def _note_starts(self) -> PlatformError | None:
        """Record the handles of finished starts; a refused start is a FAILED trial. The
        refusal that ends the experiment is returned, to be raised once the rest is recorded."""
        refused: PlatformError | None = None
        for started in self.platform.started():
            live = self.live.get(started.trial_id)
            if isinstance(started.outcome, PlatformError):
                self.failed_starts += 1
                if self.failed_starts >= MAX_SUBMIT_FAILURES:
                    refused = started.outcome
                if live is not None:
                    message = str(started.outcome)
                    self.store.set_status(started.trial_id, TrialStatus.FAILED, message=message)
                    self.finish(started.trial_id)
                continue
            self.failed_starts = 0
            self.store.set_handle(started.trial_id, started.outcome)
            if live is not None:
                live.handle = started.outcome
        return refused

    def handle(self, event: TrialEvent, *, assess: bool) -> None:
        if isinstance(event, MetricReported):
            self.metric(event, assess=assess)
            return
        assert isinstance(event, StatusChanged)
        if event.trial_id not in self.live:
            return
        self.store.set_status(
            event.trial_id,
            event.status,
            message=event.message,
            exit_code=event.exit_code,
            ended=event.ended,
        )
        if event.status.final:
            self.finish(event.trial_id)

    def metric(self, event: MetricReported, *, assess: bool) -> None:
        """Record a metric; ask the assessor about intermediates of trials not already ending.

        A trial's learning curve is one task's: the first task that reports an intermediate
        result (the others' are kept, uncounted); its result is the first final from any task.
        """
        live = self.live.get(event.trial_id)
        counted = event.final or live is None or live.curve_task in (None, event.task)
        step = self.store.add_metric(event, counted=counted)
        if live is not None and not event.final and counted:
            live.curve_task = event.task
        if step is None or live is None or event.final:
            return
        self.progress(live.spec.params, step, event.raw)
        if event.value is None:
            return
        live.curve.append(self.knowledge.curve_point(event.value))
        if self.assessor is None or not assess:
            return
        with self.cpu.timed("assessorSeconds"):
            curves = self.knowledge.finished_curves
            verdict = self.assessor.assess_trial(event.trial_id, live.curve, curves)
        if verdict is Verdict.STOP:
            self.stop(event.trial_id, TrialStatus.EARLY_STOPPED, "stopped early by the assessor")

    def finish(self, trial_id: str) -> None:
        self.live.pop(trial_id, None)
        trial = self.store.trial(trial_id)
        told, value, message = self.knowledge.learn(trial)
        if self.assessor is not None:
            self.assessor.trial_end(trial_id, trial.status is TrialStatus.SUCCEEDED)
        if trial.status is TrialStatus.SUCCEEDED and not trial.message:
            self.store.set_told(trial_id, told, value, message=message)
        else:
            self.store.set_told(trial_id, told, value)
        self.note_failure(trial)

    def note_failure(self, trial: TrialRow) -> None:
        self.failures.note(trial.sequence, trial.status, trial.message)

    def stop(self, trial_id: str, status: TrialStatus, message: str) -> None:
        """Stop a live trial; it ends SUCCEEDED instead if it ended on its own first."""
        live = self.live[trial_id]
        for metric in stopping.stop_trial(
            self.store, self.platform, trial_id, live.handle, status, message
        ):
            self.metric(metric, assess=False)
        self.finish(trial_id)

    def stop_asked(self, params: Params, message: str) -> None:
        """Stop early the first live trial with these parameters (none: it has ended)."""
        for trial_id, live in sorted(self.live.items(), key=lambda kv: kv[1].spec.sequence):
            if live.spec.params == params:
                self.stop(trial_id, TrialStatus.EARLY_STOPPED, message)
                return

    def stop_overdue(self, limit_seconds: float, limit_written: str) -> None:
        """maxTrialDuration: a trial running longer is stopped early, as NNI did (checked each second)."""
        if time.monotonic() - self.overdue_checked < 1.0:
            return
        self.overdue_checked = time.monotonic()
        for trial_id, live in list(self.live.items()):
            if time.time() - live.submitted > limit_seconds:
                message = f"ran longer than maxTrialDuration ({limit_written})"
                self.stop(trial_id, TrialStatus.EARLY_STOPPED, message)

    def cancel_all(self, status: TrialStatus, message: str) -> None:
        for trial_id, live in list(self.live.items()):
            self.store.set_status(trial_id, status, message=message)
            self.store.set_told(trial_id, "nothing", None)
            # recorded as cancelled even if the platform refuses; `nnifc stop` tries again
            with contextlib.suppress(PlatformError):
                self.platform.cancel(trial_id, live.handle)
            self.live.pop(trial_id)
        self.platform.drain(timeout=10)
