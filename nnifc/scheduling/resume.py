"""A launcher's failure leaves its trials running, and a later launcher adopts them.

Trials are never cancelled for a fault of the launcher's or of what it talks to (a storage
outage): the experiment ends in error naming them, and `nnifc resume` follows them again,
starting those that were recorded but never started. A trial recorded as stopped within a
heartbeat of the launcher's death may never have been told to stop: it is told again.
"""

from __future__ import annotations

import contextlib

from nnifc import stopping
from nnifc.budget import plural
from nnifc.errors import NnifcError, PlatformError
from nnifc.records import TrialSpec, TrialStatus
from nnifc.scheduling.trials import Live, Trials
from nnifc.store import TrialRow

HEARTBEAT_SECONDS = 5.0  # how often a running loop writes its heartbeat
LAUNCHER_FAILED = "the launcher stopped with an error"  # what trials were cancelled with, once
READ_AGAIN = "its outputs, read again on resume, say it succeeded before its launcher failed"


def leave_running(trials: Trials, exp_id: str, message: str) -> None:
    """End the experiment in error; what still runs is left for `resume` or `stop`."""
    store, platform = trials.store, trials.platform
    left = [t for t in store.trials() if not t.status.final]
    reason = f"the launcher failed: {message}"
    if left:
        reason += (
            f"; {plural(len(left), 'trial')} left running: `nnifc resume {exp_id}`"
            f" follows them, `nnifc stop {exp_id}` cancels them"
        )
    else:  # nothing runs that needs its Secrets
        with contextlib.suppress(Exception):
            platform.cleanup()
    store.end_in_error(message=message, reason=reason)
    with contextlib.suppress(Exception):
        platform.close()


def adopt(trials: Trials, exp_id: str) -> None:
    """Follow the trials an earlier, dead loop left running; start those it never started."""
    store, platform = trials.store, trials.platform
    row = store.experiment()
    unsure = (row.heartbeat or row.started) - HEARTBEAT_SECONDS
    for trial in store.trials():
        if trial.status is TrialStatus.SYS_CANCELED and trial.message == LAUNCHER_FAILED:
            _read_again(trials, trial)
            continue
        if trial.status.final:
            if trial.status.stopped and (trial.ended or 0) >= unsure:
                # recorded stopped just before a launcher died: maybe never told to stop
                with contextlib.suppress(PlatformError):
                    platform.cancel(trial.id, trial.handle or "")
            continue
        spec = TrialSpec(exp_id, trial.id, trial.sequence, trial.parameter_id, trial.params)
        handle = platform.adopt(spec, trial.handle)
        if handle is None:  # recorded but never started by the launcher that died
            handle = platform.submit(spec)
        if handle and handle != trial.handle:
            store.set_handle(trial.id, handle)
        curve = trials.knowledge.curve(trial.intermediate)
        trials.live[trial.id] = Live(
            spec, handle or "", curve, store.curve_task(trial.id), trial.created
        )


def _read_again(trials: Trials, trial: TrialRow) -> None:
    """A trial an earlier nnifc cancelled when its launcher failed (as one did before 0.x on
    a storage outage) may have ended on its own: its outputs decide."""
    store, platform = trials.store, trials.platform
    with contextlib.suppress(NnifcError):  # still unreadable: it stays as it was
        found = platform.final_metrics(trial.id)
        stopping.record(store, found)
        final = next((m for m in found if m.final), None)
        if final is not None and platform.exit_code(trial.id, final.task) == 0:
            store.undo_stop(trial.id, READ_AGAIN)
            told, value, _ = trials.knowledge.learn(store.trial(trial.id))
            store.set_told(trial.id, told, value)
