"""The `kube_cluster` pytest fixture: API server double + FrameworkController simulator.

Why: launcher tests should talk to "a cluster" exactly as in production (a kubeconfig file,
the official client) while still being able to reach behind the curtain: flip faults, look at
stored objects and raw request bodies, map NFS/Azure storage to local directories, and be sure
that every process a test started is dead when it ends.

Usage::

    from tests.k8sim.fixture import kube_cluster  # noqa: F401  (re-export makes it a fixture)

    def test_submit(kube_cluster: KubeCluster, tmp_path: Path) -> None:
        kube_cluster.nfs_exports[("10.0.0.1", "/export")] = tmp_path
        ...  # the launcher calls config.load_kube_config() and finds $KUBECONFIG
        kube_cluster.wait_for(lambda: kube_cluster.state("trial1") == "Completed")
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .apiserver import ApiServer
from .faults import Faults, RequestLog
from .kubelet import Kubelet
from .resources import RESOURCES
from .simulator import Simulator
from .store import Store
from .volumes import VolumeSources

Obj = dict[str, Any]
TOKEN = "k8sim-token"


def plural_of(kind: str) -> str:
    """Accept "frameworks", "Framework", "framework", "pods", "Pod", "cm", ..."""
    lowered = kind.lower()
    for plural, resource in RESOURCES.items():
        if lowered in (plural, resource.kind.lower(), *resource.short_names):
            return plural
    raise KeyError(f"k8sim does not serve {kind!r}")


def write_kubeconfig(path: Path, url: str, token: str = TOKEN, namespace: str = "default") -> Path:
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: sim
  cluster:
    server: {url}
users:
- name: sim
  user:
    token: {token}
contexts:
- name: sim
  context:
    cluster: sim
    user: sim
    namespace: {namespace}
current-context: sim
preferences: {{}}
"""
    )
    return path


@dataclass
class KubeCluster:
    """Handle on a running double; every attribute is safe to use from the test thread."""

    store: Store
    api: ApiServer
    kubelet: Kubelet
    simulator: Simulator
    kubeconfig: Path
    workdir: Path

    # ---- wiring ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.api.url

    @property
    def token(self) -> str:
        return self.api.token

    @property
    def faults(self) -> Faults:
        return self.api.faults

    @property
    def requests(self) -> RequestLog:
        return self.api.requests

    @property
    def nfs_exports(self) -> dict[tuple[str, str], Path]:
        return self.kubelet.sources.nfs_exports

    @property
    def azure_shares(self) -> dict[str, Path]:
        return self.kubelet.sources.azure_shares

    @property
    def pvc_dirs(self) -> dict[str, Path]:
        return self.kubelet.sources.pvc_dirs

    @property
    def bad_images(self) -> set[str]:
        return self.kubelet.bad_images

    @property
    def gpu_unschedulable(self) -> bool:
        return self.kubelet.gpu_unschedulable

    @gpu_unschedulable.setter
    def gpu_unschedulable(self, value: bool) -> None:
        self.kubelet.gpu_unschedulable = value

    # ---- looking inside --------------------------------------------------------------------

    def objects(self, kind: str, namespace: str | None = "default") -> list[Obj]:
        """Current objects of a kind (None: all namespaces), as stored (deep copies)."""
        return self.store.select(plural_of(kind), namespace)[0]

    def get(self, kind: str, name: str, namespace: str = "default") -> Obj | None:
        return self.store.find(plural_of(kind), namespace, name)

    def created(self, kind: str) -> list[Obj]:
        """Every body POSTed to create this kind, exactly as received (before any defaulting)."""
        return self.api.created_bodies(plural_of(kind))

    def completions(self) -> dict[tuple[str, str], float]:
        """(namespace, name) -> wall-clock time (time.time()) each Framework reached Completed."""
        return dict(self.simulator.controller.completed_at)

    def processes(self) -> list[int]:
        """PIDs of live container processes."""
        return self.kubelet.processes()

    def state(self, framework: str, namespace: str = "default") -> str | None:
        """`status.state` of a Framework, or None when it has no status or does not exist."""
        fw = self.get("frameworks", framework, namespace)
        return ((fw or {}).get("status") or {}).get("state")

    def expire_history(self) -> None:
        """Watches resuming from any resourceVersion older than now get 410 Gone."""
        self.store.expire_history()

    def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition"
    ) -> Any:
        """Poll `predicate` (every 10 ms) until truthy; returns its value or raises AssertionError."""
        deadline = time.monotonic() + timeout
        while True:
            if self.simulator.errors:
                raise AssertionError("k8sim simulator raised:\n" + self.simulator.errors[0])
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"k8sim: timed out after {timeout}s waiting for {what}")
            time.sleep(0.01)

    # ---- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Kill every container process, close every connection, stop the threads."""
        self.simulator.stop()
        self.api.stop()
        if self.simulator.errors:
            raise AssertionError("k8sim simulator raised:\n" + "\n".join(self.simulator.errors))


def start_cluster(
    workdir: Path,
    *,
    token: str = TOKEN,
    namespaces: set[str] | None = None,
    seed: int = 0,
    fast_seconds: float | None = None,
) -> KubeCluster:
    """Start a double serving on 127.0.0.1 (random port) with its simulator thread.

    `fast_seconds`: containers start no process and exit 0 after that long, having written what
    an nnifc task writes (see fast.py); None (the default) runs each command as a process.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    store = Store()
    kubelet = Kubelet(store, workdir / "pods", VolumeSources())
    kubelet.fast_seconds = fast_seconds
    api = ApiServer(
        store,
        token=token,
        faults=Faults(seed),
        requests=RequestLog(),
        namespaces=namespaces,
        logs=kubelet,
    )
    api.start()
    simulator = Simulator(store, kubelet).start()
    kubeconfig = write_kubeconfig(workdir / "kubeconfig", api.url, token)
    return KubeCluster(store, api, kubelet, simulator, kubeconfig, workdir)


@pytest.fixture
def kube_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeCluster]:
    """A fresh cluster per test; KUBECONFIG points at it, the client's defaults are restored."""
    from kubernetes import client
    from kubernetes import config as kube_config_pkg
    from kubernetes.config import kube_config

    workdir = Path(tempfile.mkdtemp(prefix="k8sim-"))
    cluster = start_cluster(workdir)
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    # The client reads $KUBECONFIG once, at import; make argument-less loads find this cluster
    # as they would if KUBECONFIG had been set before the process started.
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(cluster.kubeconfig))
    monkeypatch.setattr(kube_config_pkg, "KUBE_CONFIG_DEFAULT_LOCATION", str(cluster.kubeconfig))
    # load_kube_config() installs a process-wide default Configuration; undo it afterwards.
    monkeypatch.setattr(
        client.Configuration, "_default", getattr(client.Configuration, "_default", None)
    )
    monkeypatch.setattr(client.ApiClient, "_default", getattr(client.ApiClient, "_default", None))
    try:
        yield cluster
    finally:
        try:
            cluster.close()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
