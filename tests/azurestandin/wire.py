"""The request and reply shapes every service module works on, and Azure's error bodies.

Why: keeping the HTTP plumbing out of the service modules lets each of them read like the
REST reference it imitates.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape


@dataclass
class Request:
    method: str
    scheme: str
    host: str  # the Host header as sent, with the port if any
    raw_path: str  # still percent-encoded, exactly as on the request line
    query: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str, default: str = "") -> str:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return default

    def params(self) -> dict[str, str]:
        return {k.lower(): v for k, v in parse_qsl(self.query, keep_blank_values=True)}


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error_code: str = ""


def http_date(timestamp: float | None = None) -> str:
    return formatdate(timestamp, usegmt=True)


def storage_error(status: int, code: str, message: str, detail: str = "") -> Reply:
    """Azure Storage's XML error body plus the x-ms-error-code header the SDK maps from."""
    request_id = str(uuid.uuid4())
    text = f"{message}\nRequestId:{request_id}\nTime:{http_date()}"
    extra = (
        f"<AuthenticationErrorDetail>{escape(detail)}</AuthenticationErrorDetail>" if detail else ""
    )
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{escape(text)}</Message>{extra}</Error>"
    ).encode()
    headers = {
        "Content-Type": "application/xml",
        "x-ms-error-code": code,
        "x-ms-request-id": request_id,
    }
    return Reply(status, body, headers, code)


def json_reply(status: int, payload: object, code: str = "", **headers: str) -> Reply:
    body = json.dumps(payload).encode()
    return Reply(status, body, {"Content-Type": "application/json; charset=utf-8", **headers}, code)
