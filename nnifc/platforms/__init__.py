"""The platforms a config can name with `trainingServicePlatform`: one file and one entry each."""

from __future__ import annotations

from nnifc.platforms.base import Platform, Reader
from nnifc.platforms.frameworkcontroller import FrameworkControllerPlatform
from nnifc.platforms.local import LocalPlatform

PLATFORMS: dict[str, type[Platform]] = {
    p.name: p for p in (LocalPlatform, FrameworkControllerPlatform)
}

__all__ = ["PLATFORMS", "Platform", "Reader"]
