"""List, then watch from the list's resourceVersion, for as long as asked: kopf's shape.

Why apart from the Framework client: how to resume a broken stream is a policy of its own,
tested against fake streams; the client only opens one.

One stream per experiment, selected by label. A watch ends by itself every `timeout_seconds`
(so a stop request is seen) and resumes from the last resourceVersion; a 410 Gone (history
expired) or an ERROR event re-lists; dropped connections and 5xx reconnect with backoff. Each
(re)list hands over the complete set of objects, so nothing that happened while disconnected
is missed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from nnifc.errors import PlatformError
from nnifc.platforms.frameworkcontroller.k8s import RETRY_DELAYS, TRANSPORT_ERRORS

WATCH_SECONDS = 30


Watcher = Callable[[str, int, threading.Event], Iterator[dict[str, Any]]]


def follow(
    watch_fn: Watcher,
    *,
    relist: Callable[[], dict[str, Any]],
    on_list: Callable[[list[dict[str, Any]]], None],
    on_event: Callable[[str, dict[str, Any]], None],
    on_fatal: Callable[[Exception], None],
    stop: threading.Event,
) -> None:
    """Run until `stop` is set. `relist()` lists (with retries); `watch_fn(version, seconds,
    stop)` streams decoded events after `version`."""
    version: str | None = None
    failures = 0
    while not stop.is_set():
        if version is None:
            try:
                listing = relist()
            except PlatformError as e:  # the re-list gave up after its own retries
                on_fatal(e)
                return
            version = listing["metadata"]["resourceVersion"]
            on_list(listing["items"])
        try:
            version = _watch(watch_fn, version, on_event, stop)
            failures = 0
        except PlatformError as e:
            if e.status == 410:
                version = None
                continue
            if e.status in (401, 403, 404):
                on_fatal(e)
                return
            failures += 1
        except TRANSPORT_ERRORS:
            failures += 1
        if failures:
            stop.wait(RETRY_DELAYS[min(failures, len(RETRY_DELAYS)) - 1])


def _watch(
    watch_fn: Watcher,
    version: str,
    on_event: Callable[[str, dict[str, Any]], None],
    stop: threading.Event,
) -> str | None:
    """Stream events after `version`; the version to resume from, or None to re-list."""
    for event in watch_fn(version, WATCH_SECONDS, stop):
        kind, raw = event["type"], event["object"]
        if kind == "ERROR":
            return None  # 410 Gone or another server-side end of history: re-list
        version = raw["metadata"]["resourceVersion"]
        if kind != "BOOKMARK":
            on_event(kind, raw)
        if stop.is_set():
            break
    return version
