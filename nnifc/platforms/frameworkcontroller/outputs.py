"""Trials' outputs read on a thread of their own, so a slow or unreachable share never holds the
trial loop.

Why: a read of a running task's output on an NFS server that is down (or hung, SIGSTOPped) waits
out every retry, for long with a hung server. On the loop thread that stalled the heartbeat, the
budgets and `nnifc stop`, and the error that came out of it ended the experiment and cancelled
trials that had succeeded. Here one thread does every read in turn; a read that fails is retried
every RETRY_SECONDS for as long as it takes, the trial waits (its outcome is decided only once
its outputs are read to the end), and `trouble` says since when and how many trials wait.
Handles held open on the share are closed on this thread too: a close is I/O.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from nnifc.budget import plural
from nnifc.errors import NnifcError
from nnifc.platforms.frameworkcontroller.followed import FollowedTrial
from nnifc.records import TrialEvent

RETRY_SECONDS = 5.0
SLOW_SECONDS = 10.0  # a read under way this long is reported as trouble


@dataclass(frozen=True)
class ReadDone:
    trial: FollowedTrial
    final: bool  # read to the end, unterminated last line included
    events: list[TrialEvent]


@dataclass
class _Outage:
    since: float  # time.time()
    error: str


class OutputReader:
    def __init__(self, *, retry_seconds: float = RETRY_SECONDS) -> None:
        self._retry_seconds = retry_seconds
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[ReadDone] = queue.SimpleQueue()
        self._reading: dict[str, bool] = {}  # trial id -> final, for reads asked and not done
        self._outage: _Outage | None = None
        self._began: float | None = None  # when the read under way began
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._work, name="nnifc-outputs", daemon=True)
        self._thread.start()

    def read(self, trial: FollowedTrial, *, final: bool) -> None:
        """Ask for what the trial's tasks printed since the last read (all of it, with `final`);
        it comes back from `finished`. A trial has one read at a time: asking again meanwhile is
        ignored, so the caller asks for the final read once the one under way is done."""
        if trial.trial_id in self._reading:
            return
        self._reading[trial.trial_id] = final
        self._jobs.put(lambda: self._read(trial, final))

    def reading(self, trial_id: str) -> bool:
        return trial_id in self._reading

    def finished(self) -> list[ReadDone]:
        done: list[ReadDone] = []
        while not self._done.empty():
            result = self._done.get()
            self._reading.pop(result.trial.trial_id, None)
            done.append(result)
        return done

    def release(self, trial: FollowedTrial) -> None:
        """Close what reading the trial keeps open, after any read of it asked before."""
        self._jobs.put(trial.close)

    @property
    def unreachable_since(self) -> float | None:
        outage = self._outage
        return outage.since if outage is not None else None

    def trouble(self, waiting: int) -> str:
        """What to tell the user while reads fail or hang ("" while they do not)."""
        outage, began = self._outage, self._began
        if outage is not None:
            since = time.strftime("%H:%M:%S", time.localtime(outage.since))
            text = f"storage unreachable since {since} ({outage.error})"
        elif began is not None and time.time() - began >= SLOW_SECONDS:
            since = time.strftime("%H:%M:%S", time.localtime(began))
            text = f"storage not answering since {since}"
        else:
            return ""
        if waiting:
            text += f"; {plural(waiting, 'trial')} waiting for their outputs"
        return text

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread; a read hung on a dead server is left to its timeout (daemon)."""
        self._closed.set()
        self._jobs.put(None)
        self._thread.join(timeout)

    def _work(self) -> None:
        while True:  # after `close`, reads are dropped and releases still done
            job = self._jobs.get()
            if job is None:
                return
            job()

    def _read(self, trial: FollowedTrial, final: bool) -> None:
        events: list[TrialEvent] = []
        while not self._closed.is_set():
            self._began = time.time()
            try:
                trial.read(final=final, into=events)
            except NnifcError as e:  # StorageError, as far as the share goes: wait it out
                if self._outage is None:
                    self._outage = _Outage(time.time(), _first_line(str(e)))
                self._closed.wait(self._retry_seconds)
                continue
            finally:
                self._began = None
            self._outage = None
            self._done.put(ReadDone(trial, final, events))
            return


def _first_line(text: str) -> str:
    return text.splitlines()[0][:200] if text else "unknown error"
