"""`nnifc doctor` against the API double: one row per check, each failure of the preflight shown
with its fix, exit 0 only when nothing failed; `--probe` runs one tiny trial on the simulator."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from nnifc.platforms.frameworkcontroller import checks, preflight
from tests.conftest import run_nnifc
from tests.fcconfig import fc_config, nfs_storage
from tests.k8sim.fixture import KubeCluster, kube_cluster

if TYPE_CHECKING:
    from tests.azurestandin import AzureStandin
    from tests.ganesha import Ganesha

pytest_plugins = ["tests.ganesha", "tests.azurestandin.fixture"]
__all__ = ["kube_cluster"]

TRIAL = "import nni\nnni.report_final_result(nni.get_next_parameter()['x'])\n"
SPACE = {"x": {"_type": "uniform", "_value": [0, 1]}}


def row(result: subprocess.CompletedProcess[str], name: str) -> str:
    """The table line of check `name` (its outcome, what was found and the fix)."""
    lines = [
        line for line in result.stdout.splitlines() if re.match(rf"\w+\s+{re.escape(name)}  ", line)
    ]
    assert len(lines) == 1, result.stdout
    return " ".join(lines[0].split())


def nfs_config(tmp_path: Path, nfs: Ganesha, *, account: str | None = "trials") -> Path:
    storage = nfs_storage(nfs.server, nfs.path) | (
        {"serviceAccountName": account} if account else {}
    )
    return fc_config(tmp_path, storage, trial=TRIAL, space=SPACE)


@pytest.fixture
def cluster(kube_cluster: KubeCluster, nfs_server: Ganesha, home: Path) -> KubeCluster:
    kube_cluster.nfs_exports[(nfs_server.server, nfs_server.path)] = nfs_server.local_dir
    kube_cluster.store.create("serviceaccounts", "default", {"metadata": {"name": "trials"}})
    return kube_cluster


def test_a_healthy_cluster_passes_every_check_and_the_probe_reads_nni(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    share = nfs_server.local_dir / "nni"
    before = sorted(p.name for p in share.iterdir()) if share.is_dir() else []
    result = run_nnifc("doctor", "--config", str(nfs_config(tmp_path, nfs_server)), "--probe")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout and "skip" not in result.stdout
    assert result.stdout.strip().endswith("all checks passed")
    assert row(result, "API server reachable").endswith("Kubernetes v1.30.0-k8sim")
    assert "serves v1" in row(result, "FrameworkController CRD")
    for need in preflight.needed(secrets=False):
        assert row(result, f"may {checks.label(need)}").startswith("ok")
    assert (
        "may create secrets" not in result.stdout
    )  # an NFS experiment with no pull secret makes none
    assert row(result, "service account 'trials'").startswith("ok")
    assert row(result, "storage (nfs)").startswith("ok")
    assert row(result, "trial image's nni") == "ok trial image's nni msranni/nni:latest has nni 3.0"
    # the probe left nothing behind
    assert cluster.objects("frameworks") == [] and cluster.objects("pods") == []
    assert sorted(p.name for p in share.iterdir()) == before  # the export is shared by tests


def test_no_crd_is_reported_with_how_to_install(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    cluster.faults.crd_installed = False
    result = run_nnifc("doctor", "--config", str(nfs_config(tmp_path, nfs_server)), "--probe")
    assert result.returncode == 1
    line = row(result, "FrameworkController CRD")
    assert (
        line.startswith("FAIL")
        and "there is no frameworks.frameworkcontroller.microsoft.com" in line
    )
    assert "kubectl apply -f deploy/frameworkcontroller.yaml" in line
    assert row(result, "storage (nfs)").startswith("ok")  # the rest still ran
    assert row(result, "trial image's nni").startswith("skip")
    assert result.stdout.strip().endswith("1 of 16 checks failed"), result.stdout


@pytest.mark.parametrize(("offset", "said"), [(-90.0, "ahead of"), (90.0, "behind")])
def test_a_skewed_clock_fails_with_how_to_synchronise(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path, offset: float, said: str
) -> None:
    cluster.faults.clock_offset = offset  # the API server's Date header, 90 s off
    result = run_nnifc("doctor", "--config", str(nfs_config(tmp_path, nfs_server)))
    assert result.returncode == 1, result.stdout
    line = row(result, checks.SKEW)
    seconds = int(line.split("this machine is ")[1].split(" s ")[0])
    assert line.startswith("FAIL") and 85 <= seconds <= 95 and f"s {said} the API" in line, line
    assert "timedatectl set-ntp true" in line
    assert result.stdout.strip().endswith("1 of 16 checks failed"), result.stdout


@pytest.mark.parametrize("need", preflight.needed(secrets=True), ids=checks.label)
def test_each_missing_permission_is_its_own_failure_with_the_role_to_ask_for(
    kube_cluster: KubeCluster, need: checks.Need, home: Path
) -> None:
    verb, group, resource, sub = need
    kube_cluster.faults.deny(verb, resource, group=group, subresource=sub)
    result = run_nnifc("doctor")
    assert result.returncode == 1
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 1 and f"FAIL  may {checks.label(need)}  " in failures[0]
    line = row(result, f"may {checks.label(need)}")
    assert "context 'sim' may not, in namespace 'default'" in line
    assert (
        f"Role granting {verb} on {resource}{'/' + sub if sub else ''} (API group {group or 'core'})"
        in line
    )
    assert "deploy/rbac-user.yaml" in line


def test_a_missing_service_account_is_reported_with_the_command_that_makes_it(
    kube_cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path, home: Path
) -> None:
    kube_cluster.nfs_exports[(nfs_server.server, nfs_server.path)] = nfs_server.local_dir
    result = run_nnifc("doctor", "--config", str(nfs_config(tmp_path, nfs_server)))
    assert result.returncode == 1
    line = row(result, "service account 'trials'")
    assert "serviceAccountName 'trials' does not exist in namespace 'default'" in line
    assert "kubectl -n default create serviceaccount trials" in line


def test_an_unreachable_nfs_server_is_reported_with_its_fix(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NNIFC_NFS_PORT", "9")  # nothing listens on discard
    result = run_nnifc("doctor", "--config", str(nfs_config(tmp_path, nfs_server)))
    assert result.returncode == 1
    line = row(result, "storage (nfs)")
    assert line.startswith("FAIL") and f"{nfs_server.server}" in line
    assert "exports the path read-write to this machine" in line
    assert row(result, "FrameworkController CRD").startswith("ok")


def test_a_denied_key_vault_is_reported_with_its_fix(
    kube_cluster: KubeCluster,
    azure_standin: AzureStandin,
    tmp_path: Path,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in azure_standin.env(public_hosts=True).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    azure_standin.set_secret("storage-key", azure_standin.account_key)
    azure_standin.deny_vault = True
    storage = {
        "storage": "azureStorage",
        "keyVault": {"vaultName": "nnivault", "name": "storage-key"},
        "azureStorage": {"accountName": azure_standin.account_name, "azureShare": "nnishare"},
    }
    config = fc_config(tmp_path, storage, trial=TRIAL, space=SPACE)
    result = run_nnifc("doctor", "--config", str(config))
    assert result.returncode == 1
    line = row(result, "storage (azureStorage)")
    assert (
        "access to the secret 'storage-key' in Key Vault https://nnivault.vault.azure.net was denied (403)"
        in line
    )
    assert "Key Vault Secrets User" in line
    assert row(result, "may create secrets").startswith("ok")  # Azure's key goes in a Secret
    assert azure_standin.account_key not in result.stdout + result.stderr


def test_no_kubeconfig_and_an_unreachable_api_server_are_rows_not_tracebacks(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    result = run_nnifc("doctor")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no kubeconfig" in row(result, "kubeconfig and context")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\n"
        "clusters: [{name: gone, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: gone, user: {token: x}}]\n"
        "contexts: [{name: gone, context: {cluster: gone, user: gone}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    result = run_nnifc("doctor")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "cannot reach the Kubernetes API at http://127.0.0.1:9" in row(
        result, "API server reachable"
    )
    assert (
        row(result, "FrameworkController CRD")
        == "skip FrameworkController CRD needs the API server"
    )


def test_a_bad_pull_secret_file_is_named(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    config = nfs_config(tmp_path, nfs_server)
    auth = tmp_path / "auth.json"
    auth.write_text('{"credsStore": "desktop"}')
    text = config.read_text().replace(
        "      image: msranni/nni:latest\n",
        f"      image: msranni/nni:latest\n      privateRegistryAuthPath: {auth}\n",
    )
    config.write_text(text)
    result = run_nnifc("doctor", "--config", str(config))
    assert result.returncode == 1
    assert "it has no registry under 'auths'" in row(result, f"image pull secret {auth}")
