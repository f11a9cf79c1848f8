"""Issue 17: which Key Vault URLs nnifc signs in to, and the `{vault}`/`{account}` templates.

The storage key is read in this process from the Azure stand-in with the real SDKs; the
hostile-challenge runs of `nnifc create` are in test_azure_e2e.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from nnifc.errors import StorageError
from nnifc.storage.azure_options import AzureOptions
from nnifc.storage.azurefile import AzureFileStorage

if TYPE_CHECKING:
    from tests.azurestandin import AzureStandin

pytest_plugins = ["tests.azurestandin.fixture"]


@pytest.fixture
def public_hosts(
    azure_standin: AzureStandin, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AzureStandin]:
    """The production host names answered by the stand-in (through its proxy)."""
    for key, value in azure_standin.env(public_hosts=True).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    for name in ("NNIFC_KEYVAULT_ENDPOINT", "NNIFC_AZURE_FILE_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    azure_standin.set_secret("storage-key", azure_standin.account_key)
    yield azure_standin


def storage(
    azure: AzureStandin, vault_endpoint: str | None = None, file_endpoint: str | None = None
) -> AzureFileStorage:
    key_vault: dict[str, Any] = {"vaultName": "nnivault", "name": "storage-key"}
    azure_storage: dict[str, Any] = {"accountName": azure.account_name, "azureShare": "nnishare"}
    if vault_endpoint is not None:
        key_vault["endpoint"] = vault_endpoint
    if file_endpoint is not None:
        azure_storage["endpoint"] = file_endpoint
    config = AzureOptions.model_validate({"keyVault": key_vault, "azureStorage": azure_storage})
    return AzureFileStorage(config)


def test_a_sovereign_cloud_vault_is_read_with_the_challenge_checked(
    public_hosts: AzureStandin,
) -> None:
    assert storage(public_hosts, "https://{vault}.vault.azure.cn").key == public_hosts.account_key
    assert public_hosts.issued_tokens() == ["https://vault.azure.cn"]
    assert {r.host for r in public_hosts.requests("vault")} == {"nnivault.vault.azure.cn"}


def test_the_env_endpoint_on_loopback_is_honoured(
    public_hosts: AzureStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NNIFC_KEYVAULT_ENDPOINT", public_hosts.vault_url)
    assert storage(public_hosts).key == public_hosts.account_key
    assert [r.status for r in public_hosts.requests("vault")] == [401, 200]


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://vault.attacker.example",
        "https://nnivault.vault.azure.net.attacker.example",
        "http://127.0.0.1:9",  # loopback, but a token would go in clear text
        "https://{vault}.vault.azure.net/secrets",
    ],
)
def test_an_env_endpoint_that_is_no_vault_gets_no_request(
    public_hosts: AzureStandin, monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    monkeypatch.setenv("NNIFC_KEYVAULT_ENDPOINT", endpoint)
    with pytest.raises(StorageError, match=r"^NNIFC_KEYVAULT_ENDPOINT .* is not used: "):
        _ = storage(public_hosts).key
    assert public_hosts.requests() == []
    assert public_hosts.issued_tokens() == []


def test_other_braces_in_env_templates_are_no_key_error(
    public_hosts: AzureStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NNIFC_KEYVAULT_ENDPOINT", "https://{foo}/")
    monkeypatch.setenv("NNIFC_AZURE_FILE_ENDPOINT", "http://127.0.0.1:9/{account}/{0}")
    made = storage(public_hosts)
    assert made.file_url == f"http://127.0.0.1:9/{public_hosts.account_name}/{{0}}"
    with pytest.raises(StorageError, match=r"^NNIFC_KEYVAULT_ENDPOINT https://\{foo\}/ is not"):
        _ = made.key
    assert public_hosts.requests() == []


def test_the_config_endpoint_takes_the_vault_name_only_in_braces(
    public_hosts: AzureStandin,
) -> None:
    made = storage(
        public_hosts, "https://{vault}.vault.usgovcloudapi.net", "https://{account}.file.example"
    )
    assert made.vault_url == "https://nnivault.vault.usgovcloudapi.net"
    assert made.file_url == f"https://{public_hosts.account_name}.file.example"
