"""Finding the cluster as kubectl does, and saying what is wrong when it cannot: a kubeconfig
that does not exist is named as missing (not "Invalid kube-config file"), and an unknown
--context lists the contexts there are. Real kubeconfig files in temporary directories."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnifc.errors import NoKubeconfig, PlatformError
from nnifc.platforms.frameworkcontroller.k8s import connect
from tests.fcconfig import fc_config, nfs_storage

CONFIG = """\
apiVersion: v1
kind: Config
clusters:
- {{name: c, cluster: {{server: "https://127.0.0.1:6443"}}}}
users:
- {{name: u, user: {{token: t}}}}
contexts:
{contexts}
{current}
"""


def kubeconfig(path: Path, *names: str, current: str | None = None, namespace: str = "") -> Path:
    contexts = "\n".join(
        f"- {{name: {n}, context: {{cluster: c, user: u{', namespace: ' + namespace if namespace else ''}}}}}"
        for n in names
    )
    line = f"current-context: {current}" if current else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CONFIG.format(contexts=contexts or "[]", current=line))
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME, no KUBECONFIG, not inside a pod."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_no_kube_config_in_home_says_it_does_not_exist(home: Path) -> None:
    with pytest.raises(NoKubeconfig) as caught:
        connect()
    message = str(caught.value)
    assert message.startswith(f"no kubeconfig: {home}/.kube/config does not exist; set KUBECONFIG")
    assert "Invalid kube-config" not in message


def test_kubeconfig_naming_a_missing_file_says_so(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig(home / ".kube" / "config", "a", current="a")  # not consulted: KUBECONFIG wins
    missing = tmp_path / "nowhere.yaml"
    monkeypatch.setenv("KUBECONFIG", str(missing))
    with pytest.raises(NoKubeconfig, match=f"^no kubeconfig: {missing} does not exist; "):
        connect()
    other = tmp_path / "other.yaml"
    monkeypatch.setenv("KUBECONFIG", f"{missing}{os.pathsep}{other}")
    with pytest.raises(NoKubeconfig, match=f"^no kubeconfig: none of {missing}, {other} exists; "):
        connect(context="a")


def test_an_unknown_context_lists_the_contexts_there_are(home: Path) -> None:
    path = kubeconfig(home / ".kube" / "config", "a", "b", current="a")
    with pytest.raises(PlatformError) as caught:
        connect(context="x")
    assert str(caught.value) == f'no context "x" in {path}; contexts: a, b'


def test_files_are_merged_as_kubectl_merges_them(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = kubeconfig(tmp_path / "one.yaml", "a", current="a")
    second = kubeconfig(tmp_path / "two.yaml", "b", namespace="team")
    missing = tmp_path / "missing.yaml"  # skipped, as kubectl skips it
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(map(str, (first, missing, second))))
    cluster = connect(context="b")
    try:
        assert (cluster.context, cluster.namespace) == ("b", "team")
        assert cluster.api.configuration.host == "https://127.0.0.1:6443"
    finally:
        cluster.close()
    current = connect(namespace="mine")
    try:
        assert (current.context, current.namespace) == ("a", "mine")
    finally:
        current.close()
    with pytest.raises(PlatformError) as caught:
        connect(context="c")
    assert str(caught.value) == f'no context "c" in {first}, {second}; contexts: a, b'


def test_no_current_context_asks_for_one(home: Path) -> None:
    path = kubeconfig(home / ".kube" / "config", "a", "b")
    with pytest.raises(PlatformError) as caught:
        connect()
    assert str(caught.value) == f"no current-context in {path}; pass --context (contexts: a, b)"
    cluster = connect(context="b")
    cluster.close()


def test_a_current_context_that_is_not_there_is_named(home: Path) -> None:
    path = kubeconfig(home / ".kube" / "config", "a", current="gone")
    with pytest.raises(PlatformError) as caught:
        connect()
    assert str(caught.value).startswith(f'current-context "gone" is not in {path}; contexts: a; ')


def test_a_kubeconfig_that_is_not_yaml_is_one_clear_error(home: Path) -> None:
    path = home / ".kube" / "config"
    path.parent.mkdir()
    path.write_text("clusters: [unclosed\n")
    with pytest.raises(PlatformError) as caught:
        connect()
    assert str(caught.value).startswith(f"no usable Kubernetes configuration ({path}): ")


def test_create_with_an_unknown_context_says_which_there_are(tmp_path: Path, home: Path) -> None:
    path = kubeconfig(tmp_path / "kube.yaml", "prod", "staging", current="prod")
    config = fc_config(
        tmp_path,
        nfs_storage("10.0.0.4", "/x"),
        trial="print(1)\n",
        space={"x": {"_type": "uniform", "_value": [0, 1]}},
        name="ctx",
        tuner={"builtinTunerName": "TPE", "classArgs": {"optimize_mode": "maximize"}},
    )
    env = {**os.environ, "KUBECONFIG": str(path), "NNIFC_HOME": str(tmp_path / "nnifc-home")}
    command = [sys.executable, "-m", "nnifc", "create", "--config", str(config), "--context", "qa"]
    for dry_run in ([], ["--dry-run"]):
        result = subprocess.run(
            [*command, *dry_run],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert result.returncode == 1, result.stdout
        assert result.stderr.splitlines() == [
            f'Error: no context "qa" in {path}; contexts: prod, staging'
        ]
    assert not (tmp_path / "nnifc-home").exists()
