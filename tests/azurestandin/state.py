"""Run-time switches, the request log and byte counters, shared by every server thread.

Why: tests flip faults while the launcher (often a child process) is mid-flight, and assert on
what actually went over the wire afterwards; every member is guarded by one lock.
"""

from __future__ import annotations

import base64
import random
import secrets
import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the stand-in saw it; the Authorization value is never kept."""

    service: str  # "files", "vault", "aad" or "proxy"
    method: str
    host: str
    path: str
    query: str
    status: int
    headers: dict[str, str]
    body_len: int
    error_code: str = ""


def new_account_key() -> str:
    return base64.b64encode(secrets.token_bytes(64)).decode("ascii")


@dataclass
class Control:
    """Faults and observations. Attributes may be set directly; methods are thread-safe."""

    account_key: str = field(default_factory=new_account_key)
    error_rate: float = 0.0
    deny_vault: bool = False
    share_creatable: bool = True
    bytes_uploaded: int = 0
    bytes_downloaded: int = 0
    seed: int = 0
    _throttle: list[tuple[int, int]] = field(default_factory=list)
    _log: list[LoggedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _random: random.Random = field(default_factory=random.Random)

    def throttle_next(self, n: int, status: int = 503, retry_after: int = 1) -> None:
        """The next ``n`` Azure Files requests get ``status`` (503 ServerBusy or 429)."""
        if status not in (429, 503):
            raise ValueError("throttle status must be 429 or 503")
        with self._lock:
            self._throttle.extend([(status, retry_after)] * n)

    def rotate_account_key(self) -> str:
        """Replace the account key; requests signed with the old one then get 403."""
        with self._lock:
            self.account_key = new_account_key()
            return self.account_key

    def file_fault(self) -> tuple[int, int] | None:
        """(status, retry_after) for a fault to inject into this Files request, if any."""
        with self._lock:
            if self._throttle:
                return self._throttle.pop(0)
            if self.error_rate > 0 and self._random.random() < self.error_rate:
                return (500, 0)
        return None

    def count(self, uploaded: int = 0, downloaded: int = 0) -> None:
        with self._lock:
            self.bytes_uploaded += uploaded
            self.bytes_downloaded += downloaded

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._log.append(entry)

    def requests(self, service: str | None = None) -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self._log if service is None or r.service == service]

    def reset(self) -> None:
        """Clear faults, the log and the counters (the account key stays)."""
        with self._lock:
            self._throttle.clear()
            self._log.clear()
            self.error_rate = 0.0
            self.deny_vault = False
            self.share_creatable = True
            self.bytes_uploaded = self.bytes_downloaded = 0
            self._random.seed(self.seed)
