"""The experiment's Frameworks as the loop needs them: a list+watch thread feeding a queue.

The thread (watch.follow) lists, then watches from the list's resourceVersion. A Framework is
modified a dozen times in its life (pod names, task statuses, attempt details, nine states) and
each event is the whole object; the loop only needs a change of what the trial's status would
be (waiting, running, an end, or a state in between that means nothing yet), an appearance and
a deletion. So the thread passes on just those, and the loop wakes once per change that can
matter, not per event.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from nnifc.platforms.frameworkcontroller import manifest
from nnifc.platforms.frameworkcontroller.client import Frameworks
from nnifc.platforms.frameworkcontroller.watch import follow

Item = tuple[str, Any]  # ("list", [framework, ...]) | (watch event type, framework) | ("fatal", e)


class Feed:
    def __init__(self, frameworks: Frameworks, selector: str) -> None:
        self.frameworks, self.selector = frameworks, selector
        self._queue: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._states: dict[str, str | None] = {}  # Framework -> the state last passed on
        self._thread = threading.Thread(target=self._follow, name="nnifc-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def drain(self, timeout: float) -> list[Item]:
        """What arrived, waiting up to `timeout` seconds for the first item (0: do not wait)."""
        try:
            first = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return []
        items = [first]
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def _follow(self) -> None:
        follow(
            lambda version, seconds, stop: self.frameworks.watch(
                self.selector, version, seconds=seconds, stop=stop
            ),
            relist=lambda: self.frameworks.list(self.selector),
            on_list=self._on_list,
            on_event=self._on_event,
            on_fatal=lambda error: self._queue.put(("fatal", error)),
            stop=self._stop,
        )

    def _on_list(self, items: list[dict[str, Any]]) -> None:
        self._states = {raw["metadata"]["name"]: _state(raw) for raw in items}
        self._queue.put(("list", items))

    def _on_event(self, kind: str, raw: dict[str, Any]) -> None:
        name, state = raw["metadata"]["name"], _state(raw)
        if kind == "MODIFIED" and name in self._states and self._states[name] == state:
            return
        if kind == "DELETED":
            self._states.pop(name, None)
        else:
            self._states[name] = state
        self._queue.put((kind, raw))


def _state(raw: dict[str, Any]) -> str | None:
    status = manifest.trial_status(raw).status
    return status.value if status is not None else None
