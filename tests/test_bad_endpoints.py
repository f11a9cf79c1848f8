"""Azure endpoints in a frameworkcontroller config (issue 17), checked by nnifc/experiment.py: only
the Key Vault and Azure Files hosts of the known clouds, over https, with no other braces.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.badinput_helpers import assert_accepted, assert_one_error, base_text, dry_run, empty_home

__all__ = ["empty_home"]


AZURE_BLOCKS = """\
  storage: azureStorage
  keyVault:
    vaultName: nnivault
    name: storage-key
    endpoint: VAULT
  azureStorage:
    accountName: nniaccount
    azureShare: nnishare
    endpoint: FILES
"""
VAULT_SUFFIXES = (
    ".vault.azure.net, .vault.azure.cn, .vault.usgovcloudapi.net or .vault.microsoftazure.de"
)


def azure_text(vault: str, files: str = "https://{account}.file.core.windows.net") -> str:
    blocks = AZURE_BLOCKS.replace("VAULT", json.dumps(vault)).replace("FILES", json.dumps(files))
    nfs = "  storage: nfs\n  nfs:\n    server: 10.0.0.4\n    path: /exports/nni\n"
    return base_text("frameworkcontroller").replace(nfs, blocks)


@pytest.mark.parametrize(
    "vault",
    [
        "https://{vault}.vault.azure.net",
        "https://{vault}.vault.azure.cn/",
        "https://nnivault.vault.usgovcloudapi.net",
        "https://{vault}.VAULT.microsoftazure.de:443",
    ],
)
def test_key_vault_endpoints_of_each_cloud_are_accepted(
    vault: str, tmp_path: Path, empty_home: Path
) -> None:
    cfg = tmp_path / "exp.yml"
    cfg.write_text(azure_text(vault), encoding="utf-8")
    assert_accepted(dry_run(cfg), empty_home)


@pytest.mark.parametrize(
    ("vault", "message"),
    [
        ("https://{foo}/", 'only {vault} may be written in braces, got "https://{foo}/"'),
        ("https://{0}.vault.azure.net", "only {vault} may be written in braces"),
        ("https://{vault.vault.azure.net", "only {vault} may be written in braces"),
        ("http://{vault}.vault.azure.net", 'must be an https:// URL, got "http://'),
        (
            "https://vault.attacker.example",
            f"must be a Key Vault URL: a host under {VAULT_SUFFIXES}",
        ),
        ("https://x.vault.azure.net.attacker.example", "must be a Key Vault URL: a host under"),
        ("https://vault.azure.net", "must be a Key Vault URL: a host under"),
        ("https://a.b.vault.azure.net", "must be a Key Vault URL: a host under"),
        ("https://127.0.0.1:8443", "must be a Key Vault URL: a host under"),
        ("https://user@nnivault.vault.azure.net", "must not hold a user name or password"),
        ("https://nnivault.vault.azure.net:8443", "must not name a port other than 443"),
        ("https://nnivault.vault.azure.net/secrets/x", "must be the vault's URL, without a path"),
        ("https://nnivault.vault.azure.net:x", "is not a URL"),
    ],
)
def test_a_key_vault_endpoint_outside_the_clouds_is_a_config_error(
    vault: str, message: str, tmp_path: Path, empty_home: Path
) -> None:
    cfg = tmp_path / "exp.yml"
    cfg.write_text(azure_text(vault), encoding="utf-8")
    prefix = f"Error: {cfg}:28:5: frameworkcontrollerConfig.keyVault.endpoint: "
    assert_one_error(dry_run(cfg), empty_home, prefix, message)


def test_other_braces_in_the_file_endpoint_are_a_config_error(
    tmp_path: Path, empty_home: Path
) -> None:
    cfg = tmp_path / "exp.yml"
    files = "https://{account}.file.{cloud}.net"
    cfg.write_text(azure_text("https://{vault}.vault.azure.net", files), encoding="utf-8")
    prefix = f"Error: {cfg}:32:5: frameworkcontrollerConfig.azureStorage.endpoint: "
    message = f'only {{account}} may be written in braces, got "{files}"'
    assert_one_error(dry_run(cfg), empty_home, prefix, message)
