"""Runtime switches for fault injection, and the log of every request the double answered.

Why: the launcher's retry, back-off and watch-resume code only runs when the API misbehaves.
Tests flip these switches while the launcher runs (all methods are thread-safe) and then
assert on what was actually sent, e.g. "no more than 3 list calls" or "it retried after 429".
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

Rule = tuple[str, str, str, str, str]  # (verb, group, resource, subresource, namespace); "*" = any


@dataclass
class _Pending:
    remaining: int
    code: int
    verb: str | None
    resource: str | None


class Faults:
    """Switches read by the API server on every request."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._pending: list[_Pending] = []
        self._drop_generation = 0
        self.error_rate = 0.0  # fraction of non-watch, non-log requests answered 500 or 429
        self.latency = 0.0  # seconds added before answering each request
        self.drop_watches_every: float | None = None  # close watch streams after this many s
        self.crd_installed = True  # False: the Framework CRD (and its endpoints) are absent
        self.bookmark_interval = 1.0  # seconds between BOOKMARK events when they are allowed
        self.denied: set[Rule] = set()  # answered allowed=false by SelfSubjectAccessReview
        self.enforce_denied = False  # also answer 403 to real requests matching `denied`
        self.clock_offset = 0.0  # seconds the server's Date header is ahead of real time
        self._expire: Callable[[], None] | None = None  # set by the API server

    def expire_history(self) -> None:
        """Watches resuming from any resourceVersion older than the current one get 410."""
        if self._expire is not None:
            self._expire()

    def seed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)

    def fail_next(
        self, n: int, code: int = 500, *, verb: str | None = None, resource: str | None = None
    ) -> None:
        """Answer the next `n` matching non-watch, non-log requests with `code`."""
        with self._lock:
            self._pending.append(_Pending(n, code, verb, resource))

    def deny(
        self,
        verb: str,
        resource: str,
        *,
        group: str = "*",
        subresource: str = "*",
        namespace: str = "*",
    ) -> None:
        with self._lock:
            self.denied.add((verb, group, resource, subresource, namespace))

    def is_denied(
        self, verb: str, group: str, resource: str, subresource: str, namespace: str
    ) -> bool:
        asked = (verb, group, resource, subresource, namespace)
        with self._lock:
            rules = list(self.denied)
        return any(all(r in ("*", a) for r, a in zip(rule, asked, strict=True)) for rule in rules)

    def drop_watches(self) -> None:
        """Abruptly close every watch stream open right now."""
        with self._lock:
            self._drop_generation += 1

    @property
    def drop_generation(self) -> int:
        with self._lock:
            return self._drop_generation

    def pick_failure(self, verb: str, resource: str) -> int | None:
        """The injected HTTP code for this request, if any (consumes `fail_next` budget)."""
        with self._lock:
            for pending in self._pending:
                if pending.verb not in (None, verb) or pending.resource not in (None, resource):
                    continue
                pending.remaining -= 1
                if pending.remaining <= 0:
                    self._pending.remove(pending)
                return pending.code
            if self.error_rate and self._rng.random() < self.error_rate:
                return 429 if self._rng.random() < 0.5 else 500
        return None


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    status: int
    time: float
    verb: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    duration: float = 0.0


@dataclass
class RequestLog:
    """Every request answered, in order of completion (watches and log follows when they end)."""

    _items: list[Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, request: Request) -> None:
        with self._lock:
            self._items.append(request)

    def all(self) -> list[Request]:
        with self._lock:
            return list(self._items)

    def __iter__(self) -> Iterator[Request]:
        return iter(self.all())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def count(
        self,
        verb: str | None = None,
        resource: str | None = None,
        *,
        status: int | None = None,
        method: str | None = None,
    ) -> int:
        return len(self.select(verb, resource, status=status, method=method))

    def select(
        self,
        verb: str | None = None,
        resource: str | None = None,
        *,
        status: int | None = None,
        method: str | None = None,
    ) -> list[Request]:
        """Requests matching all given filters; `resource` may be "pods/log" for a subresource."""
        out = []
        for r in self.all():
            full = f"{r.resource}/{r.subresource}" if r.subresource else r.resource
            if verb is not None and r.verb != verb:
                continue
            if resource is not None and resource not in (
                full,
                r.resource if "/" not in resource else full,
            ):
                continue
            if status is not None and r.status != status:
                continue
            if method is not None and r.method != method.upper():
                continue
            out.append(r)
        return out

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
