"""Each storage built against its test peer, in one place.

Why: the contract suite runs the same cases on every storage, and the storages' constructors
are about to change; only this module knows how one is made. Each function returns the storage
and the directory on this machine that *is* the share (the ganesha export, the stand-in's share
directory), where tests play the pods: they write, append and chmod there directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from nnifc.storage.azure_options import AzureOptions
from nnifc.storage.azurefile import AzureFileStorage
from nnifc.storage.nfs import NfsOptions, NfsStorage

if TYPE_CHECKING:
    from tests.azurestandin import AzureStandin
    from tests.ganesha import Ganesha

AZURE_SHARE = "nnishare"
AZURE_SECRET = "storage-key"


def nfs_storage(server: Ganesha) -> tuple[NfsStorage, Path]:
    """An NfsStorage of `server`'s export (its port comes from the `nfs_server` fixture's env)."""
    nfs = {"server": server.server, "path": server.path}
    storage = NfsStorage(NfsOptions.model_validate({"nfs": nfs}))
    storage.operation_timeout = 3  # a call on a connection the server dropped hangs this long
    storage.backoff = 0.1
    return storage, server.local_dir


def azure_storage(
    standin: AzureStandin, monkeypatch: pytest.MonkeyPatch
) -> tuple[AzureFileStorage, Path]:
    """An AzureFileStorage of the stand-in's share, its key in the stand-in's Key Vault.

    The share is created (by `check`), so the directory returned exists.
    """
    for key, value in standin.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    # a loopback vault is only honoured from the environment (issue 17)
    monkeypatch.setenv("NNIFC_KEYVAULT_ENDPOINT", standin.vault_url)
    standin.set_secret(AZURE_SECRET, standin.account_key)
    options = AzureOptions.model_validate(
        {
            "keyVault": {"vaultName": "nnivault", "name": AZURE_SECRET},
            "azureStorage": {
                "accountName": standin.account_name,
                "azureShare": AZURE_SHARE,
                "endpoint": standin.file_endpoint,
            },
        }
    )
    storage = AzureFileStorage(options)
    storage.check()
    return storage, standin.share_dir(AZURE_SHARE)
