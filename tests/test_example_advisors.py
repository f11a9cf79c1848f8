"""configs/hyperband.yml, bohb.yml, pbt.yml and asha.yml (NNI's own examples and ours, on the quick start's digits)
switched to FrameworkController the way a user would, run on the Kubernetes double with
nfs-ganesha and the unmodified `import nni` trial in examples/quickstart (issue 19)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import created_id, run_nnifc, status_json
from tests.k8sim.fixture import KubeCluster, kube_cluster

if TYPE_CHECKING:
    from tests.ganesha import Ganesha

pytest_plugins = ["tests.ganesha"]
__all__ = ["kube_cluster"]

REPO = Path(os.path.abspath(__file__)).parent.parent
ROLE = """\
    - name: worker
      taskNum: 1
      command: python3 train.py
      gpuNum: 0
      cpuNum: 1
      memoryMB: 1024
      image: msranni/nni:latest
      frameworkAttemptCompletionPolicy: {minFailedTaskCount: 1, minSucceededTaskCount: 1}
"""


def on_the_cluster_v1(text: str, nfs: Ganesha) -> str:
    """NNI v1: the platform, taskRoles instead of trial.command, and the NFS export."""
    text = text.replace(
        "trainingServicePlatform: local", "trainingServicePlatform: frameworkcontroller"
    )
    text = re.sub(r"  command: python3 train.py\n", "", text)
    text = text.replace("  gpuNum: 0\n", "  taskRoles:\n" + ROLE)
    return (
        text
        + f"frameworkcontrollerConfig:\n  storage: nfs\n  nfs: {{server: {nfs.server}, path: {nfs.path}}}\n"
    )


def on_the_cluster_v2(text: str, nfs: Ganesha) -> str:
    """NNI v2: trainingService becomes frameworkcontroller with its storage and taskRoles."""
    service = (
        "trainingService:\n  platform: frameworkcontroller\n"
        f"  storage: {{storageType: nfs, server: {nfs.server}, path: {nfs.path}}}\n"
        "  taskRoles:\n    - name: worker\n      dockerImage: msranni/nni:latest\n"
        "      taskNumber: 1\n      command: python3 train.py\n      gpuNumber: 0\n"
        "      cpuNumber: 1\n      memorySize: 1024\n"
        "      frameworkAttemptCompletionPolicy: {minFailedTaskCount: 1, minSucceedTaskCount: 1}\n"
    )
    return text.replace("trainingService:\n  platform: local\n", service)


def example(name: str, tmp_path: Path, nfs: Ganesha, **small: str) -> Path:
    """configs/<name>.yml on the cluster, with `small` replacing values so that it ends soon."""
    text = (REPO / "configs" / f"{name}.yml").read_text()
    text = text.replace("../examples/quickstart", str(REPO / "examples" / "quickstart"))
    for old, new in small.items():
        assert old in text, old
        text = text.replace(old, new)
    v2 = "trainingService:" in text
    path = tmp_path / f"{name}.yml"
    path.write_text(on_the_cluster_v2(text, nfs) if v2 else on_the_cluster_v1(text, nfs))
    return path


@pytest.fixture
def cluster(kube_cluster: KubeCluster, nfs_server: Ganesha, home: Path) -> KubeCluster:
    kube_cluster.nfs_exports[(nfs_server.server, nfs_server.path)] = nfs_server.local_dir
    return kube_cluster


def finished(config: Path) -> list[dict[str, Any]]:
    """The experiment's trials, in order, once it ended with all of them SUCCEEDED and each one's
    learning curve the epochs its log shows."""
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    trials: list[dict[str, Any]] = status_json(created_id(result))["trials"]
    trials.sort(key=lambda t: int(t["sequence"]))
    assert {t["status"] for t in trials} == {"SUCCEEDED"}, trials
    for trial in trials:
        epochs = run_nnifc("logs", trial["id"]).stdout.count("test accuracy")
        assert epochs == len(trial["intermediate"]), trial
    return trials


def budget(trial: dict[str, Any]) -> int:
    return int(trial["parameters"]["TRIAL_BUDGET"])


def config_of(trial: dict[str, Any]) -> dict[str, Any]:
    added = ("TRIAL_BUDGET", "load_checkpoint_dir", "save_checkpoint_dir")
    return {k: v for k, v in trial["parameters"].items() if k not in added}


@pytest.mark.parametrize(
    ("name", "small"),
    [
        ("hyperband", {"R: 9": "R: 3", "maxTrialNum: 22": "maxTrialNum: 6"}),
        ("bohb", {"max_budget: 9": "max_budget: 3", "maxTrialNumber: 22": "maxTrialNumber: 6"}),
    ],
)
def test_an_nni_advisor_example_runs_its_brackets_on_the_cluster(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path, name: str, small: dict[str, str]
) -> None:
    trials = finished(example(name, tmp_path, nfs_server, **small))
    # R (max_budget) 3, eta 3: bracket 1 runs 3 configs 1 epoch and the best 3 epochs,
    # bracket 0 two configs 3 epochs
    assert sorted(budget(t) for t in trials) == [1, 1, 1, 3, 3, 3]
    assert all(len(t["intermediate"]) == budget(t) for t in trials)
    best = max((t for t in trials if budget(t) == 1), key=lambda t: float(t["final"]))
    promoted = [t for t in trials if budget(t) == 3 and config_of(t) == config_of(best)]
    assert len(promoted) == 1  # the best of the three ran again with 3 epochs


def test_the_nni_pbt_example_continues_from_checkpoints_on_the_cluster(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    small = {"maxTrialNum: 18": "maxTrialNum: 6", "population_size: 6": "population_size: 3"}
    trials = finished(example("pbt", tmp_path, nfs_server, **small))
    later = trials[3:]
    logs = [run_nnifc("logs", t["id"]).stdout for t in later]
    assert all("/tmp/mount/nni/" in text for text in logs)  # each looked on the share, and
    assert any("continuing from" in text for text in logs)  # at least one found its network


def test_the_asha_example_continues_each_promotion_from_the_share(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    small = {"R: 9": "R: 3", "maxTrialNum: 16": "maxTrialNum: 5"}
    trials = finished(example("asha", tmp_path, nfs_server, **small))
    # concurrency 2: the third result at budget 1 promotes the best of the three to budget 3
    assert [budget(t) for t in trials] == [1, 1, 1, 1, 3]
    promoted = trials[4]
    loaded = promoted["parameters"]["load_checkpoint_dir"]
    (source,) = [t for t in trials[:4] if t["parameters"]["save_checkpoint_dir"] == loaded]
    assert config_of(source) == config_of(promoted) and loaded.startswith("/tmp/mount/")
    assert f"continuing from {loaded}/weights.npz" in run_nnifc("logs", promoted["id"]).stdout
    assert len(promoted["intermediate"]) == 2  # epochs 2 and 3 only: the first was loaded
