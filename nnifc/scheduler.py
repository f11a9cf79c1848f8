"""The trial loop: keep trialConcurrency trials running until the budget is spent or a stop.

fill: tuner.propose -> store.add_trial (committed) -> platform.start; the handles the
platform reports back as starts finish -> store. handle: each platform event -> store ->
(intermediate) assessor -> stop. The store is written before anything is submitted or stopped,
so a launcher that dies at any instant leaves a record another process can act on: one poll's
events share a store batch, committed before a stop and never open across a wait. Budgets,
the search space and kills are read from the store twice a second (`nnifc update`, `kill`);
when to end and why is `budget.py`, what the tuner learns is `knowledge.py`. The parts live in
`nnifc.scheduling`: the live trials, the proposals, the adoption of trials on resume.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from nnifc.assessors import ASSESSORS, Assessor
from nnifc.budget import FIRST_TRIALS_AT_LEAST, Budget, Failures, plural
from nnifc.experiment import Experiment
from nnifc.knowledge import Knowledge
from nnifc.platforms import Platform
from nnifc.records import ExperimentStatus, TrialStatus
from nnifc.scheduling import resume
from nnifc.scheduling.cpu import CpuTime
from nnifc.scheduling.proposals import Proposals, new_id
from nnifc.scheduling.resume import HEARTBEAT_SECONDS, LAUNCHER_FAILED
from nnifc.scheduling.trials import Live, Trials
from nnifc.store import Store, experiment_dir

__all__ = ["LAUNCHER_FAILED", "STOP_CHECK_SECONDS", "LeaveRunning", "Scheduler", "new_id"]

POLL_SECONDS = 0.25
# `nnifc stop`, `update` and `kill` write to the store (stop also signals): read this often
STOP_CHECK_SECONDS = 0.5
STOPPED_BY_USER = "stopped by the user"


STATE_DIR = "checkpoint"  # NNI's name for its dispatcher's directory (NNI_CHECKPOINT_DIRECTORY)


class LeaveRunning(BaseException):
    """The loop left with its trials running (a second Ctrl-C): `resume` continues."""


class Scheduler:
    def __init__(
        self,
        experiment: Experiment,
        store: Store,
        platform: Platform[Any],
        *,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.experiment, self.store, self.platform = experiment, store, platform
        self.on_change = on_change or (lambda: None)
        tuner = experiment.tuner_class(experiment.space, experiment.tuner_options)
        tuner.shared_dir = platform.shared_dir()
        assessor: Assessor | None = None
        if experiment.assessor_name and experiment.assessor_options is not None:
            assessor_class = experiment.assessor_class or ASSESSORS[experiment.assessor_name]
            assessor = assessor_class(experiment.assessor_options)
        row = store.experiment()
        self.exp_id, mode = row.id, row.optimize_mode
        tuner_config = experiment.config.tuner
        knowledge = Knowledge(
            mode,
            experiment.assessor_optimize_mode or mode,
            include_intermediate=tuner_config is not None
            and tuner_config.include_intermediate_results,
            added_keys=tuner.added_keys,
            learns_unfinished=tuner.learns_unfinished,
        )
        self.budget = Budget.of(row)
        self.failures = Failures(experiment.config.max_failed_trial_num, store.failures_since())
        self.cpu = CpuTime()
        self.trials = Trials(store, platform, knowledge, self.failures, self.cpu, assessor)
        self.proposals = Proposals(experiment, store, row, tuner, knowledge, self.cpu)
        tuner.state_dir = str(experiment_dir(row.id) / STATE_DIR)
        tuner.resumed = self.proposals.n_trials > 0
        if assessor is not None:
            assessor.state_dir, assessor.resumed = tuner.state_dir, tuner.resumed
        self.trials.progress = self.proposals.progress
        self.knowledge = knowledge
        self.reason = ""
        self.changes_seen = 0  # kills asked while no loop ran are done at the first look
        self.stop_requested = False
        self.stop_at = 0.0
        self.leave_requested = False
        self.cancelling = False  # from here on, the trials are being cancelled: no leaving
        self.trouble = ""  # the platform's, shown as the experiment's message
        self.stop_checked = 0.0
        self._load()

    @property
    def live(self) -> dict[str, Live]:
        return self.trials.live

    @property
    def n_trials(self) -> int:
        return self.proposals.n_trials

    @property
    def assessor(self) -> Assessor | None:
        return self.trials.assessor

    @assessor.setter
    def assessor(self, assessor: Assessor | None) -> None:
        self.trials.assessor = assessor

    def _load(self) -> None:
        if any(what == "searchSpace" for _, what, _ in self.store.changes()):
            self.knowledge.keep_fitting(self.experiment.space)  # as stored: the updated one
        self.knowledge.learn_imported(self.store)
        for trial in self.store.finished_in_order():
            self.knowledge.learn(trial)
            self.trials.note_failure(trial)

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
            # a loop killed while it prepared recorded no trial: its set-up may be half done
            self.platform.prepare(resuming=resuming and bool(self.store.trial_ids()))
            resume.adopt(self.trials, self.exp_id)
            if self.proposals.n_trials:  # a stateful tuner hears of the trials still running
                self.proposals.observe(live.spec.params for live in self.live.values())
            status = self._loop()
        except LeaveRunning:
            self.platform.close()
            self.store.set_pid(None)  # shown as RUNNING (launcher not running)
            raise
        except BaseException as e:
            resume.leave_running(self.trials, self.exp_id, str(e) or type(e).__name__)
            raise
        self.platform.cleanup()
        self.cancelling = True  # ending: a Ctrl-C now cannot leave anything running
        self.platform.drain(timeout=10)  # trials stopped on the way are gone before we are
        self.platform.close()
        self.cpu.flush(self.store)
        self.store.end(status, reason=self.reason)
        self.on_change()
        return status

    def _loop(self) -> ExperimentStatus:
        beat = 0.0
        winding_down = False  # NO_MORE_TRIAL recorded: the budget is spent
        config = self.experiment.config
        overdue_after, overdue_written = config.max_trial_seconds, config.max_trial_duration
        while True:
            if time.monotonic() - beat > HEARTBEAT_SECONDS:
                beat = time.monotonic()
                with self.store.batch():
                    self.store.beat(time.time())
                    self.cpu.flush(self.store)
                self.knowledge.learn_imported(self.store)
            if self.leave_requested:
                raise LeaveRunning
            stop_now = self.stop_requested and time.monotonic() >= self.stop_at
            if self._read_store() or stop_now:
                self.reason = STOPPED_BY_USER
                self._cancel_all(TrialStatus.USER_CANCELED, STOPPED_BY_USER)
                return ExperimentStatus.STOPPED
            events = self.platform.poll(POLL_SECONDS if self.live else 0.0)
            self.trials.handle_all(events)
            if events:
                self.proposals.observe(live.spec.params for live in self.live.values())
                for params in self.proposals.stops():
                    self.trials.stop_asked(params, "stopped early by the advisor (KillTrialJob)")
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
            self.trials.stop_overdue(overdue_after, overdue_written)
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

    def _fill(self, slots: int) -> bool:
        """Propose up to `slots` trials, starting each once it is recorded; False when the tuner
        proposed none.

        A proposal is committed before its start, so a launcher that dies meanwhile leaves it
        for `resume.adopt` to find or start. It is started before the next is proposed: after a
        burst of ends, a late proposal (milliseconds each with a long history) does not hold
        back the creates of the earlier ones, which run beside the loop.
        """
        started = 0
        while started < slots and self._budget_left():
            running = (live.spec.params for live in self.live.values())
            spec = self.proposals.propose(running)  # committed: one write, outside any batch
            if spec is None:
                break
            self.trials.start(spec)
            started += 1
        if started:
            self.trials.record_starts()
        return bool(started)

    def _cancel_all(self, status: TrialStatus, message: str) -> None:
        self.cancelling = True
        self.trials.cancel_all(status, message)

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
                self.trials.stop(value, TrialStatus.USER_CANCELED, "killed by the user")
            if what == "searchSpace":
                self.proposals.new_space(self.store.experiment().space_text)
        return row.stop_requested

    def _first_trials(self) -> int:
        """How many first trials all failing fail the experiment: max(3, trialConcurrency),
        or fewer when the budget holds fewer."""
        return min(max(FIRST_TRIALS_AT_LEAST, self._concurrency()), self.budget.max_trials)

    def _concurrency(self) -> int:
        return min(self.budget.concurrency, self.platform.capacity)

    def _spent(self) -> str | None:
        """Why no further trial may start, or None while one may."""
        if self.proposals.exhausted:
            return f"search space exhausted after {plural(self.n_trials, 'trial')}"
        return self.budget.exhausted_by(self.n_trials, time.time())

    def _budget_left(self) -> bool:
        return self._spent() is None
