"""The FrameworkController platform's own timing, against the API double and ganesha.

A slow API server must not hold the loop: `start` returns at once, each trial's handle comes
back from `started()` when its create is answered, and a trial cancelled while its create is in
flight is deleted after the create lands, never left running. The first wave of creates is
paced; and a running trial's output is read by the periodic sweep, not only when it ends.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from nnifc import config, experiments
from nnifc.platforms.frameworkcontroller import FrameworkControllerPlatform
from nnifc.platforms.frameworkcontroller.manifest import framework_name
from nnifc.platforms.frameworkcontroller.ramp import Ramp
from nnifc.records import MetricReported, Started, StatusChanged, TrialSpec, TrialStatus
from nnifc.store import experiment_dir
from tests.conftest import wait_for
from tests.fcconfig import Role, fc_config, nfs_storage
from tests.k8sim.fixture import KubeCluster, kube_cluster
from tests.test_frameworkcontroller_e2e import write_config

if TYPE_CHECKING:
    from tests.ganesha import Ganesha

pytest_plugins = ["tests.ganesha"]
__all__ = ["kube_cluster"]

LATENCY = 0.3  # seconds the double waits before answering each request


def test_starts_return_at_once_and_a_cancel_waits_for_the_create(
    kube_cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path, home: Path
) -> None:
    kube_cluster.nfs_exports[(nfs_server.server, nfs_server.path)] = nfs_server.local_dir
    experiment = config.load(write_config(tmp_path, nfs_server, trials=3))
    exp_id = experiments.register(experiment).experiment().id
    platform = FrameworkControllerPlatform.of(experiment, experiment_dir(exp_id))
    platform.prepare()
    specs = [TrialSpec(exp_id, f"t{i}", i, i, {"x": 0.5, "k": i + 1}) for i in range(3)]
    try:
        kube_cluster.faults.latency = LATENCY
        begun = time.monotonic()
        platform.start(specs)
        assert time.monotonic() - begun < LATENCY / 2  # the creates wait in their own threads
        assert platform.started() == []

        platform.cancel("t2", "")  # its create is in flight: it lands, then it is deleted
        wait_for(  # the delete is asked at once; the double may take a moment under load
            lambda: (
                framework_name(exp_id, "t2")
                not in {f["metadata"]["name"] for f in kube_cluster.objects("frameworks")}
            ),
            timeout=10,
            what="the cancelled trial's Framework to be deleted",
        )
        kube_cluster.faults.latency = 0.0

        outcomes: list[Started] = []
        ended: dict[str, TrialStatus] = {}

        def two_ended() -> bool:
            for event in platform.poll(0.2):
                if isinstance(event, StatusChanged) and event.status.final:
                    ended[event.trial_id] = event.status
            outcomes.extend(platform.started())
            return len(ended) >= 2

        wait_for(two_ended, 120, interval=0, quiet=True)
        assert sorted(outcomes, key=lambda s: s.trial_id) == [
            Started("t0", framework_name(exp_id, "t0")),
            Started("t1", framework_name(exp_id, "t1")),
        ]  # and none for the cancelled one
        assert ended == {"t0": TrialStatus.SUCCEEDED, "t1": TrialStatus.SUCCEEDED}
        created = kube_cluster.requests.count(verb="create", resource="frameworks")
        assert created == 3
    finally:
        platform.cleanup()
        platform.close()


def test_the_first_wave_of_creates_is_paced_and_later_ones_are_not() -> None:
    ramp = Ramp(first=20, per_second=200)
    begun = time.monotonic()
    times: list[float] = []

    def create(count: int) -> None:
        for _ in range(count):
            ramp.wait()
            times.append(time.monotonic() - begun)

    threads = [threading.Thread(target=create, args=(5,)) for _ in range(4)]  # as the creators
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # the k-th create waits at least k slots of 1/200 s, whichever thread makes it
    assert all(at >= k / 200 for k, at in enumerate(sorted(times)))
    later = time.monotonic()
    create(100)
    # past the first wave, nothing waits: paced, these 100 would take 100 / 200 = 0.5 s
    assert time.monotonic() - later < 0.25


QUIET_TRIAL = """\
import time
import nni

nni.get_next_parameter()
nni.report_intermediate_result(0.5)
time.sleep(9)  # quiet: only the sweep can find the result before the end
nni.report_final_result(1.0)
"""


def test_a_running_trials_output_is_read_by_the_sweep_before_it_ends(
    kube_cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path, home: Path
) -> None:
    kube_cluster.nfs_exports[(nfs_server.server, nfs_server.path)] = nfs_server.local_dir
    path = fc_config(  # no assessor: outputs are read every 5 s
        tmp_path,
        nfs_storage(nfs_server.server, nfs_server.path),
        trial=QUIET_TRIAL,
        space={"x": {"_type": "uniform", "_value": [0, 1]}},
        name="quiet",
        roles=(Role(memory_mb=256),),
    )
    experiment = config.load(path)
    exp_id = experiments.register(experiment).experiment().id
    platform = FrameworkControllerPlatform.of(experiment, experiment_dir(exp_id))
    platform.prepare()
    try:
        platform.start([TrialSpec(exp_id, "q0", 0, 0, {"x": 0.5})])
        seen: dict[str, float] = {}  # what came first, when

        def ended() -> bool:
            for event in platform.poll(0.2):
                if isinstance(event, MetricReported):
                    what = "final" if event.final else "intermediate"
                else:
                    what = "ended" if event.status.final else "running"
                seen.setdefault(what, time.monotonic())
            return "ended" in seen

        wait_for(ended, 60, "the trial to end", interval=0)
        assert seen["running"] <= seen["intermediate"] < seen["final"] <= seen["ended"]
        # read while the trial ran quiet for 9 s, by a sweep (every 5 s), not at its end
        assert seen["final"] - seen["intermediate"] > 2.0, seen
    finally:
        platform.cleanup()
        platform.close()


def test_a_create_still_queued_is_dropped_by_a_cancel(
    kube_cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path, home: Path
) -> None:
    kube_cluster.nfs_exports[(nfs_server.server, nfs_server.path)] = nfs_server.local_dir
    experiment = config.load(write_config(tmp_path, nfs_server, trials=6))
    exp_id = experiments.register(experiment).experiment().id
    platform = FrameworkControllerPlatform.of(experiment, experiment_dir(exp_id))
    platform.prepare()
    specs = [TrialSpec(exp_id, f"t{i}", i, i, {"x": 0.5, "k": 1}) for i in range(6)]
    try:
        kube_cluster.faults.latency = LATENCY
        platform.start(specs)  # four creates run, two wait for a thread
        platform.cancel("t5", "")
        kube_cluster.faults.latency = 0.0
        for spec in specs[:5]:
            platform.cancel(spec.trial_id, "")
        assert kube_cluster.requests.count(verb="create", resource="frameworks") == 5
        assert platform.started() == []
    finally:
        platform.cleanup()
        platform.close()
