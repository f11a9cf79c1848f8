"""`create --dry-run` tells the truth without a cluster, and catches on this machine what
`create` would fail on: a frameworkcontroller config shows its first Framework and says the
cluster checks were skipped; a local config asking for GPUs this machine lacks is refused at
trial.gpuNum, by the dry run and by `create` alike, before anything runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from tests.conftest import VENV_BIN
from tests.fcconfig import Role, fc_config, nfs_storage
from tests.k8sim.fixture import KubeCluster, kube_cluster

__all__ = ["kube_cluster"]
SCHEMA = json.loads((Path(__file__).parent / "schemas/framework.schema.json").read_text())
SPACE = {"lr": {"_type": "loguniform", "_value": [1e-4, 1]}}
LOCAL = """\
experimentName: gpus
trialConcurrency: 1
maxTrialNum: 2
trainingServicePlatform: local
searchSpacePath: space.json
tuner: {builtinTunerName: TPE, classArgs: {optimize_mode: maximize}}
trial:
  command: python3 train.py
  codeDir: code
  gpuNum: 1
"""
NO_GPU = (
    "trial.gpuNum: 1 GPU per trial, but this machine has no GPU: nvidia-smi is not on PATH; "
    "set trial.gpuNum: 0, or localConfig.gpuIndices to the GPUs to use"
)


@pytest.fixture
def nowhere(tmp_path: Path) -> dict[str, str]:
    """An environment with no cluster: empty HOME, no KUBECONFIG, not in a pod, no nvidia-smi."""
    (tmp_path / "empty-home").mkdir()
    (tmp_path / "empty-bin").mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
    }
    return env | {
        "HOME": str(tmp_path / "empty-home"),
        "NNIFC_HOME": str(tmp_path / "nnifc-home"),
        "PATH": str(tmp_path / "empty-bin"),
    }


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "code").mkdir(exist_ok=True)
    (tmp_path / "code" / "train.py").write_text("print(1)\n")
    (tmp_path / "space.json").write_text(json.dumps(SPACE))
    path = tmp_path / "exp.yml"
    path.write_text(text)
    return path


def write_fc(tmp_path: Path) -> Path:
    return fc_config(
        tmp_path,
        nfs_storage("10.0.0.4", "/exports/nni"),
        trial="print(1)\n",
        space=SPACE,
        name="nocluster",
        trials=2,
        roles=(Role(memory_mb=1024),),
        tuner={"builtinTunerName": "TPE", "classArgs": {"optimize_mode": "maximize"}},
    )


def nnifc(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nnifc", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_dry_run_without_a_cluster_shows_the_framework_and_skips_the_cluster_checks(
    tmp_path: Path, nowhere: dict[str, str]
) -> None:
    config = write_fc(tmp_path)
    result = nnifc(nowhere, "create", "--config", str(config), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    framework_text = result.stdout.split("the first trial's Framework:\n", 1)[1]
    plan, skipped, last = framework_text.rstrip("\n").rsplit("\n", 2)
    jsonschema.validate(YAML(typ="safe").load(plan), SCHEMA)
    assert skipped.startswith(
        f"cluster checks skipped: no kubeconfig: {nowhere['HOME']}/.kube/config does not exist; "
    )
    assert skipped.endswith("the storage was not checked either")
    assert last == "config checks passed; nothing was created (dry run)"
    assert not Path(nowhere["NNIFC_HOME"]).exists()


def test_dry_run_with_kubeconfig_naming_a_missing_file_says_which(
    tmp_path: Path, nowhere: dict[str, str]
) -> None:
    missing = tmp_path / "gone" / "kubeconfig"
    env = nowhere | {"KUBECONFIG": str(missing)}
    result = nnifc(env, "create", "--config", str(write_fc(tmp_path)), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"cluster checks skipped: no kubeconfig: {missing} does not exist; " in result.stdout


def test_create_without_a_cluster_fails_before_anything_naming_the_missing_kubeconfig(
    tmp_path: Path, nowhere: dict[str, str]
) -> None:
    result = nnifc(nowhere, "create", "--config", str(write_fc(tmp_path)))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: no kubeconfig: {nowhere['HOME']}/.kube/config does not exist; set KUBECONFIG "
        "to your cluster's kubeconfig file (--context picks a context in it)"
    ]
    assert not Path(nowhere["NNIFC_HOME"]).exists()


def test_dry_run_with_a_cluster_still_runs_the_cluster_checks(
    kube_cluster: KubeCluster, tmp_path: Path, nowhere: dict[str, str]
) -> None:
    kube_cluster.faults.crd_installed = False
    env = nowhere | {"KUBECONFIG": str(kube_cluster.kubeconfig)}
    result = nnifc(env, "create", "--config", str(write_fc(tmp_path)), "--dry-run")
    assert result.returncode == 1, result.stdout
    assert "cluster checks skipped" not in result.stdout
    assert result.stderr.splitlines() == [
        "Error: FrameworkController is not installed in the cluster of context 'sim': "
        "there is no frameworks.frameworkcontroller.microsoft.com CustomResourceDefinition"
    ]


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "create"])
def test_gpus_this_machine_lacks_are_refused_at_trial_gpu_num(
    tmp_path: Path, nowhere: dict[str, str], dry_run: bool
) -> None:
    config = write(tmp_path, LOCAL)
    result = nnifc(nowhere, "create", "--config", str(config), *(["--dry-run"] * dry_run))
    assert result.returncode == 1, result.stdout
    assert result.stderr.splitlines() == [f"Error: {config}:10:3: {NO_GPU}"]
    assert not Path(nowhere["NNIFC_HOME"]).exists()


def test_a_v2_config_is_refused_at_its_own_gpu_key(tmp_path: Path, nowhere: dict[str, str]) -> None:
    config = write(
        tmp_path,
        textwrap.dedent("""\
        searchSpaceFile: space.json
        trialCommand: python3 train.py
        trialCodeDirectory: code
        trialGpuNumber: 1
        trialConcurrency: 1
        tuner: {name: TPE, classArgs: {optimize_mode: maximize}}
        trainingService: {platform: local}
        """),
    )
    result = nnifc(nowhere, "create", "--config", str(config), "--dry-run")
    assert result.returncode == 1, result.stdout
    wanted = NO_GPU.replace("trial.gpuNum: ", "trialGpuNumber: ", 1)
    assert result.stderr.splitlines() == [f"Error: {config}:4:1: {wanted}"]


def fake_nvidia_smi(bin_dir: Path, gpus: int) -> None:
    listing = "".join(f"GPU {i}: Tesla T4 (UUID: GPU-{i})\\n" for i in range(gpus))
    script = bin_dir / "nvidia-smi"
    script.write_text(f"#!/bin/sh\nprintf '{listing}'\n")
    script.chmod(0o755)


def test_gpus_are_counted_with_nvidia_smi(tmp_path: Path, nowhere: dict[str, str]) -> None:
    fake_nvidia_smi(Path(nowhere["PATH"]), gpus=1)
    env = nowhere | {"PATH": nowhere["PATH"] + os.pathsep + "/usr/bin:/bin"}
    config = write(tmp_path, LOCAL)
    accepted = nnifc(env, "create", "--config", str(config), "--dry-run")
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.rstrip().endswith("checks passed; nothing was created (dry run)")
    config.write_text(LOCAL.replace("gpuNum: 1", "gpuNum: 2"))
    refused = nnifc(env, "create", "--config", str(config), "--dry-run")
    assert refused.stderr.splitlines() == [
        f"Error: {config}:10:3: trial.gpuNum: 2 GPUs per trial, but nvidia-smi -L lists 1 GPU; "
        "lower trial.gpuNum"
    ]


def test_gpu_indices_are_checked(tmp_path: Path, nowhere: dict[str, str]) -> None:
    config = write(tmp_path, LOCAL + "localConfig: {gpuIndices: '0,1'}\n")
    accepted = nnifc(nowhere, "create", "--config", str(config), "--dry-run")
    assert accepted.returncode == 0, accepted.stderr
    config.write_text(
        LOCAL.replace("gpuNum: 1", "gpuNum: 3") + "localConfig: {gpuIndices: '0,1'}\n"
    )
    too_many = nnifc(nowhere, "create", "--config", str(config), "--dry-run")
    assert too_many.stderr.splitlines() == [
        f"Error: {config}:10:3: trial.gpuNum: 3 GPUs per trial, "
        "but localConfig.gpuIndices lists 2 GPUs; lower trial.gpuNum"
    ]
    config.write_text(LOCAL + "localConfig: {gpuIndices: 'first'}\n")
    bad = nnifc(nowhere, "create", "--config", str(config), "--dry-run")
    assert bad.stderr.splitlines() == [
        f'Error: {config}:11:15: localConfig.gpuIndices: must be GPU indices like 0 or "0,1", '
        'got "first"'
    ]


def test_no_gpu_asked_needs_none(tmp_path: Path, nowhere: dict[str, str]) -> None:
    config = write(tmp_path, LOCAL.replace("gpuNum: 1", "gpuNum: 0"))
    result = nnifc(nowhere | {"PATH": VENV_BIN}, "create", "--config", str(config), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "checks passed; nothing was created (dry run)" in result.stdout
