"""PBT on FrameworkController: each trial's checkpoint directory is on the experiment's share, so
a member of the next generation, in another pod, loads the checkpoint PBT chose for it. Run on
the Kubernetes double (pods in their own mount namespace, the share bind-mounted at NNI's
/tmp/mount) with nfs-ganesha and with the Azure Files stand-in, and unmodified `import nni` code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pytest

from nnifc.platforms.frameworkcontroller.manifest import MOUNT
from tests.conftest import created_id, run_nnifc, status_json
from tests.fcconfig import fc_config, nfs_storage
from tests.k8sim.fixture import KubeCluster, kube_cluster
from tests.test_pbt import LOAD, PBT_TRIAL, SAVE, where

if TYPE_CHECKING:
    from tests.azurestandin import AzureStandin
    from tests.ganesha import Ganesha

pytest_plugins = ["tests.ganesha", "tests.azurestandin.fixture"]
__all__ = ["kube_cluster"]

SHARE = "nnishare"
POPULATION = 3
GENERATIONS = 2
TUNER = {
    "builtinTunerName": "PBTTuner",
    "classArgs": {"optimize_mode": "maximize", "seed": 1, "population_size": POPULATION},
}
SPACE = {
    "x": {"_type": "uniform", "_value": [0, 1]},
    "k": {"_type": "randint", "_value": [1, 5]},
}


def nfs_share(request: pytest.FixtureRequest, cluster: KubeCluster) -> tuple[dict[str, Any], Path]:
    nfs: Ganesha = request.getfixturevalue("nfs_server")
    cluster.nfs_exports[(nfs.server, nfs.path)] = nfs.local_dir
    return nfs_storage(nfs.server, nfs.path), nfs.local_dir


def azure_share(
    request: pytest.FixtureRequest, cluster: KubeCluster
) -> tuple[dict[str, Any], Path]:
    azure: AzureStandin = request.getfixturevalue("azure_standin")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    for key, value in azure.env(public_hosts=True).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    azure.set_secret("storage-key", azure.account_key)
    cluster.azure_shares[SHARE] = azure.share_dir(SHARE)
    cluster.store.create("serviceaccounts", "default", {"metadata": {"name": "default"}})
    storage = {
        "storage": "azureStorage",
        "serviceAccountName": "default",
        "keyVault": {"vaultName": "nnivault", "name": "storage-key"},
        "azureStorage": {"accountName": azure.account_name, "azureShare": SHARE},
    }
    return storage, azure.share_dir(SHARE)


@pytest.mark.parametrize("share", [nfs_share, azure_share], ids=["nfs", "azure"])
def test_each_generation_loads_on_the_share_the_checkpoints_pbt_chose(
    kube_cluster: KubeCluster,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    home: Path,
    share: Any,
) -> None:
    storage, share_dir = share(request, kube_cluster)
    config = fc_config(
        tmp_path,
        storage,
        trial=PBT_TRIAL,
        space=SPACE,
        name="pbt",
        trials=POPULATION * GENERATIONS,
        concurrency=POPULATION,
        tuner=TUNER,
    )
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    exp_id = created_id(result)
    trials = sorted(status_json(exp_id)["trials"], key=lambda t: t["sequence"])
    assert [t["status"] for t in trials] == ["SUCCEEDED"] * POPULATION * GENERATIONS, trials

    shared = MOUNT / "nni" / exp_id / "shared" / "checkpoint"
    by_save: dict[str, dict[str, Any]] = {}
    for t in trials:
        logs = run_nnifc("logs", t["id"]).stdout
        t["loaded"] = json.loads(re.search(r"LOADED=(.*)", logs).group(1))  # type: ignore[union-attr]
        generation, member = where(t["parameters"])
        saved_at = PurePosixPath(t["parameters"][SAVE])
        assert saved_at == shared / str(generation) / str(member)
        on_share = share_dir / saved_at.relative_to(MOUNT) / "model.json"
        assert json.loads(on_share.read_text())["trained_by"] == [*t["loaded"], t["id"]]
        by_save[str(saved_at)] = t
    assert sorted({where(t["parameters"])[0] for t in trials}) == list(range(GENERATIONS))
    for t in trials:
        if where(t["parameters"])[0] == 0:
            assert t["loaded"] == []  # generation 0 starts from nothing
            continue
        chosen = by_save[t["parameters"][LOAD]]  # a member of the previous generation
        assert where(chosen["parameters"])[0] == where(t["parameters"])[0] - 1
        assert t["loaded"] == [*chosen["loaded"], chosen["id"]]  # loaded in another pod
