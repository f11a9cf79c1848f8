"""The platforms a config can name with `trainingServicePlatform`: one file and one entry each.

The registry imports a platform's module on first lookup, so commands that never start one
(`nnifc status`, `logs`) do not pay for loading the Kubernetes client.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from nnifc.platforms.base import Platform, Reader

_MODULES = {
    "local": ("nnifc.platforms.local", "LocalPlatform"),
    "frameworkcontroller": ("nnifc.platforms.frameworkcontroller", "FrameworkControllerPlatform"),
}


class _Registry(Mapping[str, type[Platform]]):
    def __getitem__(self, name: str) -> type[Platform]:
        module, cls = _MODULES[name]
        platform: type[Platform] = getattr(importlib.import_module(module), cls)
        return platform

    def __iter__(self) -> Iterator[str]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


PLATFORMS: Mapping[str, type[Platform]] = _Registry()

__all__ = ["PLATFORMS", "Platform", "Reader"]
