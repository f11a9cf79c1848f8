"""Which Frameworks FrameworkController must act on: those whose inputs moved since it last did.

Why: a Framework's next step depends only on it, its ConfigMap and its pods. Scanning every
Framework on each pass (the simulator is woken by every write) and reading those versions cost
most of the simulator's CPU at a few thousand Frameworks. So the store's change feed says which
keys were written, an index maps a ConfigMap or pod key to the Frameworks whose status names it,
and only those Frameworks are compared with the resourceVersions last acted on.
"""

from __future__ import annotations

from typing import Any

from .objects import Key
from .store import Store

Obj = dict[str, Any]
FwKey = tuple[str, str]  # (namespace, name)


class FrameworkQueue:
    """`take()` the live Frameworks whose versions moved, in key order; used by one thread."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._looked: dict[FwKey, tuple[str | None, ...]] = {}  # the RVs last acted on
        self._feed = store.feed("frameworks", "configmaps", "pods")
        self._deps: dict[FwKey, tuple[Key, ...]] = {}  # the ConfigMap and pods each one names
        self._dependents: dict[Key, set[FwKey]] = {}  # the reverse of _deps

    def _versions(self, key: FwKey, fw: Obj) -> tuple[str | None, ...]:
        """RVs of the Framework, its ConfigMap and its pods: what its next step depends on.

        Also records those objects' keys as the Framework's dependencies.
        """
        ns = key[0]
        att = (fw.get("status") or {}).get("attemptStatus") or {}
        deps = (
            ("configmaps", ns, att.get("configMapName") or ""),
            *(
                ("pods", ns, task["attemptStatus"]["podName"])
                for role in att.get("taskRoleStatuses") or []
                for task in role["taskStatuses"]
            ),
        )
        self._depend(key, deps)
        return (fw["metadata"].get("resourceVersion"), *(self.store.version(*d) for d in deps))

    def _depend(self, key: FwKey, deps: tuple[Key, ...]) -> None:
        old = self._deps.pop(key, ())
        if old == deps:
            self._deps[key] = deps
            return
        for dep in old:
            dependents = self._dependents.get(dep)
            if dependents is not None:
                dependents.discard(key)
                if not dependents:
                    del self._dependents[dep]
        if deps:
            self._deps[key] = deps
            for dep in deps:
                self._dependents.setdefault(dep, set()).add(key)

    def take(self) -> list[Obj]:
        """The live Frameworks whose versions moved since the last pass, in key order.

        Only a Framework whose key or a dependency's key was touched can have moved; the others
        keep their entry in `_looked` (still live, versions unchanged).
        """
        with self.store.cond:
            keys: set[FwKey] = set()
            for plural, ns, name in self._feed.drain():
                if plural == "frameworks":
                    keys.add((ns, name))
                else:
                    keys |= self._dependents.get((plural, ns, name), set())
            frameworks = []
            for key in sorted(keys):
                fw = self.store.peek("frameworks", *key)
                meta = (fw or {}).get("metadata") or {}
                if (
                    fw is None
                    or meta.get("deletionTimestamp")
                    or (fw.get("status") or {}).get("state") == "Completed"
                ):
                    self._looked.pop(key, None)
                    self._depend(key, ())
                    continue
                versions = self._versions(key, fw)
                if self._looked.get(key) != versions:
                    self._looked[key] = versions
                    frameworks.append(fw)
            return frameworks

    def retry(self, frameworks: list[Obj]) -> None:
        """Offer these again on the next `take()` (acting on them failed)."""
        with self.store.cond:
            for fw in frameworks:
                meta = fw["metadata"]
                self._looked.pop((meta["namespace"], meta["name"]), None)
                self._feed.touch(("frameworks", meta["namespace"], meta["name"]))
