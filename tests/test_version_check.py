"""versionCheck: the task wrapper records the nni its python imports and refuses versions
nnifc does not support (comparing whole major.minor numbers: 2.10 is newer than 2.9)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from nnifc.records import TrialSpec
from nnifc.wrapper import EXIT_NAME, LOG_NAME, SCRIPT, VERSION_NAME, task_env
from tests.conftest import VENV_BIN, created_id, run_nnifc, status_json

REFUSED = "nnifc: the task's python has nni {}, but nnifc supports nni 1.0 to 3.0"


def fake_nni(root: Path, version: str) -> Path:
    """An installed-looking nni distribution of `version`, to put first on PYTHONPATH."""
    (root / "nni").mkdir(parents=True)
    (root / "nni" / "__init__.py").write_text(f"__version__ = {version!r}\n")
    info = root / f"nni-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: nni\nVersion: {version}\n")
    return root


def run_task(tmp_path: Path, version: str | None, *, check: bool) -> tuple[int, str, str]:
    """Run the wrapper as a task would; its exit code, log and recorded nni version."""
    work = tmp_path / "work"
    work.mkdir()
    spec = TrialSpec("exp00001", "trial", 0, 0, {})
    env = task_env(
        spec,
        sys_dir=tmp_path / "trial",
        task="worker_0",
        command="echo training",
        workdir=work,
        version_check=check,
    )
    paths = [str(fake_nni(tmp_path / "site", version))] if version else []
    env |= {
        "PATH": VENV_BIN + os.pathsep + os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join(paths),
    }
    if version is None:  # a python without nni at all
        env["PYTHONNOUSERSITE"] = "1"
        env["PATH"] = "/usr/bin:/bin"
    done = subprocess.run(["sh", "-c", SCRIPT, "wrapper"], env=env, capture_output=True, timeout=60)
    output = tmp_path / "trial" / "output" / "worker_0"
    recorded = (output / VERSION_NAME).read_text().strip()
    assert (output / EXIT_NAME).read_text().strip() == str(done.returncode)
    return done.returncode, (output / LOG_NAME).read_text(), recorded


@pytest.mark.parametrize("version", ["0.9", "3.1", "10.0"])
def test_an_unsupported_nni_stops_the_task_before_the_command(tmp_path: Path, version: str) -> None:
    code, log, recorded = run_task(tmp_path, version, check=True)
    assert (code, recorded) == (71, version)
    assert log == REFUSED.format(version) + " (versionCheck is true)\n"


@pytest.mark.parametrize("version", ["1.0", "2.10", "2.9.1", "3.0rc1"])
def test_supported_versions_run_silently(tmp_path: Path, version: str) -> None:
    code, log, recorded = run_task(tmp_path, version, check=True)
    assert (code, log, recorded) == (0, "training\n", version)


def test_version_check_false_warns_and_runs(tmp_path: Path) -> None:
    code, log, _ = run_task(tmp_path, "0.9", check=False)
    assert code == 0
    assert log == REFUSED.format("0.9") + "; running anyway (versionCheck is false)\ntraining\n"


def test_a_task_without_nni_runs_and_records_nothing(tmp_path: Path) -> None:
    assert run_task(tmp_path, None, check=True) == (0, "training\n", "")


def test_a_mismatched_trial_fails_with_the_message(
    home: Path,
    experiment_files: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(fake_nni(tmp_path / "old", "0.8")))
    config = experiment_files("print('training')\n", max_trials=1, concurrency=1)
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 0, result.stderr
    (only,) = status_json(created_id(result))["trials"]
    assert only["status"] == "FAILED"
    assert only["message"] == "exit code 71: " + REFUSED.format("0.8") + " (versionCheck is true)"
    logs = run_nnifc("logs", only["id"]).stdout
    assert "training" not in logs
