"""A storage defined in the tests alone, added with one registry line, runs a whole experiment on
the cluster double: its options are part of the config (checked, located, suggested, and read
from NNI v2's flat storage block), kept in the store, and rebuilt from there (issue 18)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from nnifc import config, experiments, rebuild
from nnifc.errors import ConfigError
from nnifc.experiment import FrameworkControllerExperimentConfig
from nnifc.records import ExperimentStatus, TrialStatus
from nnifc.scheduler import Scheduler
from nnifc.storage import STORAGES
from tests.fcconfig import fc_config
from tests.k8sim.fixture import KubeCluster, kube_cluster

__all__ = ["kube_cluster"]

TRIAL = """\
    import nni

    params = nni.get_next_parameter()
    for step in range(2):
        nni.report_intermediate_result(params["x"] + step)
    print("FINAL", params["x"] * 10, flush=True)
    nni.report_final_result(params["x"] * 10)
"""
SPACE = {"x": {"_type": "uniform", "_value": [0, 1]}}


@pytest.fixture
def host_dir_storage() -> Iterator[None]:
    STORAGES.register("hostDir", "tests.hostdir_storage", "HostDirStorage")  # the one line
    yield
    STORAGES.unregister("hostDir")


def test_a_storage_from_the_tests_runs_an_experiment(
    host_dir_storage: None, kube_cluster: KubeCluster, tmp_path: Path, home: Path
) -> None:
    share = tmp_path / "share"
    share.mkdir()
    path = fc_config(
        tmp_path,
        {"storage": "hostDir", "hostDir": {"path": str(share)}},
        trial=TRIAL,
        space=SPACE,
        trials=3,
        concurrency=2,
    )
    experiment = config.load(path)
    store = experiments.register(experiment)
    exp_id = store.experiment().id
    platform = rebuild.platform_for(store.experiment())  # from the settings the store keeps
    assert platform.settings.storage_options == {"hostDir": {"path": str(share)}}
    assert Scheduler(experiment, store, platform).run() is ExperimentStatus.DONE

    trials = store.trials()
    assert [t.status for t in trials] == [TrialStatus.SUCCEEDED] * 3
    for trial in trials:
        assert trial.final == pytest.approx(trial.params["x"] * 10)
        log = share / "nni" / exp_id / trial.id / "output" / "worker_0" / "stdout"
        assert f"FINAL {trial.params['x'] * 10}" in log.read_text()
    assert (share / "nni" / exp_id / "code" / "trial.py").is_file()


def test_its_blocks_are_checked_like_every_key(host_dir_storage: None, tmp_path: Path) -> None:
    path = fc_config(
        tmp_path,
        {"storage": "hostDir", "hostDir": {"pth": "/x"}},
        trial=TRIAL,
        space=SPACE,
    )
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert "frameworkcontrollerConfig.hostDir.pth: unknown key; did you mean 'path'?" in str(
        caught.value
    )

    path.write_text(path.read_text().replace("  hostDir:\n    pth: /x\n", ""))
    with pytest.raises(ConfigError, match="storage is hostDir, so a hostDir block with path"):
        config.load(path)


def test_nni_v2s_flat_storage_block_names_it(host_dir_storage: None, tmp_path: Path) -> None:
    (tmp_path / "trial.py").write_text(textwrap.dedent(TRIAL))
    path = tmp_path / "v2.yml"
    path.write_text(
        textwrap.dedent(f"""\
        searchSpace: {{x: {{_type: uniform, _value: [0, 1]}}}}
        trialCodeDirectory: .
        trialConcurrency: 1
        tuner: {{name: Random}}
        trainingService:
          platform: frameworkcontroller
          storage:
            storageType: hostDir
            hostPath: {tmp_path}
          taskRoles:
            - name: worker
              taskNumber: 1
              command: python3 trial.py
              gpuNumber: 0
              cpuNumber: 1
              memorySize: 1gb
              frameworkAttemptCompletionPolicy: {{minFailedTaskCount: 1, minSucceedTaskCount: 1}}
        """)
    )
    experiment = config.load(path)
    assert isinstance(experiment.config, FrameworkControllerExperimentConfig)
    fc = experiment.config.frameworkcontroller_config
    assert fc.storage == "hostDir"
    assert getattr(fc, "host_dir").path == str(tmp_path)  # noqa: B009 (a field of the plug-in's)
