"""update, kill and delete on FrameworkController: the real CLI and client against the API double
and its FrameworkController simulator, code and outputs on a real nfs-ganesha."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tests.conftest import run_nnifc, status_json, wait_for
from tests.k8sim.fixture import KubeCluster, kube_cluster
from tests.test_frameworkcontroller_e2e import cluster, framework_objects, start_slow

if TYPE_CHECKING:
    from tests.ganesha import Ganesha

pytest_plugins = ["tests.ganesha"]
__all__ = ["cluster", "kube_cluster"]


def running(exp_id: str) -> list[str]:
    return [str(t["id"]) for t in status_json(exp_id)["trials"] if t["status"] == "RUNNING"]


def trial_label(framework: dict[str, object]) -> str:
    metadata = framework["metadata"]
    assert isinstance(metadata, dict)
    return str(metadata["labels"]["nnifc/trial"])


def test_update_kill_and_delete_on_the_cluster(
    cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path
) -> None:
    exp_id = start_slow(tmp_path, nfs_server, trials=6)
    wait_for(lambda: len(running(exp_id)) == 2, what="2 running")
    updated = run_nnifc("update", exp_id, "--concurrency", "3")
    assert updated.returncode == 0, updated.stderr
    wait_for(lambda: len(framework_objects(cluster)) == 3, timeout=15, what="a third Framework")
    wait_for(lambda: len(running(exp_id)) == 3, what="3 running")

    victim = running(exp_id)[0]
    killed = run_nnifc("kill", exp_id, victim)
    assert killed.returncode == 0, killed.stderr
    assert f"trial {victim} of experiment {exp_id}: USER_CANCELED" in killed.stdout
    wait_for(
        lambda: victim not in {trial_label(f) for f in framework_objects(cluster)},
        timeout=15,
        what="the killed trial's Framework to go",
    )
    wait_for(lambda: len(status_json(exp_id)["trials"]) == 4, timeout=15, what="a 4th trial")

    exported = nfs_server.local_dir / "nni" / exp_id
    assert (exported / "code" / "trial.py").is_file()
    refused = run_nnifc("delete", exp_id, "--storage")
    assert refused.returncode == 1 and "--force" in refused.stderr
    deleted = run_nnifc("delete", exp_id, "--storage", "--force")
    assert deleted.returncode == 0, deleted.stderr
    assert f"removed nni/{exp_id}/ on the nfs share" in deleted.stdout
    assert not exported.exists()
    wait_for(
        lambda: not framework_objects(cluster) and not cluster.objects("pods"),
        timeout=20,
        what="the cluster to be clean",
    )
    assert cluster.objects("secrets") == []
    assert run_nnifc("status", exp_id).returncode == 1
