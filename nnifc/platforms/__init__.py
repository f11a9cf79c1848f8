"""The platforms a config can name with `trainingServicePlatform`: one file and one entry each.

Imported on first lookup, so commands that never start one (`nnifc status`, `logs`) do not pay
for loading the Kubernetes client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nnifc.platforms.base import Platform, PlatformSettings, Reader
from nnifc.registry import LazyRegistry

PLATFORMS: Mapping[str, type[Platform[Any]]] = LazyRegistry(
    {
        "local": ("nnifc.platforms.local", "LocalPlatform"),
        "frameworkcontroller": (
            "nnifc.platforms.frameworkcontroller",
            "FrameworkControllerPlatform",
        ),
    }
)

__all__ = ["PLATFORMS", "Platform", "PlatformSettings", "Reader"]
