"""The storages `frameworkcontrollerConfig.storage` can name: one file and one entry each."""

from __future__ import annotations

from nnifc.storage.azurefile import AzureFileStorage
from nnifc.storage.base import CodeFile, Storage
from nnifc.storage.nfs import NfsStorage

STORAGES: dict[str, type[Storage]] = {s.kind: s for s in (NfsStorage, AzureFileStorage)}

__all__ = ["STORAGES", "CodeFile", "Storage"]
