"""CPU seconds the tuner and the assessor take, for `status` to show: kept in memory, written
to the store with the loop's heartbeat rather than once per call."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from nnifc.store import Store


class CpuTime:
    def __init__(self) -> None:
        self.spent: dict[str, float] = {}  # thread CPU seconds by part, not yet in the store

    @contextlib.contextmanager
    def timed(self, part: str) -> Iterator[None]:
        start = time.thread_time()
        try:
            yield
        finally:
            self.spent[part] = self.spent.get(part, 0.0) + time.thread_time() - start

    def flush(self, store: Store) -> None:
        if self.spent:
            store.add_counters(self.spent)
            self.spent = {}
