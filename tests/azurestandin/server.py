"""The stand-in's two listeners: plain http (Files + CONNECT proxy) and https (everything).

Why: the SDKs must run unmodified, so the stand-in speaks HTTP/1.1 on 127.0.0.1. Requests are
routed by Host: a path-style ``/<account>/...`` on 127.0.0.1 is Files, ``/secrets/...`` is Key
Vault, anything else is Entra ID. Through the CONNECT proxy the public host names
(``login.microsoftonline.com``, ``*.file.core.windows.net``, ``*.vault.azure.net`` and the
sovereign clouds' vault hosts) are answered locally as well; the proxy never dials out.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .files import FileService
from .identity import PUBLIC_AUTHORITY, Identity
from .state import Control, LoggedRequest
from .wire import Reply, Request, http_date, storage_error

# Key Vault's host suffixes in the public and sovereign clouds (nnifc accepts these)
VAULT_SUFFIXES = (
    ".vault.azure.net",
    ".vault.azure.cn",
    ".vault.usgovcloudapi.net",
    ".vault.microsoftazure.de",
)
PROXIED_SUFFIXES = (*VAULT_SUFFIXES, ".file.core.windows.net")


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        files: FileService,
        identity: Identity,
        control: Control,
        tls: ssl.SSLContext,
        secure: bool,
    ) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.files = files
        self.identity = identity
        self.control = control
        self.tls = tls
        self.secure = secure
        if secure:
            self.socket = tls.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    @property
    def port(self) -> int:
        port: int = self.server_address[1]
        return port

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-request are routine (retries, timeouts)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StandinServer
    scheme = "http"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.scheme = "https"
            self.request.do_handshake()
        super().setup()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        url = urlsplit(self.path)
        req = Request(
            method=self.command,
            scheme=self.scheme,
            host=self.headers.get("Host", ""),
            raw_path=url.path,
            query=url.query,
            headers=list(self.headers.items()),
            body=self._read_body(),
        )
        service, reply = self._dispatch(req)
        if self.command == "HEAD":
            reply.headers.setdefault("Content-Length", str(len(reply.body)))
            reply.body = b""
        headers = {k: v for k, v in req.headers if k.lower() != "authorization"}
        if req.header("Authorization"):
            headers["Authorization"] = req.header("Authorization").split(" ")[0]
        # logged before the reply: a client that has its answer finds its request in the log
        self.server.control.record(
            LoggedRequest(
                service,
                req.method,
                req.host,
                req.raw_path,
                req.query,
                reply.status,
                headers,
                len(req.body),
                reply.error_code,
            )
        )
        self._send(reply)

    def _dispatch(self, req: Request) -> tuple[str, Reply]:
        srv = self.server
        hostname = req.host.rsplit(":", 1)[0] if not req.host.endswith("]") else req.host
        segments = req.raw_path.split("/", 2)
        if hostname.endswith(".file.core.windows.net"):
            if hostname.split(".")[0] != srv.files.account:
                return "files", storage_error(400, "InvalidUri", "Unknown storage account.")
            return "files", srv.files.handle(req, req.raw_path)
        if hostname.endswith(VAULT_SUFFIXES):
            return "vault", self._vault(req, f"https://{PUBLIC_AUTHORITY}")
        if hostname == PUBLIC_AUTHORITY:
            return "aad", self._https_only(req) or srv.identity.handle_aad(req)
        if len(segments) > 1 and segments[1] == srv.files.account:
            return "files", srv.files.handle(req, "/" + (segments[2] if len(segments) > 2 else ""))
        if req.raw_path.startswith("/secrets/"):
            return "vault", self._vault(req, srv.identity.authority_host)
        return "aad", self._https_only(req) or srv.identity.handle_aad(req)

    def _https_only(self, req: Request) -> Reply | None:
        if req.scheme == "https":
            return None
        return Reply(400, b"https is required", {"Content-Type": "text/plain"})

    def _vault(self, req: Request, authority: str) -> Reply:
        return self._https_only(req) or self.server.identity.handle_vault(req, authority)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        headers = {
            "Date": http_date(),
            "Server": "azurestandin",
            "Content-Length": str(len(reply.body)),
            **reply.headers,
        }
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if reply.body:
            self.wfile.write(reply.body)

    def do_CONNECT(self) -> None:
        host, _, port = self.path.rpartition(":")
        allowed = host == PUBLIC_AUTHORITY or host.endswith(PROXIED_SUFFIXES)
        if not allowed or port != "443":
            self.send_response(403, "the stand-in proxy only answers Azure hosts")
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.server.control.record(
                LoggedRequest("proxy", "CONNECT", host, self.path, "", 403, {}, 0)
            )
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        self.server.control.record(
            LoggedRequest("proxy", "CONNECT", host, self.path, "", 200, {}, 0)
        )
        try:
            tunnel = self.server.tls.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            self.close_connection = True
            return
        try:
            Handler(tunnel, self.client_address, self.server)
        finally:
            self.close_connection = True
            tunnel.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _serve


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def serve(server: StandinServer) -> threading.Thread:
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.start()
    return thread
