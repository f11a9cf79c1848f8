"""What an azureStorage experiment writes in frameworkcontrollerConfig, and the checks on it.

Apart from azurefile.py so that checking a config loads no Azure SDK. The vault URL gets the
strictest check: a token for the vault goes to that host, so only Key Vault's own DNS suffixes
are accepted.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Annotated, ClassVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from nnifc.experiment import Model, Text
from nnifc.storage.base import StorageOptions

AZURE_NAME = r"^[0-9a-zA-Z-]{%d,%d}$"
# learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates (DNS suffixes)
KEY_VAULT_SUFFIXES = (
    ".vault.azure.net",
    ".vault.azure.cn",
    ".vault.usgovcloudapi.net",
    ".vault.microsoftazure.de",
)


def fill_template(template: str, placeholder: str, value: str) -> str:
    """`template` with `{placeholder}` replaced; other braces are a mistake (ValueError)."""
    filled = template.replace(f"{{{placeholder}}}", value)
    if "{" in filled or "}" in filled:
        raise ValueError(
            f"only {{{placeholder}}} may be written in braces, got {json.dumps(template)}"
        )
    return filled


def key_vault_url_problem(url: str, *, loopback: bool = False) -> str | None:
    """Why `url` is not the https base URL of a Key Vault in a known cloud (None: it is).

    A token for the vault goes to this host, so only Key Vault's own DNS suffixes are
    accepted, plus, with `loopback`, an https URL on this machine.
    """
    shown = json.dumps(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"is not a URL, got {shown}"
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() != "https":
        return f"must be an https:// URL, got {shown}"
    if parts.username is not None or parts.password is not None:
        return f"must not hold a user name or password, got {shown}"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return f"must be the vault's URL, without a path, got {shown}"
    if loopback and _is_loopback(host):
        return None
    if not any(
        host.endswith(suffix) and re.fullmatch(r"[0-9a-z-]+", host.removesuffix(suffix))
        for suffix in KEY_VAULT_SUFFIXES
    ):
        return (
            f"must be a Key Vault URL: a host under {', '.join(KEY_VAULT_SUFFIXES[:-1])} "
            f"or {KEY_VAULT_SUFFIXES[-1]}, like https://{{vault}}.vault.azure.net, got {shown}"
        )
    if port not in (None, 443):
        return f"must not name a port other than 443, got {shown}"
    return None


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _vault_endpoint(value: str) -> str:
    problem = key_vault_url_problem(fill_template(value, "vault", "vault"))
    if problem:
        raise ValueError(problem)
    return value


def _file_endpoint(value: str) -> str:
    fill_template(value, "account", "account")
    return value


class KeyVault(Model):
    vault_name: Annotated[str, Field(pattern=AZURE_NAME % (1, 127))]
    name: Annotated[str, Field(pattern=AZURE_NAME % (1, 127))]
    # nnifc: the vault URL, for sovereign clouds (default https://{vault}.vault.azure.net)
    endpoint: Annotated[Text, AfterValidator(_vault_endpoint)] | None = None


class AzureStorage(Model):
    account_name: Annotated[str, Field(pattern=AZURE_NAME % (3, 31))]
    azure_share: Annotated[str, Field(pattern=AZURE_NAME % (3, 63))]
    # nnifc: the file service URL (default https://{account}.file.core.windows.net)
    endpoint: Annotated[Text, AfterValidator(_file_endpoint)] | None = None


class AzureOptions(StorageOptions):
    required: ClassVar[str] = "keyVault and azureStorage blocks are required"
    present: ClassVar[str] = "keyVault/azureStorage are set"
    v2_keys: ClassVar[dict[str, tuple[str, ...]]] = {
        "azureAccount": ("azureStorage", "accountName"),
        "azureShare": ("azureStorage", "azureShare"),
        "keyVaultName": ("keyVault", "vaultName"),
        "keyVaultKey": ("keyVault", "name"),
        "keyVaultEndpoint": ("keyVault", "endpoint"),  # nnifc's, for sovereign clouds and tests
        "azureEndpoint": ("azureStorage", "endpoint"),  # nnifc's
    }
    v2_required: ClassVar[tuple[str, ...]] = (
        "azureAccount",
        "azureShare",
        "keyVaultName",
        "keyVaultKey",
    )

    key_vault: KeyVault
    azure_storage: AzureStorage
