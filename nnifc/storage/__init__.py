"""The storages `frameworkcontrollerConfig.storage` can name: one file and one entry each.

Imported on first lookup: an NFS experiment never loads the Azure SDK.
"""

from __future__ import annotations

from typing import Any

from nnifc.registry import LazyRegistry
from nnifc.storage.base import CodeFile, Storage, StorageOptions

STORAGES: LazyRegistry[type[Storage[Any]]] = LazyRegistry(
    {
        "nfs": ("nnifc.storage.nfs", "NfsStorage"),
        "azureStorage": ("nnifc.storage.azurefile", "AzureFileStorage"),
    }
)

__all__ = ["STORAGES", "CodeFile", "Storage", "StorageOptions"]
