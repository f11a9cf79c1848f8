"""The kubelet's runs, indexed so that a sync pass looks only at the pods that may need it.

Why: woken by every write, the kubelet used to scan every pod on each pass, and check every run
for `busy()` and `next_wake()`; at hundreds of live pods that was a large share of the
simulator's CPU. A pod needs a look only if the store reports it written or removed since the
last pass (a change feed), if it stays unsettled (`sticky`: no run yet, being deleted, or a run
with processes or a failed write), or if a fast container's wake time has come (a heap).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from .containers import Run
from .objects import Key
from .store import Store

Obj = dict[str, Any]
DONE = ("Succeeded", "Failed")


class Agenda:
    """Runs by pod UID, plus what the next pass must look at; the kubelet's lock guards it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.runs: dict[str, Run] = {}
        self._feed = store.feed("pods")
        self._keys: dict[str, Key] = {}  # run uid -> its pod's key
        self._by_key: dict[Key, set[str]] = {}  # pod key -> uids of its runs
        self._sticky: set[Key] = set()  # pods to look at on every pass
        self._due: list[tuple[float, str]] = []  # heap of (a run's wake time, its uid)
        self._busy: set[str] = set()  # uids of runs with processes, restarts, or Pending

    def add(self, pod: Obj, run: Run) -> None:
        meta = pod["metadata"]
        key = ("pods", meta["namespace"], meta["name"])
        self.runs[run.uid] = run
        self._keys[run.uid] = key
        self._by_key.setdefault(key, set()).add(run.uid)

    def forget(self, uid: str) -> Run:
        run = self.runs.pop(uid)
        key = self._keys.pop(uid)
        self._by_key[key].discard(uid)
        if not self._by_key[key]:
            del self._by_key[key]
        self._busy.discard(uid)
        return run

    def clear(self) -> None:
        self.runs.clear()
        self._keys.clear()
        self._by_key.clear()
        self._busy.clear()

    def busy(self) -> bool:
        """Whether any run has processes, pending restarts or is Pending."""
        return bool(self._busy)

    def next_wake(self) -> float | None:
        """The earliest wake time of any run's fast containers (time.monotonic())."""
        while self._due:  # entries a run has moved past are dropped here
            at, uid = self._due[0]
            run = self.runs.get(uid)
            if run is not None and run.wake_at() == at:
                return at
            heapq.heappop(self._due)
        return None

    def candidates(
        self, now: float, wants: Callable[[Obj, float], bool]
    ) -> tuple[set[Key], list[Obj], list[str]]:
        """(keys looked at, the stored pods `wants` accepts in key order, runs whose pod is gone).

        Every other pod is one `wants` rejects: not written since `settle` saw it settled, and
        its run's wake time has not come.
        """
        with self.store.cond:
            touched = self._feed.drain()
            keys = touched | self._sticky
            while self._due and self._due[0][0] <= now:
                key = self._keys.get(heapq.heappop(self._due)[1])
                if key is not None:
                    keys.add(key)
            pods = []
            for key in sorted(keys):
                pod = self.store.peek(*key)
                if pod is not None and wants(pod, now):
                    pods.append(pod)
            gone = []
            for key in touched:
                pod = self.store.peek(*key)
                uid = pod["metadata"]["uid"] if pod is not None else None
                gone += [u for u in self._by_key.get(key, ()) if u != uid]
            return keys, pods, gone

    def settle(self, keys: set[Key]) -> None:
        """After a pass over `keys`: which stay sticky, and their runs' busy state and wake."""
        with self.store.cond:
            for key in keys:
                for uid in self._by_key.get(key, ()):
                    run = self.runs[uid]
                    if run.procs or run.restart_at or run.phase == "Pending":
                        self._busy.add(uid)
                    else:
                        self._busy.discard(uid)
                    wake = run.wake_at()
                    if wake is not None:
                        heapq.heappush(self._due, (wake, uid))
                pod = self.store.peek(*key)
                current = self.runs.get(pod["metadata"]["uid"]) if pod is not None else None
                if pod is not None and (
                    current is None
                    or pod["metadata"].get("deletionTimestamp")
                    or (current.phase not in DONE and current.quiet_rv is None)
                ):
                    self._sticky.add(key)
                else:
                    self._sticky.discard(key)
