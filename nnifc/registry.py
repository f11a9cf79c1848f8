"""A registry whose entries are imported on first lookup.

Why: a platform or a storage pulls in a heavy client (Kubernetes, the Azure SDK); a command that
never uses one should not pay for loading it, and an NFS experiment never loads Azure's.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class LazyRegistry(Mapping[str, T], Generic[T]):
    def __init__(self, entries: dict[str, tuple[str, str]]) -> None:
        """`entries`: name -> (module, attribute)."""
        self._entries = entries

    def __getitem__(self, name: str) -> T:
        module, attribute = self._entries[name]
        found: T = getattr(importlib.import_module(module), attribute)
        return found

    def register(self, name: str, module: str, attribute: str) -> None:
        """Add (or replace) an entry: a plug-in outside nnifc's own registry lines."""
        self._entries[name] = (module, attribute)

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
