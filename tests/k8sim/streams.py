"""Long-lived responses: watch event streams and `pods/log?follow=true`, both chunked.

Why: the launcher's monitor lives on these streams, and their edge cases are where real
launchers break: resuming from a resourceVersion, a 410 delivered *inside* the stream, a
server-side `timeoutSeconds` ending the stream cleanly, a connection dropped mid-stream, a
log follow that ends when the container exits or its pod is deleted.
"""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .encoding import watch_event
from .errors import ApiError

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler

    from .apiserver import ApiServer
    from .verbs import Target

Obj = dict[str, Any]
DEFAULT_WATCH_TIMEOUT = 1800.0


class StreamWriter:
    """HTTP/1.1 chunked body writer over a request handler's socket."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self.handler = handler

    def write(self, data: bytes) -> None:
        if data:
            self.handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def event(self, kind: str, obj: Obj) -> None:
        """One event; `obj` is a stored object or one made for this event (ERROR, BOOKMARK)."""
        self.write(watch_event(kind, obj))

    def end(self) -> None:
        self.handler.wfile.write(b"0\r\n\r\n")

    def abort(self) -> None:
        """Close the connection without the terminating chunk, like a dying apiserver or LB."""
        self.handler.close_connection = True
        with contextlib.suppress(OSError):
            self.handler.connection.shutdown(socket.SHUT_RDWR)


def _event_type(kind: str, now_matches: bool, was_matching: bool) -> str | None:
    """Selector-filtered watches turn transitions across the selector into ADDED/DELETED."""
    if kind == "DELETED":
        return "DELETED" if was_matching else None
    if kind == "ADDED":
        return "ADDED" if now_matches else None
    if now_matches and was_matching:
        return "MODIFIED"
    if now_matches:
        return "ADDED"
    return "DELETED" if was_matching else None


def watch(out: StreamWriter, api: ApiServer, target: Target, query: dict[str, str]) -> None:
    from .verbs import matcher

    resource, namespace = target.resource, target.namespace
    match = matcher(resource, query)
    timeout = float(query.get("timeoutSeconds") or DEFAULT_WATCH_TIMEOUT)
    bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
    opened = time.monotonic()
    deadline = opened + timeout
    drop_generation = api.faults.drop_generation
    rv_param = query.get("resourceVersion") or ""
    try:
        if rv_param in ("", "0"):
            items, last = api.store.select(resource.plural, namespace, match, copy=False)
            for item in items:
                out.event("ADDED", item)
        else:
            last = int(rv_param)
        last_bookmark = time.monotonic()
        while True:
            every = api.faults.drop_watches_every
            if (
                api.stopping.is_set()
                or api.faults.drop_generation != drop_generation
                or (every is not None and time.monotonic() - opened >= every)
            ):
                out.abort()
                return
            try:
                events, current = api.store.events_after(last)
            except ApiError as exc:
                out.event("ERROR", exc.status())
                out.end()
                return
            for event in events:
                if event.plural != resource.plural or namespace not in (None, event.namespace):
                    continue
                now_matches = event.type != "DELETED" and match(event.obj)
                was_matching = event.prev is not None and match(event.prev)
                kind = _event_type(event.type, now_matches, was_matching)
                if kind:
                    out.event(kind, event.obj)
            last = current
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                out.end()
                return
            if bookmarks and time.monotonic() - last_bookmark >= api.faults.bookmark_interval:
                marker = {"kind": resource.kind, "apiVersion": resource.api_version}
                out.event("BOOKMARK", {**marker, "metadata": {"resourceVersion": str(last)}})
                last_bookmark = time.monotonic()
            api.store.wait(last, min(0.2, remaining), resource.plural)
    except (BrokenPipeError, ConnectionResetError):
        out.handler.close_connection = True


def _tail_offset(path: Path, lines: int) -> int:
    data = path.read_bytes()
    if lines <= 0:
        return len(data)
    end = len(data) - (1 if data.endswith(b"\n") else 0)
    pos = end
    for _ in range(lines):
        pos = data.rfind(b"\n", 0, pos)
        if pos < 0:
            return 0
    return pos + 1


def read_log(path: Path, tail: int | None) -> str:
    if not path.exists():
        return ""
    start = _tail_offset(path, tail) if tail is not None else 0
    return path.read_bytes()[start:].decode(errors="replace")


def follow_log(
    out: StreamWriter, api: ApiServer, pod: Obj, container: str, path: Path, tail: int | None
) -> None:
    meta = pod["metadata"]
    offset = _tail_offset(path, tail) if tail is not None and path.exists() else 0
    try:
        while True:
            data = b""
            if path.exists():
                with path.open("rb") as handle:
                    handle.seek(offset)
                    data = handle.read()
            if data:
                out.write(data)
                offset += len(data)
                continue
            current = api.store.find("pods", meta["namespace"], meta["name"])
            finished = api.logs is None or current is None
            if current is not None and api.logs is not None:
                finished = api.logs.log_file(current, container)[1]
            gone = current is None or current["metadata"]["uid"] != meta["uid"]
            if gone or api.stopping.is_set():
                out.end()
                return
            if finished:
                with path.open("rb") as handle:
                    handle.seek(offset)
                    out.write(handle.read())
                out.end()
                return
            time.sleep(0.05)
    except (BrokenPipeError, ConnectionResetError):
        out.handler.close_connection = True
