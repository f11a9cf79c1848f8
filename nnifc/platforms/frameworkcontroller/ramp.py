"""The first wave of trials is created at a bounded rate; later trials start as slots free.

Why: trials started together end together. Equal-length trials created in one burst come back
as one burst every trial length, and each time the cluster (pods torn down and created) and
the tuner must turn the whole wave around at once, and the last of a wave's replacements waits
longest for its create. Created over a few seconds instead, the waves
never form and each later trial is created the moment its slot frees. The API server is also
spared hundreds of creates in one second from one client.
"""

from __future__ import annotations

import threading
import time

RAMP_PER_SECOND = 100.0


class Ramp:
    """Paces the first `first` calls to `wait` at `per_second`; every later call returns at once."""

    def __init__(self, first: int, per_second: float = RAMP_PER_SECOND) -> None:
        self._left = first
        self._interval = 1 / per_second
        self._next = 0.0  # time.monotonic() of the next paced slot
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Sleep until this caller's turn (safe from several threads)."""
        with self._lock:
            if self._left <= 0:
                return
            self._left -= 1
            now = time.monotonic()
            turn = max(now, self._next)
            self._next = turn + self._interval
        if turn > now:
            time.sleep(turn - now)
