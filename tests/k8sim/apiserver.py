"""A Kubernetes API server double that speaks the real REST protocol over HTTP on 127.0.0.1.

Why: no kube-apiserver can run in this sandbox, and mocking the `kubernetes` client would test
the mock, not the launcher. This server lets the launcher use the official client unchanged
(kubeconfig, bearer token, typed models, watch streams, pod logs) while tests inject the
failures real clusters produce: 5xx/429 bursts, dropped watches, expired resourceVersions.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from . import discovery, endpoints, verbs
from .errors import ApiError, no_route
from .faults import Faults, Request, RequestLog
from .resources import FC_GROUP, crd_object
from .store import Store, now
from .streams import StreamWriter, watch

Obj = dict[str, Any]
PUBLIC = ("/version", "/version/", "/healthz", "/readyz", "/livez")


class LogProvider(Protocol):
    def log_file(self, pod: Obj, container: str) -> tuple[Path | None, bool]:
        """(path of the container's log, whether the container has terminated)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, api: ApiServer) -> None:
        self.api = api
        self.connections: set[socket.socket] = set()
        self.threads: set[threading.Thread] = set()
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.lock:
            self.connections.add(request)
        thread = threading.Thread(target=self._serve, args=(request, client_address), daemon=True)
        with self.lock:
            self.threads.add(thread)
        thread.start()

    def _serve(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # a client that vanished mid-request is not an error here
            pass
        finally:
            with self.lock:
                self.connections.discard(request)
                self.threads.discard(threading.current_thread())
            self.shutdown_request(request)


class ApiServer:
    """Serves `store` at `url`; `start()` and `stop()` it (stop closes every connection)."""

    def __init__(
        self,
        store: Store,
        *,
        token: str = "k8sim-token",
        faults: Faults | None = None,
        requests: RequestLog | None = None,
        namespaces: set[str] | None = None,
        logs: LogProvider | None = None,
    ) -> None:
        self.store = store
        self.token = token
        self.faults = faults or Faults()
        self.faults._expire = store.expire_history
        self.requests = requests or RequestLog()
        self.namespaces = namespaces  # None: every namespace exists
        self.logs = logs
        # (plural, body bytes as received) for every POST: bytes, not dicts, to stay small
        self.created: list[tuple[str, bytes]] = []
        self.stopping = threading.Event()
        self.crd = crd_object("6f1c0f7e-0000-4000-8000-000000000001", now())
        self._httpd = _Server(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ApiServer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        self.stopping.set()
        self.store.close()
        self._httpd.shutdown()
        with self._httpd.lock:
            connections = list(self._httpd.connections)
            threads = list(self._httpd.threads)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._httpd.server_close()
        self._thread.join(timeout)

    def created_bodies(self, plural: str) -> list[Obj]:
        # a POST cut short by a killed client has no body and created nothing
        return [json.loads(body) for p, body in list(self.created) if p == plural and body]

    def ensure_namespace(self, namespace: str) -> None:
        if self.namespaces is not None and namespace not in self.namespaces:
            raise ApiError(
                404,
                f'namespaces "{namespace}" not found',
                details={"name": namespace, "kind": "namespaces"},
            )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the body waits for the client's
    # delayed ACK (40 ms a request). Go's net/http, hence the real apiserver, sets TCP_NODELAY.
    disable_nagle_algorithm = True
    server: _Server
    status = 0
    _recorded = False
    _started = 0.0
    _info: dict[str, Any]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header, from a clock `faults.clock_offset` ahead of this machine's."""
        now = time.time() if timestamp is None else timestamp
        return super().date_time_string(now + self.server.api.faults.clock_offset)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    # ---- plumbing --------------------------------------------------------------------------

    def _send(self, code: int, body: Obj | str, headers: dict[str, str] | None = None) -> None:
        if isinstance(body, str):
            data, ctype = body.encode(), "text/plain"
        else:
            data, ctype = json.dumps(body).encode(), "application/json"
        self.status = code
        self._record()  # before the client can see the answer
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", "k8sim")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, ctype: str) -> StreamWriter:
        self.status = 200
        self._record()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        return StreamWriter(self)

    def _record(self) -> None:
        if self._recorded:
            return
        self._recorded = True
        self.server.api.requests.record(
            Request(
                method=self.command,
                status=self.status,
                duration=time.time() - self._started,
                **self._info,
            )
        )

    def _handle(self) -> None:
        self._started = started = time.time()
        self.status = 0
        self._recorded = False
        split = urlsplit(self.path)
        path, query = split.path, dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        info = endpoints.classify(self.command, path, query)
        self._info: dict[str, Any] = {"path": path, "query": query, "time": started, **info}
        api = self.server.api
        try:
            if api.faults.latency:
                time.sleep(api.faults.latency)
            self._authenticate(path)
            self._route(path, query, raw, info)
        except ApiError as exc:
            self._send(exc.code, exc.status(), exc.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self._record()

    def _authenticate(self, path: str) -> None:
        header = self.headers.get("Authorization")
        if header is None and path in PUBLIC:
            return
        if header != f"Bearer {self.server.api.token}":
            raise ApiError(401, "Unauthorized", details={})

    def _inject(self, verb: str, resource: str) -> None:
        code = self.server.api.faults.pick_failure(verb, resource)
        if code == 429:
            raise ApiError(
                429,
                "storage is (re)initializing",
                details={"retryAfterSeconds": 1},
                headers={"Retry-After": "1"},
            )
        if code is not None:
            raise ApiError(
                code,
                "Internal error occurred: injected fault",
                details={"causes": [{"message": "injected by k8sim"}]},
            )

    # ---- routing ---------------------------------------------------------------------------

    def _route(self, path: str, query: dict[str, str], raw: bytes, info: dict[str, str]) -> None:
        api = self.server.api
        parts = [p for p in path.split("/") if p]
        is_watch = query.get("watch") in ("true", "1", "True")
        resource_path = (
            (parts[:1] == ["api"] and len(parts) >= 3 and parts[2] != "namespaces")
            or (parts[:1] == ["api"] and len(parts) >= 5)
            or (
                parts[:1] == ["apis"]
                and len(parts) >= 4
                and parts[1] not in ("apiextensions.k8s.io", "authorization.k8s.io")
            )
        )
        if not resource_path:
            self._inject("create" if self.command == "POST" else "get", parts[-1] if parts else "")
        if path in ("/version", "/version/"):
            return self._send(200, discovery.VERSION)
        if path in ("/healthz", "/readyz", "/livez"):
            return self._send(200, "ok")
        if parts == ["api"]:
            return self._send(200, discovery.api_versions(self.headers.get("Host", "")))
        if parts == ["apis"]:
            return self._send(200, discovery.api_groups(api.faults.crd_installed))
        if len(parts) == 2 and parts[0] == "apis":
            group = discovery.api_group(parts[1], api.faults.crd_installed)
            return self._send(200, group) if group else self._raise(no_route())
        if parts == ["api", "v1"] or (len(parts) == 3 and parts[0] == "apis"):
            group_name, version = ("", "v1") if parts[0] == "api" else (parts[1], parts[2])
            listing = discovery.resource_list(group_name, version, api.faults.crd_installed)
            return self._send(200, listing) if listing else self._raise(no_route())
        if parts[:4] == ["apis", "apiextensions.k8s.io", "v1", "customresourcedefinitions"]:
            verb = "get" if parts[4:] else "list"
            self._enforce(verb, "apiextensions.k8s.io", "customresourcedefinitions", "", None, "")
            return endpoints.crd(self, parts[4:], info)
        if (
            parts == ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"]
            and self.command == "POST"
        ):
            return endpoints.access_review(self, raw, info)
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) <= 4:
            return endpoints.namespace(self, parts[3] if len(parts) == 4 else None, info)
        self._resource(parts, query, raw, info, is_watch)
        return None

    def _raise(self, error: ApiError) -> None:
        raise error

    def _enforce(
        self, verb: str, group: str, plural: str, sub: str, namespace: str | None, name: str
    ) -> None:
        """403, as RBAC would, for a request the deny set covers (with `enforce_denied`)."""
        faults = self.server.api.faults
        if faults.enforce_denied and faults.is_denied(verb, group, plural, sub, namespace or ""):
            raise ApiError(
                403,
                f'{plural}{"." + group if group else ""} is forbidden: User "k8sim" cannot {verb} resource "{plural}" in API group "{group}" in the namespace "{namespace}"',
                details={"group": group, "kind": plural, "name": name},
            )

    def _resource(
        self,
        parts: list[str],
        query: dict[str, str],
        raw: bytes,
        info: dict[str, str],
        is_watch: bool,
    ) -> None:
        api = self.server.api
        if parts[:1] == ["api"] and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise no_route()
        if rest[:1] == ["watch"]:
            rest, is_watch = rest[1:], True
        namespace: str | None = None
        if rest[:1] == ["namespaces"] and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise no_route()
        resource = verbs.resource_for(group, version, rest[0])
        if resource is None or (group == FC_GROUP and not api.faults.crd_installed):
            raise no_route()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else ""
        verb = endpoints.verb_of(self.command, ["watch"] if is_watch else rest)
        self._info.update(
            verb=verb,
            resource=resource.plural,
            subresource=sub,
            namespace=namespace or "",
            name=name or "",
        )
        if verb != "watch" and sub != "log":
            self._inject(verb, resource.plural)
        self._enforce(verb, group, resource.plural, sub, namespace, name or "")
        if namespace is not None:
            api.ensure_namespace(namespace)
        target = verbs.Target(resource, namespace, name)
        if sub == "log" and resource.plural == "pods" and self.command == "GET":
            return endpoints.pod_log(self, target, query)
        if sub:
            raise no_route()  # Framework has no status subresource; nothing else is served
        if is_watch and self.command == "GET":
            if name is not None:
                query = {
                    **query,
                    "fieldSelector": ",".join(
                        filter(None, [query.get("fieldSelector"), f"metadata.name={name}"])
                    ),
                }
            verbs.matcher(resource, query)  # 400 on a bad selector before the stream starts
            rv = query.get("resourceVersion") or ""
            if rv and not rv.isdigit():
                raise ApiError(400, f"invalid resource version: {rv!r}")
            return watch(self._stream("application/json"), api, target, query)
        body: Any = None
        if raw and self.command in ("POST", "PUT", "DELETE"):
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise ApiError(400, f"couldn't decode the body: {exc}") from exc
        if self.command == "POST" and name is None:
            api.created.append((resource.plural, raw))
            reply = verbs.create(api.store, target, body, query)
        elif self.command == "GET":
            reply = verbs.get(api.store, target) if name else verbs.list_(api.store, target, query)
        elif self.command == "PUT" and name:
            reply = verbs.replace(api.store, target, body, query)
        elif self.command == "PATCH" and name:
            reply = verbs.patch(api.store, target, raw, self.headers.get("Content-Type", ""))
        elif self.command == "DELETE":
            reply = (
                verbs.delete(api.store, target, body, query)
                if name
                else verbs.delete_collection(api.store, target, body, query)
            )
        else:
            raise ApiError(405, f"{self.command} is not supported here", reason="MethodNotAllowed")
        headers = (
            {"Warning": ", ".join(f'299 - "{w}"' for w in reply.warnings)}
            if reply.warnings
            else None
        )
        return self._send(reply.code, reply.body, headers)
