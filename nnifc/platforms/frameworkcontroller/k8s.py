"""Talking to Kubernetes: one client, every call retried and every refusal made readable.

Why: this is the edge where the API server's refusals become nnifc's errors. Configuration
comes from where kubectl finds it (KUBECONFIG, ~/.kube/config, in-cluster), with an optional
context. Each call retries 429, 5xx and dropped connections with backoff, honouring Retry-After;
what is left is translated once, here, into PlatformError / NotAuthorized naming the context,
the namespace and what was attempted.

Every call (Frameworks, pods, Secrets, the preflight's) goes through `request` or `stream`:
plain HTTP on the pool the kubernetes client builds from the kubeconfig (server, TLS, client
certificates), JSON by msgspec. The kubernetes package is used for that configuration alone:
its generated API validates every call with pydantic, walks the body to sanitize it and decodes
answers generically, and runs the token hook (which rebuilds the configuration) on every call,
which at scale costs the launcher most of its CPU. `request` takes the auth header from that
hook at most every AUTH_SECONDS, and again at once when the server answers 401.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

import msgspec
import urllib3
from kubernetes import client, config
from kubernetes.config import kube_config
from kubernetes.config.config_exception import ConfigException

from nnifc.errors import NoKubeconfig, NotAuthorized, PlatformError

T = TypeVar("T")
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)
RETRYABLE = {0, 429, 500, 502, 503, 504}
TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError)
REQUEST_TIMEOUT = urllib3.Timeout(connect=10, read=60)
AUTH_SECONDS = 30.0
# Connections the launcher may use at once: creates in flight (up to 4), the watch, a deletion
# and a look at pods. The client's default is 5 per core; past it, urllib3 warns on the console.
POOL_CONNECTIONS = 8
# a kubeconfig that is not YAML: the client's PyYAML error (PyYAML ships no type stubs)
YAML_ERRORS: type[Exception] = kube_config.yaml.YAMLError  # type: ignore[attr-defined]


class Refused(Exception):
    """An answer outside 2xx, before `Cluster.error` names what was refused."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        super().__init__(f"{response.status} {response.reason}")
        self.status, self.reason = response.status, response.reason
        self.body = response.data.decode("utf-8", "replace") if response.data else ""
        self.retry_after = response.headers.get("Retry-After")


@dataclass
class Cluster:
    api: client.ApiClient
    context: str
    namespace: str
    _auth: dict[str, str] = field(default_factory=dict, repr=False)
    _auth_at: float | None = field(default=None, repr=False)

    def _retried(self, what: str, fn: Callable[[], T]) -> T:
        """`fn()`, retried while the failure is transient; `what` names it in errors."""
        for attempt, delay in enumerate((*RETRY_DELAYS, None)):
            try:
                return fn()
            except Refused as e:
                if e.status not in RETRYABLE or delay is None:
                    raise self.error(what, e) from e
                time.sleep(_retry_after(e) or delay)
            except TRANSPORT_ERRORS as e:
                if delay is None:
                    raise PlatformError(
                        f"cannot reach the Kubernetes API ({self.context}) to {what}: {e}"
                    ) from e
                time.sleep(delay)
            del attempt
        raise AssertionError("unreachable")

    def request(
        self,
        what: str,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """A JSON call to `path`, retried while the failure is transient; the decoded answer."""

        def once() -> dict[str, Any]:
            response = self.send(method, path, query=query, body=body, content_type=content_type)
            decoded: dict[str, Any] = msgspec.json.decode(response.data) if response.data else {}
            return decoded

        return self._retried(what, once)

    def send(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: urllib3.Timeout = REQUEST_TIMEOUT,
        stream: bool = False,
    ) -> urllib3.BaseHTTPResponse:
        """One request; a status outside 2xx is raised as Refused."""
        url = self.api.configuration.host + path + (f"?{urlencode(query)}" if query else "")
        data = None if body is None else msgspec.json.encode(body)
        for fresh in (False, True):
            headers = {"Accept": "application/json", "User-Agent": self.api.user_agent}
            headers |= self._auth_headers(refresh=fresh)
            if data is not None:
                headers["Content-Type"] = content_type
            response = self.api.rest_client.pool_manager.request(
                method, url, body=data, headers=headers, timeout=timeout, preload_content=not stream
            )
            if 200 <= response.status <= 299:
                return response
            if stream:
                response.read()
                response.release_conn()
            if response.status != 401 or fresh:
                break
        raise Refused(response)

    def stream(
        self, what: str, path: str, *, query: dict[str, str], timeout: urllib3.Timeout
    ) -> urllib3.BaseHTTPResponse:
        """A GET read as it arrives (a watch), not retried: its reader resumes on its own terms.
        A refusal is raised as `error` makes it, with the status kept."""
        try:
            return self.send("GET", path, query=query, timeout=timeout, stream=True)
        except Refused as e:
            raise self.error(what, e) from e

    def _auth_headers(self, *, refresh: bool) -> dict[str, str]:
        now = time.monotonic()
        if refresh or self._auth_at is None or now - self._auth_at > AUTH_SECONDS:
            settings = self.api.configuration.auth_settings()  # runs the token refresh hook
            self._auth = {
                str(s["key"]): str(s["value"])
                for s in settings.values()
                if s["in"] == "header" and s["value"]
            }
            self._auth_at = now
        return self._auth

    def error(self, what: str, e: Refused) -> PlatformError:
        message = _status_message(e)
        if e.status == 401:
            return NotAuthorized(
                f"the cluster rejected the credentials of context {self.context!r} (401) while trying to {what}; "
                "log in again or fix your kubeconfig",
                status=401,
            )
        if e.status == 403:
            return NotAuthorized(
                f"context {self.context!r} may not {what} in namespace {self.namespace!r} (403): {message}",
                status=403,
            )
        return PlatformError(f"cannot {what} ({e.status} {e.reason}): {message}", status=e.status)

    def close(self) -> None:
        self.api.close()


def connect(*, context: str | None = None, namespace: str | None = None) -> Cluster:
    """A client configured as kubectl would be; `namespace` overrides the context's."""
    configuration = client.Configuration()
    if context is None and in_cluster():
        try:
            config.load_incluster_config(client_configuration=configuration)
        except ConfigException as e:
            raise PlatformError(f"no usable in-cluster Kubernetes configuration: {e}") from e
        active, default_namespace = "in-cluster", _incluster_namespace()
    else:
        files = kubeconfig_files()
        where = ", ".join(files)
        try:
            merged = kube_config.KubeConfigMerger(os.pathsep.join(files)).config
            contexts = {c["name"]: c.value for c in merged["contexts"]}
            active = context or merged.safe_get("current-context")
            _check_context(active, context, contexts, where)
            config.load_kube_config(
                config_file=os.pathsep.join(files),
                context=active,
                client_configuration=configuration,
                persist_config=False,
            )
        except (
            ConfigException,
            OSError,
            ValueError,
            TypeError,
            LookupError,
            AttributeError,
            YAML_ERRORS,
        ) as e:
            raise PlatformError(f"no usable Kubernetes configuration ({where}): {e}") from e
        default_namespace = (contexts[active].get("context") or {}).get("namespace") or "default"
    configuration.connection_pool_maxsize = max(
        configuration.connection_pool_maxsize or 0, POOL_CONNECTIONS
    )
    return Cluster(client.ApiClient(configuration), active, namespace or default_namespace)


def _check_context(active: Any, asked: str | None, contexts: dict[str, Any], where: str) -> None:
    listed = ", ".join(contexts) or "none"
    if asked is not None and asked not in contexts:
        raise PlatformError(f'no context "{asked}" in {where}; contexts: {listed}')
    if asked is None and not active:
        raise PlatformError(f"no current-context in {where}; pass --context (contexts: {listed})")
    if active not in contexts:
        raise PlatformError(
            f'current-context "{active}" is not in {where}; contexts: {listed}; '
            "pass --context or run kubectl config use-context"
        )


def in_cluster() -> bool:
    """kubectl's rule: inside a pod, with no KUBECONFIG, the pod's service account is used."""
    return "KUBERNETES_SERVICE_HOST" in os.environ and not os.environ.get("KUBECONFIG")


def kubeconfig_files() -> list[str]:
    """The kubeconfig files kubectl would merge (KUBECONFIG's that exist, else ~/.kube/config)."""
    named = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    paths = [os.path.expanduser(p) for p in named or ["~/.kube/config"]]
    found = [p for p in paths if os.path.exists(p)]
    if not found:
        missing = (
            f"{paths[0]} does not exist"
            if len(paths) == 1
            else f"none of {', '.join(paths)} exists"
        )
        raise NoKubeconfig(
            f"no kubeconfig: {missing}; set KUBECONFIG to your cluster's kubeconfig file "
            "(--context picks a context in it)"
        )
    return found


def _incluster_namespace() -> str:
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
            return f.read().strip() or "default"
    except OSError:
        return "default"


def _status_message(e: Refused) -> str:
    try:
        return str(json.loads(e.body or "{}").get("message") or e.reason)
    except (ValueError, AttributeError):
        return str(e.reason)


def _retry_after(e: Refused) -> float | None:
    value = e.retry_after
    try:
        return min(float(value), 30.0) if value is not None else None
    except ValueError:
        return None
