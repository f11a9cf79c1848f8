"""Finished trials' Frameworks deleted in batches, in the background.

A deletion can take the API server a while (foreground, with pods), and one request per trial
would double the requests an experiment makes. So the trials whose final status was reported
wait here until DELETE_BATCH of them are waiting or the oldest has waited DELETE_AFTER_SECONDS,
and then go in one request (their names in its label selector) on a thread; the loop never
waits for it. A failure that outlasted the retries is raised on the next `step`.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from nnifc.platforms.frameworkcontroller import manifest
from nnifc.platforms.frameworkcontroller.client import Frameworks

DELETE_BATCH = 100  # finished Frameworks deleted by one request (their names go in its URL)
DELETE_AFTER_SECONDS = 2.0  # or once the oldest has waited this long


class Reaper:
    def __init__(self, frameworks: Frameworks, experiment_id: str) -> None:
        self._frameworks = frameworks
        self._experiment_id = experiment_id
        self._waiting: list[str] = []  # trial ids, oldest first
        self._oldest_at = 0.0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nnifc-delete")
        self._deleting: tuple[Future[Any], list[str]] | None = None  # the request under way

    def add(self, trial_id: str) -> None:
        if not self._waiting:
            self._oldest_at = time.monotonic()
        self._waiting.append(trial_id)

    def step(self) -> None:
        """Start the next batch's deletion if it is due and none is under way."""
        if self._deleting is not None:
            future, batch = self._deleting
            if not future.done():
                return
            self._deleting = None
            if future.exception() is not None:
                self._waiting[:0] = batch
                future.result()
        waited = time.monotonic() - self._oldest_at
        if not self._waiting or (
            len(self._waiting) < DELETE_BATCH and waited < DELETE_AFTER_SECONDS
        ):
            return
        batch, self._waiting = self._waiting[:DELETE_BATCH], self._waiting[DELETE_BATCH:]
        selector = (
            f"{manifest.selector(self._experiment_id)},"
            f"{manifest.TRIAL_LABEL} in ({','.join(sorted(batch))})"
        )
        what = f"{len(batch)} finished Frameworks"
        self._deleting = (self._pool.submit(self._frameworks.delete_all, selector, what), batch)

    def close(self) -> None:
        """Wait for a deletion under way; what still waits is left (cleanup deletes it all)."""
        self._waiting = []
        self._pool.shutdown(wait=True)
