"""Which stored objects were written or removed since a consumer last looked.

Why: the kubelet and the FrameworkController are woken by every write, and scanning every pod
and Framework on each pass cost most of the simulator's CPU at a few thousand Frameworks. The
store adds the key of each object it writes or removes to every feed of that kind, and a sync
pass drains its feed (under the store's lock) to look only at what may have moved.
"""

from __future__ import annotations

Key = tuple[str, str, str]  # (plural, namespace, name)


class ChangeFeed:
    """Keys of the given kinds touched since the last `drain()`; the store's lock guards it."""

    def __init__(self, plurals: frozenset[str]) -> None:
        self.plurals = plurals
        self._keys: set[Key] = set()

    def touch(self, key: Key) -> None:
        if key[0] in self.plurals:
            self._keys.add(key)

    def drain(self) -> set[Key]:
        keys, self._keys = self._keys, set()
        return keys
