"""Storage SharedKey verification, written from the REST spec rather than from the SDK.

Why: the launcher must really sign its Azure Files requests; a stand-in that accepts anything
would let a broken credential path pass. The rules (Authorize with Shared Key, version
2009-09-19 and later) are: VERB, eleven standard headers (Content-Length blank when 0), the
canonicalized ``x-ms-*`` headers, then ``/account`` + the encoded URL path and the query
parameters, lower-cased, sorted, URL-decoded, multiple values comma-joined.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl

STANDARD_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)
_SPACES = re.compile(r"\s+")


def _header_order(name: str) -> tuple[str, int, str]:
    """The service compares names as a culture-aware sort that ignores hyphens first."""
    return (name.replace("-", ""), name.count("-"), name)


def string_to_sign(
    method: str, headers: Iterable[tuple[str, str]], raw_path: str, query: str, account: str
) -> str:
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(_SPACES.sub(" ", value.strip()))
    standard = []
    for name in STANDARD_HEADERS:
        value = ",".join(values.get(name, []))
        if name == "content-length" and value == "0":
            value = ""
        standard.append(value)
    x_ms = sorted((n for n in values if n.startswith("x-ms-")), key=_header_order)
    canonical_headers = "".join(f"{n}:{','.join(values[n])}\n" for n in x_ms)
    params: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        params.setdefault(name.lower(), []).append(value)
    canonical_query = "".join(f"\n{n}:{','.join(sorted(params[n]))}" for n in sorted(params))
    return (
        method.upper()
        + "\n"
        + "\n".join(standard)
        + "\n"
        + canonical_headers
        + f"/{account}{raw_path}"
        + canonical_query
    )


def sign(key: str, text: str) -> str:
    digest = hmac.new(base64.b64decode(key), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(authorization: str, account: str, key: str, text: str) -> bool:
    """True when ``Authorization: SharedKey account:signature`` matches ``text`` under ``key``."""
    scheme, _, credential = authorization.partition(" ")
    name, _, signature = credential.strip().partition(":")
    if scheme != "SharedKey" or name != account:
        return False
    try:
        expected = sign(key, text)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(expected, signature)
