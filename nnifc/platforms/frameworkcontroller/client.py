"""The one client for Framework objects: every Framework call nnifc makes goes through here.

Why one: the trial loop, `status --cluster` and `stop --orphans` read and delete the same
objects, and two clients meant two sets of error handling. Calls are plain HTTP
(`Cluster.request`, see k8s.py), so a refusal arrives already mapped to PlatformError /
NotAuthorized. A watch streams one JSON event per line, each a whole Framework, a dozen times
per trial; the loop reads a handful of its fields (`Watched`), so msgspec decodes only those
and skips the rest without building it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, TypedDict
from urllib.parse import quote

import msgspec
import urllib3

from nnifc.platforms.frameworkcontroller.k8s import Cluster
from nnifc.platforms.frameworkcontroller.manifest import GROUP, PLURAL, VERSION

FOREGROUND = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"}


class _Metadata(TypedDict, total=False):
    name: str
    resourceVersion: str
    labels: dict[str, str]


class _Attempt(TypedDict, total=False):
    completionStatus: dict[str, Any] | None


class _Status(TypedDict, total=False):
    state: str | None
    retryPolicyStatus: dict[str, Any] | None
    attemptStatus: _Attempt | None


class Watched(TypedDict, total=False):
    """What the loop reads of a watched Framework: its identity and what manifest.trial_status
    maps to a trial status (tests/test_k8s_requests.py checks the two agree). An ERROR event's
    object is a Status, whose `status` is a word; the watch only ends on it."""

    metadata: _Metadata
    status: _Status | str | None


class _Event(TypedDict):
    type: str
    object: Watched


_EVENT = msgspec.json.Decoder(_Event)


class Frameworks:
    """Framework objects of one namespace: create, read, stop, delete, list, watch."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.path = f"/apis/{GROUP}/{VERSION}/namespaces/{quote(cluster.namespace)}/{PLURAL}"

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        return self.cluster.request(f"create Framework {name}", "POST", self.path, body=body)

    def get(self, name: str) -> dict[str, Any]:
        return self.cluster.request(f"read Framework {name}", "GET", self._named(name))

    def stop(self, name: str) -> dict[str, Any]:
        body = {"spec": {"executionType": "Stop"}}
        path = self._named(name)
        kind = "application/merge-patch+json"
        return self.cluster.request(
            f"stop Framework {name}", "PATCH", path, body=body, content_type=kind
        )

    def delete(self, name: str) -> dict[str, Any]:
        return self.cluster.request(
            f"delete Framework {name}", "DELETE", self._named(name), body=FOREGROUND
        )

    def delete_all(self, label_selector: str, what: str) -> dict[str, Any]:
        query = {"labelSelector": label_selector}
        return self.cluster.request(
            f"delete {what}", "DELETE", self.path, query=query, body=FOREGROUND
        )

    def list(self, label_selector: str, what: str = "list Frameworks") -> dict[str, Any]:
        query = {"labelSelector": label_selector}
        return self.cluster.request(what, "GET", self.path, query=query)

    def watch(
        self, label_selector: str, version: str, *, seconds: int, stop: threading.Event
    ) -> Iterator[dict[str, Any]]:
        """Decoded watch events after `version`, until the server ends the stream or `stop`.

        Not retried here: the caller resumes from the last version it saw (watch.follow); a
        refusal (410 Gone included) is a PlatformError with its status.
        """
        query = {
            "labelSelector": label_selector,
            "watch": "true",
            "resourceVersion": version,
            "timeoutSeconds": str(seconds),
            "allowWatchBookmarks": "true",
        }
        timeout = urllib3.Timeout(connect=10, read=seconds + 15)
        response = self.cluster.stream("watch Frameworks", self.path, query=query, timeout=timeout)
        try:
            pending = b""
            for chunk in response.stream(1 << 16, decode_content=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield decode_event(line)
                if stop.is_set():
                    return
            if pending.strip():  # a well-formed stream ends each event with a newline
                raise urllib3.exceptions.ProtocolError("the watch stream ended inside an event")
        finally:
            response.release_conn()

    def _named(self, name: str) -> str:
        return f"{self.path}/{quote(name, safe='')}"


def decode_event(line: bytes) -> dict[str, Any]:
    """One watch event, {"type": ..., "object": its `Watched` fields}. Not JSON, or not shaped
    as an event: the stream is broken, and the caller reconnects."""
    try:
        return dict(_EVENT.decode(line))
    except msgspec.DecodeError as e:
        raise urllib3.exceptions.ProtocolError(f"an undecodable watch event: {e}") from e
