"""End to end with storage: azureStorage: the storage key from a Key Vault stand-in, code and
outputs on an Azure Files stand-in (real SDKs, real SharedKey signing), trials as Frameworks on
the Kubernetes double with their azureFile volume mapped to the share's directory."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import created_id, run_nnifc, status_json
from tests.fcconfig import fc_config
from tests.k8sim.fixture import KubeCluster, kube_cluster

if TYPE_CHECKING:
    from tests.azurestandin import AzureStandin

pytest_plugins = ["tests.azurestandin.fixture"]
__all__ = ["kube_cluster"]

SHARE = "nnishare"
TRIAL = """\
    import nni

    params = nni.get_next_parameter()
    for step in range(3):
        nni.report_intermediate_result(params["x"] + step)
    print(f"FINAL={params['x'] * 2!r}", flush=True)
    nni.report_final_result(params["x"] * 2)
"""


@pytest.fixture
def azure(
    kube_cluster: KubeCluster,
    azure_standin: AzureStandin,
    monkeypatch: pytest.MonkeyPatch,
    home: Path,
) -> AzureStandin:
    for key, value in azure_standin.env(public_hosts=True).items():
        monkeypatch.setenv(key, value)
    # only the service principal in the environment: no managed-identity probe of 169.254.169.254
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    azure_standin.set_secret("storage-key", azure_standin.account_key)
    kube_cluster.azure_shares[SHARE] = azure_standin.share_dir(SHARE)
    return azure_standin


def write_config(tmp_path: Path, account: str, *, trials: int = 3) -> Path:
    storage = {
        "storage": "azureStorage",
        "serviceAccountName": "default",
        "keyVault": {"vaultName": "nnivault", "name": "storage-key"},
        "azureStorage": {"accountName": account, "azureShare": SHARE},
    }
    return fc_config(
        tmp_path,
        storage,
        trial=TRIAL,
        space={"x": {"_type": "uniform", "_value": [0, 1]}},
        name="example_mnist",
        trials=trials,
        concurrency=2,
        tuner={"builtinTunerName": "TPE", "classArgs": {"optimize_mode": "maximize"}},
        extra={"authorName": "default", "maxExecDuration": "10h", "useAnnotation": False},
    )


@pytest.fixture
def service_account(kube_cluster: KubeCluster) -> None:
    kube_cluster.store.create("serviceaccounts", "default", {"metadata": {"name": "default"}})


def test_experiment_runs_with_the_key_from_key_vault(
    kube_cluster: KubeCluster,
    azure: AzureStandin,
    tmp_path: Path,
    home: Path,
    service_account: None,
) -> None:
    azure.throttle_next(3)  # a throttled share still completes
    result = run_nnifc("create", "--config", str(write_config(tmp_path, azure.account_name)))
    assert result.returncode == 0, result.stdout + result.stderr
    exp_id = created_id(result)
    data = status_json(exp_id)
    assert [t["status"] for t in data["trials"]] == ["SUCCEEDED"] * 3
    for trial in data["trials"]:
        logs = run_nnifc("logs", trial["id"]).stdout
        assert trial["final"] == float(logs.split("FINAL=")[1].split()[0])
        assert trial["intermediate"] == [trial["parameters"]["x"] + s for s in range(3)]
    secrets_created = kube_cluster.created("secrets")
    assert [s["metadata"]["name"] for s in secrets_created] == [f"nnifc-{exp_id}-azure"]
    assert kube_cluster.objects("secrets") == []  # deleted when the experiment ended
    assert (azure.share_dir(SHARE) / "nni" / exp_id / "code" / "trial.py").is_file()
    assert any(r.status == 503 for r in azure.requests("files"))
    # the key appears nowhere nnifc printed or wrote
    key = azure.account_key
    traces = [key, base64.b64encode(key.encode()).decode()]
    printed = result.stdout + result.stderr + run_nnifc("status", exp_id).stdout
    for text in traces:
        assert text not in printed
        for path in home.rglob("*"):
            if path.is_file():
                assert text.encode() not in path.read_bytes(), path


def test_dry_run_shows_no_key(
    kube_cluster: KubeCluster,
    azure: AzureStandin,
    tmp_path: Path,
    home: Path,
    service_account: None,
) -> None:
    result = run_nnifc(
        "create", "--config", str(write_config(tmp_path, azure.account_name)), "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    assert "azureFile" in result.stdout and "secretName: nnifc-dryrun00-azure" in result.stdout
    assert azure.account_key not in result.stdout + result.stderr
    assert not home.exists()


@pytest.mark.parametrize(
    "failure", ["no credential", "vault denied", "wrong key", "share not creatable", "no secret"]
)
def test_each_authentication_failure_is_one_line_before_any_framework(
    kube_cluster: KubeCluster,
    azure: AzureStandin,
    tmp_path: Path,
    home: Path,
    service_account: None,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    config = write_config(tmp_path, azure.account_name)
    expected = {
        "no credential": "cannot sign in to read the secret 'storage-key' in Key Vault https://nnivault.vault.azure.net",
        "vault denied": "access to the secret 'storage-key' in Key Vault https://nnivault.vault.azure.net was denied (403)",
        "wrong key": f"the Azure File share '{SHARE}' of account '{azure.account_name}' refused the key from Key Vault secret 'storage-key' (AuthenticationFailed)",
        "share not creatable": f"cannot create the share '{SHARE}' on the Azure File share '{SHARE}' of account '{azure.account_name}': 403",
        "no secret": "there is no secret 'storage-key' in Key Vault https://nnivault.vault.azure.net",
    }[failure]
    if failure == "no credential":
        monkeypatch.delenv("AZURE_CLIENT_SECRET")
    elif failure == "vault denied":
        azure.deny_vault = True
    elif failure == "wrong key":
        azure.set_secret("storage-key", base64.b64encode(b"not the key").decode())
    elif failure == "share not creatable":
        azure.share_creatable = False
    else:
        config.write_text(config.read_text().replace("name: storage-key", "name: other-key"))
        expected = expected.replace("storage-key", "other-key")
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: " + expected), last
    assert "Traceback" not in result.stderr
    assert azure.account_key not in result.stderr + result.stdout
    assert not home.exists()
    assert kube_cluster.created("frameworks") == [] and kube_cluster.created("secrets") == []


@pytest.mark.parametrize("vault", ["env on 127.0.0.1", "config in China"])
def test_a_challenge_for_another_resource_gets_no_token(
    kube_cluster: KubeCluster,
    azure: AzureStandin,
    tmp_path: Path,
    home: Path,
    service_account: None,
    monkeypatch: pytest.MonkeyPatch,
    vault: str,
) -> None:
    """Issue 17: a vault URL nnifc accepts answers 401 naming https://management.azure.com.

    Before the fix the SDK's challenge check was off for every host but *.vault.azure.net, so
    a management-scope token was requested and sent to whoever answered there.
    """
    config = write_config(tmp_path, azure.account_name)
    if vault.startswith("env"):
        monkeypatch.setenv("NNIFC_KEYVAULT_ENDPOINT", azure.vault_url)
        url = azure.vault_url
    else:
        text = config.read_text().replace(
            "    name: storage-key\n",
            "    name: storage-key\n    endpoint: https://{vault}.vault.azure.cn\n",
        )
        config.write_text(text)
        url = "https://nnivault.vault.azure.cn"
    azure.hostile_challenge("https://management.azure.com")
    result = run_nnifc("create", "--config", str(config))
    assert azure.issued_tokens() == []
    tokens_asked = [r for r in azure.requests("aad") if r.path.endswith("/oauth2/v2.0/token")]
    assert tokens_asked == []
    vault_requests = azure.requests("vault")
    assert vault_requests and all("Authorization" not in r.headers for r in vault_requests)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: refused the sign-in challenge of Key Vault {url}: "), last
    assert "management.azure.com" in last
    assert kube_cluster.created("frameworks") == [] and kube_cluster.created("secrets") == []
