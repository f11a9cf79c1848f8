"""The simulator thread: one loop that drives the kubelet and the FrameworkController.

Why: a single thread woken by every store change (a condition variable, not sleeps) keeps
transitions within tens of milliseconds of their cause, and makes teardown simple: stop the
loop, then kill every process the kubelet started.
"""

from __future__ import annotations

import threading
import time
import traceback

from .controller import FrameworkController
from .kubelet import Kubelet
from .store import Store


class Simulator:
    """The simulator thread: kubelet and FrameworkController, woken by every store change."""

    def __init__(self, store: Store, kubelet: Kubelet) -> None:
        self.store = store
        self.kubelet = kubelet
        self.controller = FrameworkController(store)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="k8sim-simulator", daemon=True)

    def start(self) -> Simulator:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.store.close()
        self._thread.join(timeout)
        self.kubelet.shutdown()

    def _run(self) -> None:
        while not self._stop.is_set():
            before = self.store.rv
            try:
                self.kubelet.sync()
                self.controller.sync()
            except Exception:
                self.errors.append(traceback.format_exc())
                self._stop.wait(0.2)
            if self.store.rv == before:
                timeout = 0.02 if self.kubelet.busy() else 0.2
                wake = self.kubelet.next_wake()
                if wake is not None:
                    timeout = max(0.0, min(timeout, wake - time.monotonic()))
                self.store.wait(before, timeout)
