"""The Framework calls the trial loop makes per trial, as plain HTTP on the client's own pool.

Why not the generated client here: for each call it validates its arguments with pydantic,
walks the body to "sanitize" it, and decodes the answer generically; at thousands of trials
that was a third of the launcher's CPU. These few calls need none of it: the body is already
JSON-shaped, the answer is wanted as a dict. They still go through the client's configuration
(server, TLS, client certificates, tokens refreshed by its hook) and `Cluster.call`'s retries,
and a refusal is the client's own ApiException, so errors read as everywhere else.
JSON is encoded and decoded with orjson: watch events are whole Frameworks, decoded once each.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import urllib3
from kubernetes.client.exceptions import ApiException

from nnifc.framework import GROUP, PLURAL, VERSION
from nnifc.platforms.k8s import Cluster

REQUEST_TIMEOUT = urllib3.Timeout(connect=10, read=60)
FOREGROUND = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"}


class Frameworks:
    """Framework objects of one namespace: create, read, stop, delete, list, watch."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.path = f"/apis/{GROUP}/{VERSION}/namespaces/{quote(cluster.namespace)}/{PLURAL}"

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        return self._call(f"create Framework {name}", "POST", self.path, body=body)

    def get(self, name: str) -> dict[str, Any]:
        return self._call(f"read Framework {name}", "GET", self._named(name))

    def stop(self, name: str) -> dict[str, Any]:
        body = {"spec": {"executionType": "Stop"}}
        path = self._named(name)
        return self._call(f"stop Framework {name}", "PATCH", path, body=body, patch=True)

    def delete(self, name: str) -> dict[str, Any]:
        return self._call(f"delete Framework {name}", "DELETE", self._named(name), body=FOREGROUND)

    def delete_all(self, label_selector: str, what: str) -> dict[str, Any]:
        query = {"labelSelector": label_selector}
        return self._call(f"delete {what}", "DELETE", self.path, query=query, body=FOREGROUND)

    def list(self, label_selector: str) -> dict[str, Any]:
        query = {"labelSelector": label_selector}
        return self._call("list Frameworks", "GET", self.path, query=query)

    def watch(
        self, label_selector: str, version: str, *, seconds: int, stop: threading.Event
    ) -> Iterator[dict[str, Any]]:
        """Decoded watch events after `version`, until the server ends the stream or `stop`.

        Not retried here: the caller resumes from the last version it saw (watch.follow).
        """
        query = {
            "labelSelector": label_selector,
            "watch": "true",
            "resourceVersion": version,
            "timeoutSeconds": str(seconds),
            "allowWatchBookmarks": "true",
        }
        timeout = urllib3.Timeout(connect=10, read=seconds + 15)
        response = self._send("GET", self.path, query=query, timeout=timeout, stream=True)
        try:
            pending = b""
            for chunk in response.stream(1 << 16, decode_content=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield orjson.loads(line)
                if stop.is_set():
                    return
            if pending.strip():  # a well-formed stream ends each event with a newline
                raise urllib3.exceptions.ProtocolError("the watch stream ended inside an event")
        finally:
            response.release_conn()

    def _named(self, name: str) -> str:
        return f"{self.path}/{quote(name, safe='')}"

    def _call(
        self,
        what: str,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        patch: bool = False,
    ) -> dict[str, Any]:
        def once() -> dict[str, Any]:
            response = self._send(method, path, query=query, body=body, patch=patch)
            decoded: dict[str, Any] = orjson.loads(response.data) if response.data else {}
            return decoded

        return self.cluster.call(what, once)

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        patch: bool = False,
        timeout: urllib3.Timeout = REQUEST_TIMEOUT,
        stream: bool = False,
    ) -> urllib3.BaseHTTPResponse:
        api = self.cluster.api
        headers = {"Accept": "application/json", "User-Agent": api.user_agent}
        for setting in api.configuration.auth_settings().values():  # refreshes expiring tokens
            if setting["in"] == "header" and setting["value"]:
                headers[setting["key"]] = setting["value"]
        data = None
        if body is not None:
            headers["Content-Type"] = (
                "application/merge-patch+json" if patch else "application/json"
            )
            data = orjson.dumps(body)
        url = api.configuration.host + path + (f"?{urlencode(query)}" if query else "")
        response = api.rest_client.pool_manager.request(
            method, url, body=data, headers=headers, timeout=timeout, preload_content=not stream
        )
        if not 200 <= response.status <= 299:
            if stream:
                response.read()
                response.release_conn()
            error = ApiException(status=response.status, reason=response.reason)
            error.body = response.data.decode("utf-8", "replace") if response.data else ""
            error.headers = response.headers
            raise error
        return response
