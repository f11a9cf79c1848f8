"""Framework creates in flight beside the trial loop, and what came of each.

Why: a create waits milliseconds on the API server, and when hundreds of trials end together
the loop would wait for each replacement's create in turn, while more trials end unseen. Here up
to CREATES_AT_ONCE creates run on threads (the first wave paced by a Ramp), and the loop picks
up their outcomes when it next looks. It waits for a create only to cancel its trial: a delete
sent before the create lands would leave the Framework running.
"""

from __future__ import annotations

import contextlib
import functools
import queue
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from nnifc.errors import PlatformError
from nnifc.platforms.frameworkcontroller.ramp import Ramp
from nnifc.records import TrialSpec

CREATES_AT_ONCE = 4


class Creator:
    def __init__(self, create: Callable[[TrialSpec], str], first_wave: int) -> None:
        """`create(spec)` makes one trial's Framework and returns its name (on a thread)."""
        self._create = create
        self._ramp = Ramp(first_wave)
        self._pool = ThreadPoolExecutor(CREATES_AT_ONCE, thread_name_prefix="nnifc-create")
        self._creating: dict[str, Future[str]] = {}  # trial id -> its create, until collected
        self._ended: queue.SimpleQueue[str] = queue.SimpleQueue()  # trials whose create ended

    def submit(self, spec: TrialSpec) -> None:
        future = self._pool.submit(self._paced, spec)
        self._creating[spec.trial_id] = future
        future.add_done_callback(functools.partial(self._note_ended, spec.trial_id))

    def finished(self) -> list[tuple[str, str | BaseException]]:
        """(trial id, Framework name or the error its create raised) of the creates that ended."""
        outcomes: list[tuple[str, str | BaseException]] = []
        while not self._ended.empty():
            trial_id = self._ended.get()
            future = self._creating.pop(trial_id, None)
            if future is not None:  # None: its trial was cancelled meanwhile (see wait_for)
                outcomes.append((trial_id, future.exception() or future.result()))
        return outcomes

    def wait_for(self, trial_id: str) -> None:
        """Drop the trial's create if it has not begun, else let it land or fail; either way its
        outcome is not reported."""
        future = self._creating.pop(trial_id, None)
        if future is not None and not future.cancel():
            with contextlib.suppress(PlatformError):  # a refusal: there is nothing to delete
                future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _paced(self, spec: TrialSpec) -> str:
        self._ramp.wait()
        return self._create(spec)

    def _note_ended(self, trial_id: str, _: Future[str]) -> None:
        self._ended.put(trial_id)  # on the create's thread: `finished` picks it up
