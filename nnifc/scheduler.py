"""The trial loop: keep trialConcurrency trials running until the budget is spent or a stop.

fill: tuner.propose -> store.add_trial (committed) -> platform.start; the handles the
platform reports back as starts finish -> store. handle: each platform event -> store ->
(intermediate) assessor -> stop. The store is written before anything is submitted or stopped,
so a launcher that dies at any instant leaves a record another process can act on: one poll's
events share a store batch, committed before a stop and never open across a wait. Budgets,
the search space and kills are read from the store twice a second (`nnifc update`, `kill`);
when to end and why is `budget.py`, what the tuner learns is `knowledge.py`.
"""

from __future__ import annotations

import contextlib
import secrets
import string
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from nnifc import document, space, stopping
from nnifc.assessors import ASSESSORS, Assessor, Verdict
from nnifc.budget import FIRST_TRIALS_AT_LEAST, Budget, Failures, plural
from nnifc.errors import NnifcError, PlatformError
from nnifc.experiment import Experiment
from nnifc.knowledge import Knowledge
from nnifc.platforms import Platform
from nnifc.records import (
    ExperimentStatus,
    MetricReported,
    StatusChanged,
    TrialEvent,
    TrialSpec,
    TrialStatus,
)
from nnifc.store import Store, TrialRow
from nnifc.tuners import TUNERS, Tuner

ID_ALPHABET = string.ascii_lowercase + string.digits
POLL_SECONDS = 0.25
MAX_SUBMIT_FAILURES = 3
HEARTBEAT_SECONDS = 5.0
# `nnifc stop`, `update` and `kill` write to the store (stop also signals): read this often
STOP_CHECK_SECONDS = 0.5
STOPPED_BY_USER = "stopped by the user"
LAUNCHER_FAILED = "the launcher stopped with an error"  # what trials were cancelled with, once
READ_AGAIN = "its outputs, read again on resume, say it succeeded before its launcher failed"


class LeaveRunning(BaseException):
    """The loop left with its trials running (a second Ctrl-C): `resume` continues."""


def new_id(length: int) -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(length))


@dataclass
class _Live:
    spec: TrialSpec
    handle: str
    curve: list[float] = field(default_factory=list)
    curve_task: str | None = None
    submitted: float = field(default_factory=time.time)


class Scheduler:
    def __init__(
        self,
        experiment: Experiment,
        store: Store,
        platform: Platform,
        *,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.experiment, self.store, self.platform = experiment, store, platform
        self.on_change = on_change or (lambda: None)
        self.tuner: Tuner = TUNERS[experiment.tuner_name](
            experiment.space, experiment.tuner_options
        )
        self.assessor: Assessor | None = None
        if experiment.assessor_name and experiment.assessor_options is not None:
            self.assessor = ASSESSORS[experiment.assessor_name](experiment.assessor_options)
        row = store.experiment()
        self.exp_id, self.seed, self.mode = row.id, row.seed, row.optimize_mode
        tuner = experiment.config.tuner
        self.knowledge = Knowledge(
            self.mode,
            experiment.assessor_optimize_mode or self.mode,
            include_intermediate=tuner is not None and tuner.include_intermediate_results,
        )
        self.budget = Budget.of(row)
        self.space_text = row.space_text
        self.failures = Failures(experiment.config.max_failed_trial_num, store.failures_since())
        self.reason = ""
        self.changes_seen = 0  # kills asked while no loop ran are done at the first look
        self.stop_requested = False
        self.stop_at = 0.0
        self.leave_requested = False
        self.cancelling = False  # from here on, the trials are being cancelled: no leaving
        self.exhausted = False
        self.trouble = ""  # the platform's, shown as the experiment's message
        self.live: dict[str, _Live] = {}
        self.trial_ids: set[str] = set()
        self.n_trials = 0
        self.spent: dict[str, float] = {}  # thread CPU seconds by part, not yet in the store
        self.failed_starts = 0  # in a row
        self.overdue_checked = 0.0
        self.stop_checked = 0.0
        self._load(store.finished_in_order())

    def _load(self, finished: list[TrialRow]) -> None:
        if any(what == "searchSpace" for _, what, _ in self.store.changes()):
            self.knowledge.keep_fitting(self.experiment.space)  # as stored: the updated one
        self.knowledge.learn_imported(self.store)
        for trial in finished:
            self.knowledge.learn(trial)
            self._note_failure(trial)
        self.trial_ids = {t.id for t in self.store.trials()}
        self.n_trials = len(self.trial_ids)

    def request_stop(self, *, grace: float = 0.0) -> None:
        """Ask the loop to stop, cancelling its trials after `grace` seconds (safe from a signal
        handler): `request_leave` meanwhile leaves them running."""
        self.stop_at = time.monotonic() + grace
        self.stop_requested = True

    def request_leave(self) -> bool:
        """Ask the loop to leave its trials running (safe from a signal handler); False once
        it is cancelling them or ending, when leaving would say more than happened."""
        if self.cancelling:
            return False
        self.leave_requested = True
        return True

    def run(self, *, resuming: bool = False) -> ExperimentStatus:
        """Run to the end; `resuming` adopts the trials an earlier, dead loop left running."""
        try:
            self.platform.prepare(resuming=resuming)
            self._adopt()
            status = self._loop()
        except LeaveRunning:
            self.platform.close()
            self.store.set_pid(None)  # shown as RUNNING (launcher not running)
            raise
        except BaseException as e:
            self._fail(str(e) or type(e).__name__)
            raise
        self.platform.cleanup()
        self.cancelling = True  # ending: a Ctrl-C now cannot leave anything running
        self.platform.drain(timeout=10)  # trials stopped on the way are gone before we are
        self.platform.close()
        self._flush_spent()
        self.store.end(status, reason=self.reason)
        self.on_change()
        return status

    def _fail(self, message: str) -> None:
        """The launcher failed: its trials are left as they are, never cancelled for a fault of
        the launcher's or of what it talks to (a storage outage): `resume` follows them again."""
        left = [t for t in self.store.trials() if not t.status.final]
        reason = f"the launcher failed: {message}"
        if left:
            reason += (
                f"; {plural(len(left), 'trial')} left running: `nnifc resume {self.exp_id}`"
                f" follows them, `nnifc stop {self.exp_id}` cancels them"
            )
        else:  # nothing runs that needs its Secrets
            with contextlib.suppress(Exception):
                self.platform.cleanup()
        self.store.end_in_error(message=message, reason=reason)
        with contextlib.suppress(Exception):
            self.platform.close()

    def _adopt(self) -> None:
        row = self.store.experiment()
        unsure = (row.heartbeat or row.started) - HEARTBEAT_SECONDS
        for trial in self.store.trials():
            if trial.status is TrialStatus.SYS_CANCELED and trial.message == LAUNCHER_FAILED:
                self._read_again(trial)
                continue
            if trial.status.final:
                if trial.status.stopped and (trial.ended or 0) >= unsure:
                    # recorded stopped just before a launcher died: maybe never told to stop
                    with contextlib.suppress(PlatformError):
                        self.platform.cancel(trial.id, trial.handle or "")
                continue
            spec = TrialSpec(
                self.exp_id, trial.id, trial.sequence, trial.parameter_id, trial.params
            )
            handle = self.platform.adopt(spec, trial.handle)
            if handle is None:  # recorded but never started by the launcher that died
                handle = self.platform.submit(spec)
            if handle and handle != trial.handle:
                self.store.set_handle(trial.id, handle)
            curve = self.knowledge.curve(trial.intermediate)
            live = _Live(spec, handle or "", curve, self.store.curve_task(trial.id), trial.created)
            self.live[trial.id] = live

    def _read_again(self, trial: TrialRow) -> None:
        """A trial an earlier nnifc cancelled when its launcher failed (as one did before 0.x on
        a storage outage) may have ended on its own: its outputs decide."""
        with contextlib.suppress(NnifcError):  # still unreadable: it stays as it was
            found = self.platform.final_metrics(trial.id)
            stopping.record(self.store, found)
            final = next((m for m in found if m.final), None)
            if final is not None and self.platform.exit_code(trial.id, final.task) == 0:
                self.store.undo_stop(trial.id, READ_AGAIN)
                told, value, _ = self.knowledge.learn(self.store.trial(trial.id))
                self.store.set_told(trial.id, told, value)

    def _loop(self) -> ExperimentStatus:
        beat = 0.0
        winding_down = False  # NO_MORE_TRIAL recorded: the budget is spent
        while True:
            if time.monotonic() - beat > HEARTBEAT_SECONDS:
                beat = time.monotonic()
                with self.store.batch():
                    self.store.beat(time.time())
                    self._flush_spent()
                self.knowledge.learn_imported(self.store)
            if self.leave_requested:
                raise LeaveRunning
            stop_now = self.stop_requested and time.monotonic() >= self.stop_at
            if self._read_store() or stop_now:
                self.reason = STOPPED_BY_USER
                self._cancel_all(TrialStatus.USER_CANCELED, STOPPED_BY_USER)
                return ExperimentStatus.STOPPED
            events = self.platform.poll(POLL_SECONDS if self.live else 0.0)
            self._handle_all(events)
            self._show_trouble()
            spent = self._spent()
            ended = spent is not None and not self.live
            failed = self.failures.verdict(self._first_trials(), ended=ended)
            if failed is not None:
                self.reason = failed  # with the first failure's message
                self._cancel_all(TrialStatus.SYS_CANCELED, "the experiment failed")
                return ExperimentStatus.FAILED
            while (
                not self.stop_requested  # not during Ctrl-C's grace
                and self._budget_left()
                and len(self.live) < self._concurrency()
            ):
                if not self._fill(self._concurrency() - len(self.live)):
                    break  # the tuner has nothing more to propose
            self._stop_overdue()
            spent = self._spent()
            if spent is not None:
                if not self.live and self.failures.verdict(self._first_trials(), ended=True):
                    continue  # the next turn says FAILED
                if not self.live:
                    self.reason = spent
                    return ExperimentStatus.DONE
                if spent != self.reason:
                    self.store.set_experiment_status(ExperimentStatus.NO_MORE_TRIAL, reason=spent)
                self.reason = spent
                winding_down = True
            elif winding_down:  # `nnifc update` gave it more
                self.store.set_experiment_status(ExperimentStatus.RUNNING, reason="")
                self.reason, winding_down = "", False
            self.on_change()

    def _show_trouble(self) -> None:
        """What keeps the platform from following trials, as the experiment's message."""
        trouble = self.platform.trouble()
        if trouble != self.trouble:
            self.trouble = trouble
            self.store.set_message(trouble)

    def _read_store(self) -> bool:
        """What other commands wrote (budgets, search space, kills); True when stop was asked."""
        now = time.monotonic()
        if now - self.stop_checked < STOP_CHECK_SECONDS:
            return False
        self.stop_checked = now
        row = self.store.experiment(texts=False)
        self.budget = Budget.of(row)
        for position, what, value in self.store.changes(self.changes_seen):
            self.changes_seen = position
            if what == "kill" and value in self.live:
                self._stop_trial(value, TrialStatus.USER_CANCELED, "killed by the user")
            if what == "searchSpace":
                text = self.store.experiment().space_text
                if text != self.space_text:
                    self._new_space(text)
        return row.stop_requested

    def _new_space(self, text: str) -> None:
        """`nnifc update --search-space`: a new tuner; it keeps the history that fits the space."""
        source = self.experiment.source.with_suffix(".json")
        new = space.parse(document.parse(source, text))
        self.tuner = TUNERS[self.experiment.tuner_name](new, self.experiment.tuner_options)
        self.knowledge.keep_fitting(new)
        self.space_text, self.exhausted = text, False

    def _first_trials(self) -> int:
        """How many first trials all failing fail the experiment: max(3, trialConcurrency),
        or fewer when the budget holds fewer."""
        return min(max(FIRST_TRIALS_AT_LEAST, self._concurrency()), self.budget.max_trials)

    def _handle_all(self, events: list[TrialEvent]) -> None:
        """The starts that finished and one poll's events, in one store transaction; a trial
        ending in it is not assessed.

        Committed before a cancel (in `_metric`), and on an error as far as it got, as one
        transaction per write would have left it.
        """
        ending = {e.trial_id for e in events if isinstance(e, MetricReported) and e.final}
        ending |= {e.trial_id for e in events if isinstance(e, StatusChanged) and e.status.final}
        with self.store.batch():
            try:
                refused = self._note_starts()
                for event in events:
                    self._handle(event, assess=event.trial_id not in ending)
            except BaseException:
                self.store.commit()
                raise
        if refused is not None:
            raise refused

    def _stop_overdue(self) -> None:
        """maxTrialDuration: a trial running longer is stopped early, as NNI did (checked each second)."""
        if time.monotonic() - self.overdue_checked < 1.0:
            return
        self.overdue_checked = time.monotonic()
        limit = self.experiment.config.max_trial_seconds
        for trial_id, live in list(self.live.items()):
            if time.time() - live.submitted > limit:
                message = f"ran longer than maxTrialDuration ({self.experiment.config.max_trial_duration})"
                self._stop_trial(trial_id, TrialStatus.EARLY_STOPPED, message)

    def _stop_trial(self, trial_id: str, status: TrialStatus, message: str) -> None:
        """Stop a live trial; it ends SUCCEEDED instead if it ended on its own first."""
        live = self.live[trial_id]
        for metric in stopping.stop_trial(
            self.store, self.platform, trial_id, live.handle, status, message
        ):
            self._metric(metric, assess=False)
        self._finish(trial_id)

    def _concurrency(self) -> int:
        return min(self.budget.concurrency, self.platform.capacity)

    def _spent(self) -> str | None:
        """Why no further trial may start, or None while one may."""
        if self.exhausted:
            return f"search space exhausted after {plural(self.n_trials, 'trial')}"
        return self.budget.exhausted_by(self.n_trials, time.time())

    def _budget_left(self) -> bool:
        return self._spent() is None

    def _fill(self, slots: int) -> bool:
        """Propose up to `slots` trials, starting each once it is recorded; False when the tuner
        proposed none.

        A proposal is committed before its start, so a launcher that dies meanwhile leaves it
        for `_adopt` to find or start. It is started before the next is proposed: after a burst
        of ends, a late proposal (milliseconds each with a long history) does not hold back the
        creates of the earlier ones, which run beside the loop. A trial is live from here; its
        handle is recorded when the platform reports its start (`_record_starts`).
        """
        started = 0
        while started < slots and self._budget_left():
            spec = self._propose()  # committed: one write, outside any batch
            if spec is None:
                break
            self.live[spec.trial_id] = _Live(spec, "")
            self.platform.start([spec])  # no store transaction is open across it
            started += 1
        if started:
            self._record_starts()
        return bool(started)

    def _record_starts(self) -> None:
        with self.store.batch():
            refused = self._note_starts()
        if refused is not None:
            raise refused

    def _note_starts(self) -> PlatformError | None:
        """Record the handles of finished starts; a refused start is a FAILED trial.

        MAX_SUBMIT_FAILURES refusals in a row end the experiment (a config the cluster will
        never accept): the refusal is returned, to be raised once what came with it is recorded.
        """
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
                    self._finish(started.trial_id)
                continue
            self.failed_starts = 0
            self.store.set_handle(started.trial_id, started.outcome)
            if live is not None:
                live.handle = started.outcome
        return refused

    def _propose(self) -> TrialSpec | None:
        """The tuner's next trial, recorded; None once the tuner has nothing more."""
        sequence = self.n_trials
        rng = np.random.default_rng([self.seed, sequence])
        pending = [
            p for p in (live.spec.params for live in self.live.values()) if self.knowledge.fits(p)
        ]
        with self._timed("tunerSeconds"):
            params = self.tuner.propose(self.knowledge.results, pending, rng)
        if params is None:
            self.exhausted = True
            return None
        trial_id = new_id(5)
        while trial_id in self.trial_ids:
            trial_id = new_id(5)
        spec = TrialSpec(self.exp_id, trial_id, sequence, sequence, params)
        self.store.add_trial(spec)
        self.trial_ids.add(trial_id)
        self.n_trials += 1
        return spec

    def _handle(self, event: TrialEvent, *, assess: bool) -> None:
        if isinstance(event, MetricReported):
            self._metric(event, assess=assess)
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
            self._finish(event.trial_id)

    def _metric(self, event: MetricReported, *, assess: bool) -> None:
        """Record a metric; ask the assessor about intermediates of trials not already ending.

        A trial's learning curve is one task's: the first task that reports an intermediate
        result (the others' are kept, uncounted); its result is the first final from any task.
        """
        live = self.live.get(event.trial_id)
        counted = event.final or live is None or live.curve_task in (None, event.task)
        step = self.store.add_metric(event, counted=counted)
        if live is not None and not event.final and counted:
            live.curve_task = event.task
        if step is None or live is None or event.final or event.value is None:
            return
        live.curve.append(self.knowledge.curve_point(event.value))
        if self.assessor is None or not assess:
            return
        with self._timed("assessorSeconds"):
            verdict = self.assessor.assess(live.curve, self.knowledge.finished_curves)
        if verdict is Verdict.STOP:
            self._stop_trial(
                event.trial_id, TrialStatus.EARLY_STOPPED, "stopped early by the assessor"
            )

    def _finish(self, trial_id: str) -> None:
        self.live.pop(trial_id, None)
        trial = self.store.trial(trial_id)
        told, value, message = self.knowledge.learn(trial)
        if trial.status is TrialStatus.SUCCEEDED and not trial.message:
            self.store.set_told(trial_id, told, value, message=message)
        else:
            self.store.set_told(trial_id, told, value)
        self._note_failure(trial)

    def _note_failure(self, trial: TrialRow) -> None:
        self.failures.note(trial.sequence, trial.status, trial.message)

    @contextlib.contextmanager
    def _timed(self, part: str) -> Iterator[None]:
        start = time.thread_time()
        try:
            yield
        finally:
            self.spent[part] = self.spent.get(part, 0.0) + time.thread_time() - start

    def _flush_spent(self) -> None:
        if self.spent:
            self.store.add_counters(self.spent)
            self.spent = {}

    def _cancel_all(self, status: TrialStatus, message: str) -> None:
        self.cancelling = True
        for trial_id, live in list(self.live.items()):
            self.store.set_status(trial_id, status, message=message)
            self.store.set_told(trial_id, "nothing", None)
            # recorded as cancelled even if the platform refuses; `nnifc stop` tries again
            with contextlib.suppress(PlatformError):
                self.platform.cancel(trial_id, live.handle)
            self.live.pop(trial_id)
        self.platform.drain(timeout=10)
