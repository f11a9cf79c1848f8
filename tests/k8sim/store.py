"""The object store: resourceVersions, watch history, finalizers and garbage collection.

Why: the API server double and the FrameworkController simulator must share one consistent
state, exactly as apiserver+etcd give every client and controller one ordered history. Every
write goes through here, so each one bumps the global resourceVersion, is recorded for watch
replay, wakes whoever waits on `cond`, and cascades deletions through ownerReferences the way
the garbage collector does (Foreground, Background, Orphan). The object table and its indexes
live in objects.py, the garbage collector in collector.py.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .changes import ChangeFeed
from .collector import FOREGROUND, collect, grace_seconds, is_graceful, orphan
from .errors import ApiError, already_exists, conflict, expired, not_found
from .objects import Key, Obj, ObjectIndex, clone
from .resources import RESOURCES

_last_now: tuple[int, str] = (-1, "")


def now() -> str:
    """The current UTC time to the second, as Kubernetes timestamps are (formatted once a second)."""
    global _last_now
    second = int(time.time())
    if _last_now[0] != second:
        _last_now = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
    return _last_now[1]


@dataclass(frozen=True)
class Event:
    rv: int
    plural: str
    namespace: str
    type: str
    obj: Obj
    prev: Obj | None


def _meta(obj: Obj) -> Obj:
    meta: Obj = obj.setdefault("metadata", {})
    return meta


def _shallow(obj: Obj) -> Obj:
    """A copy of the top level and metadata; the rest is shared (stored objects are not mutated)."""
    return {**obj, "metadata": dict(obj["metadata"])}


class Store(ObjectIndex):
    """Thread-safe; every public method takes the lock, returns deep copies."""

    def __init__(self, history_limit: int = 5000) -> None:
        super().__init__()
        self._lock = threading.RLock()
        self.cond = threading.Condition(self._lock)
        # Watches wait for their own kind only: a write does not wake every other watch.
        self._kind_conds: dict[str, threading.Condition] = {}
        self._kind_rv: dict[str, int] = {}  # plural -> RV of its last event
        self.history_limit = history_limit
        self._rv = 1
        self._history: deque[Event] = deque()
        self._floor = 1  # watches may resume from any RV >= floor
        self.closed = False

    # ---- reading ---------------------------------------------------------------------------

    @property
    def rv(self) -> int:
        with self.cond:
            return self._rv

    def find(self, plural: str, namespace: str, name: str) -> Obj | None:
        with self.cond:
            obj = self._objects.get((plural, namespace, name))
            return clone(obj) if obj is not None else None

    def get(self, plural: str, namespace: str, name: str) -> Obj:
        obj = self.find(plural, namespace, name)
        if obj is None:
            raise not_found(RESOURCES[plural].group, plural, name)
        return obj

    def select(
        self,
        plural: str,
        namespace: str | None,
        match: Callable[[Obj], bool] = lambda o: True,
        *,
        copy: bool = True,
    ) -> tuple[list[Obj], int]:
        """Deep copies of the objects `match` accepts; `match` sees the stored object (read it only).

        Without `copy`, the stored objects themselves (read them only, e.g. to encode them).
        """
        with self.cond:
            items = []
            for key in sorted(self._kinds.get(plural, ())):
                obj = self._objects[key]
                if namespace in (None, key[1]) and match(obj):
                    items.append(clone(obj) if copy else obj)
            return items, self._rv

    def scan(self, plural: str, match: Callable[[Obj], bool] = lambda o: True) -> list[Obj]:
        """The stored objects `match` accepts, in all namespaces, not copied: read them only."""
        with self.cond:
            objects = (self._objects[key] for key in sorted(self._kinds.get(plural, ())))
            return [obj for obj in objects if match(obj)]

    def peek(self, plural: str, namespace: str, name: str) -> Obj | None:
        """The stored object, not copied: read it only."""
        with self.cond:
            return self._objects.get((plural, namespace, name))

    def version(self, plural: str, namespace: str, name: str) -> str | None:
        """The object's resourceVersion (None: absent), without copying it."""
        with self.cond:
            obj = self._objects.get((plural, namespace, name))
            return None if obj is None else str(obj["metadata"].get("resourceVersion"))

    def dependents(self, uid: str) -> list[Obj]:
        with self.cond:
            return [clone(self._objects[key]) for key in self._owned_keys(uid)]

    def feed(self, *plurals: str) -> ChangeFeed:
        """A feed of the keys of these kinds written or removed (drain it under `cond`); the
        objects already stored count as just written."""
        with self.cond:
            feed = ChangeFeed(frozenset(plurals))
            for plural in plurals:
                for key in self._kinds.get(plural, ()):
                    feed.touch(key)
            self._feeds.append(feed)
            return feed

    # ---- events ----------------------------------------------------------------------------

    def _emit(self, plural: str, kind: str, obj: Obj, prev: Obj | None) -> None:
        # Stored objects are never mutated once committed, so history can share them.
        self._history.append(
            Event(self._rv, plural, obj["metadata"].get("namespace", ""), kind, obj, prev)
        )
        while len(self._history) > self.history_limit:
            self._floor = self._history.popleft().rv
        self.cond.notify_all()
        self._kind_rv[plural] = self._rv
        if plural in self._kind_conds:
            self._kind_conds[plural].notify_all()

    def events_after(self, rv: int) -> tuple[list[Event], int]:
        """Events above `rv` and the current RV; 410 Expired when they are no longer kept."""
        with self.cond:
            if rv < self._floor:
                raise expired(rv, self._floor)
            newer: list[Event] = []
            for event in reversed(self._history):  # the newest are at the end: O(answer)
                if event.rv <= rv:
                    break
                newer.append(event)
            newer.reverse()
            return newer, max(rv, self._rv)

    def expire_history(self) -> None:
        """Forget every past event, as after etcd compaction: resuming from an older RV gets 410."""
        with self.cond:
            self._history.clear()
            self._floor = self._rv
            self._notify_everyone()

    def wait(self, after_rv: int, timeout: float, plural: str | None = None) -> int:
        """Block until the store (with `plural`: an event of that kind) moves past `after_rv`,
        or timeout/close; return the current RV."""
        with self.cond:
            if plural is None:
                self.cond.wait_for(lambda: self._rv > after_rv or self.closed, timeout)
            else:
                if plural not in self._kind_conds:
                    self._kind_conds[plural] = threading.Condition(self._lock)
                cond = self._kind_conds[plural]
                cond.wait_for(
                    lambda: self._kind_rv.get(plural, 0) > after_rv or self.closed, timeout
                )
            return self._rv

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self._notify_everyone()

    def _notify_everyone(self) -> None:
        self.cond.notify_all()
        for cond in self._kind_conds.values():
            cond.notify_all()

    # ---- writing ---------------------------------------------------------------------------

    def _commit(self, plural: str, obj: Obj, prev: Obj | None) -> Obj:
        """Store `obj` (a private copy, never mutated afterwards) and return it."""
        self._rv += 1
        meta = _meta(obj)
        meta["resourceVersion"] = str(self._rv)
        key = (plural, meta.get("namespace", ""), meta["name"])
        self._put(key, obj)
        self._emit(plural, "ADDED" if prev is None else "MODIFIED", obj, prev)
        return obj

    def create(self, plural: str, namespace: str, obj: Obj, *, view: bool = False) -> Obj:
        """Create a copy of `obj`; returns a copy of the stored result (with `view`: it, read-only)."""
        resource = RESOURCES[plural]
        obj = clone(obj)
        meta = _meta(obj)
        meta["namespace"] = namespace
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        obj = resource.validate(obj)
        meta = _meta(obj)
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(field, None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now(), generation=1)
        with self.cond:
            if (plural, namespace, meta["name"]) in self._objects:
                raise already_exists(resource.group, plural, meta["name"])
            created = self._commit(plural, obj, None)
            return created if view else clone(created)

    def _generation_changed(self, plural: str, old: Obj, new: Obj) -> bool:
        skip = {"metadata"} if RESOURCES[plural].status_in_generation else {"metadata", "status"}
        keys = (set(old) | set(new)) - skip
        return any(old.get(k) != new.get(k) for k in keys)

    def update(
        self,
        plural: str,
        namespace: str,
        name: str,
        change: Callable[[Obj], Obj],
        *,
        expect_rv: str | None = None,
        validate: bool = True,
        view: bool = False,
        shallow: bool = False,
    ) -> Obj:
        """Read-modify-write under the lock; `change` gets a private copy and returns the new body.

        Returns a copy of the stored result, or with `view` the stored object itself (read-only).
        With `shallow`, `change` gets a copy of only the top level and metadata: it may replace
        fields but must not modify the objects in them (stored objects share them).
        """
        resource = RESOURCES[plural]
        with self.cond:
            current = self._objects.get((plural, namespace, name))
            if current is None:
                raise not_found(resource.group, plural, name)
            if expect_rv is not None and expect_rv != current["metadata"]["resourceVersion"]:
                raise conflict(resource.group, plural, name)
            new = change(_shallow(current) if shallow else clone(current))
            meta = _meta(new)
            if meta.get("name", name) != name:
                raise ApiError(400, "the name of the object does not match the name on the URL")
            # Fields owned by the server survive any client update.
            for field in ("uid", "creationTimestamp", "deletionTimestamp", "namespace", "name"):
                if field in current["metadata"]:
                    meta[field] = current["metadata"][field]
                else:
                    meta.pop(field, None)
            meta["generation"] = current["metadata"].get("generation", 1)
            new["apiVersion"], new["kind"] = resource.api_version, resource.kind
            if validate:
                new = resource.validate(new)
            meta["resourceVersion"] = current["metadata"]["resourceVersion"]
            if new == current:
                return current if view else clone(current)
            if self._generation_changed(plural, current, new):
                new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
            result = self._commit(plural, new, current)
            collect(self)
            return result if view else clone(result)

    def delete(
        self,
        plural: str,
        namespace: str,
        name: str,
        *,
        propagation: str | None = None,
        grace: int | None = None,
        preconditions: Obj | None = None,
    ) -> tuple[Obj, bool]:
        """Delete as the apiserver does; returns (object, gone) where gone=False means pending."""
        resource = RESOURCES[plural]
        with self.cond:
            key = (plural, namespace, name)
            current = self._objects.get(key)
            if current is None:
                raise not_found(resource.group, plural, name)
            meta = current["metadata"]
            pre = preconditions or {}
            if pre.get("uid") not in (None, meta["uid"]) or pre.get("resourceVersion") not in (
                None,
                meta["resourceVersion"],
            ):
                raise conflict(resource.group, plural, name)
            new = _shallow(current)  # only its metadata changes
            new_meta = new["metadata"]
            finalizers = list(new_meta.get("finalizers") or [])
            if propagation == "Orphan":
                orphan(self, meta["uid"])
            if propagation == "Foreground" and FOREGROUND not in finalizers:
                finalizers.append(FOREGROUND)
            graceful = is_graceful(plural, new, grace)
            if not finalizers and not graceful:
                removed = self._remove(key)
                collect(self)
                return clone(removed), True
            if finalizers:
                new_meta["finalizers"] = finalizers
            new_meta.setdefault("deletionTimestamp", now())
            if plural == "pods":
                new_meta["deletionGracePeriodSeconds"] = grace_seconds(new, grace)
            if new != current:
                self._commit(plural, new, current)
            collect(self)
            return clone(self._objects.get(key, new)), key not in self._objects

    def _remove(self, key: Key) -> Obj:
        stored = self._pop(key)
        self._rv += 1
        obj = {**stored, "metadata": {**stored["metadata"], "resourceVersion": str(self._rv)}}
        self._emit(key[0], "DELETED", obj, obj)
        return obj
