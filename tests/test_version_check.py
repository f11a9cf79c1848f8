"""versionCheck: the task wrapper records the nni its python imports and refuses versions
nnifc does not support (comparing whole major.minor numbers: 2.10 is newer than 2.9), and a
python with no nni at all, naming that python and how to fix it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from nnifc.records import TrialSpec
from nnifc.wrapper import EXIT_NAME, LOG_NAME, SCRIPT, VERSION_NAME, task_env
from tests.conftest import VENV_BIN, created_id, run_nnifc, status_json

REFUSED = "nnifc: the task's python has nni {}, but nnifc supports nni 1.0 to 3.0"
NO_NNI = (
    "nnifc: {python} cannot import nni; install it there ({python} -m pip install nni) "
    "or put the python that has it first on PATH (versionCheck: false if the trial does not use nni)"
)


def fake_nni(root: Path, version: str, *, dist_info: bool = True) -> Path:
    """An installed-looking nni distribution of `version`, to put first on PYTHONPATH; without
    `dist_info`, a bare package (a source checkout): only its __version__ says which it is."""
    (root / "nni").mkdir(parents=True)
    (root / "nni" / "__init__.py").write_text(f"__version__ = {version!r}\n")
    if not dist_info:
        return root
    info = root / f"nni-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: nni\nVersion: {version}\n")
    return root


def python_without_nni(bin_dir: Path) -> Path:
    """A `python3` on PATH that cannot import nni: the test's own python without site-packages."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "python3"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    shim.chmod(0o755)
    return shim


def tools_without_python(bin_dir: Path) -> Path:
    """A PATH directory holding the commands the wrapper uses, and no python."""
    bin_dir.mkdir(parents=True)
    for tool in ("sh", "mkdir", "dirname", "sed", "tee", "cat", "mv", "rm"):
        found = shutil.which(tool)
        assert found is not None, tool
        (bin_dir / tool).symlink_to(found)
    return bin_dir


def run_task(
    tmp_path: Path,
    version: str | None,
    *,
    check: bool,
    dist_info: bool = True,
    path: str | None = None,
    shell: str = "sh",
) -> tuple[int, str, str]:
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
    paths = [str(fake_nni(tmp_path / "site", version, dist_info=dist_info))] if version else []
    env |= {
        "PATH": path or VENV_BIN + os.pathsep + os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join(paths),
        "PYTHONNOUSERSITE": "1",
    }
    program = shutil.which(shell)
    assert program is not None, shell
    done = subprocess.run(
        [program, "-c", SCRIPT, "wrapper"], env=env, capture_output=True, timeout=60
    )
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


@pytest.mark.parametrize("shell", ["dash", "bash"])  # FrameworkController images: POSIX sh
def test_a_python_without_nni_stops_the_task_naming_that_python_and_the_fix(
    tmp_path: Path, shell: str
) -> None:
    python = python_without_nni(tmp_path / "bin")
    path = f"{python.parent}{os.pathsep}{os.environ['PATH']}"
    code, log, recorded = run_task(tmp_path, None, check=True, path=path, shell=shell)
    assert (code, recorded) == (71, "")
    assert log == NO_NNI.format(python=python) + "\n"


def test_without_nni_and_version_check_false_warns_and_runs(tmp_path: Path) -> None:
    python = python_without_nni(tmp_path / "bin")
    path = f"{python.parent}{os.pathsep}{os.environ['PATH']}"
    code, log, recorded = run_task(tmp_path, None, check=False, path=path)
    assert (code, recorded) == (0, "")
    assert log == (
        f"nnifc: {python} cannot import nni; running anyway (versionCheck is false)\ntraining\n"
    )


def test_no_python_on_path_stops_the_task_saying_so(tmp_path: Path) -> None:
    path = str(tools_without_python(tmp_path / "bin"))
    code, log, recorded = run_task(tmp_path, None, check=True, path=path)
    assert (code, recorded) == (71, "")
    assert log == (
        f"nnifc: there is no python3 or python on PATH ({path}), so the task cannot import nni; "
        "put a python that has nni on PATH (versionCheck: false if the trial does not use nni)\n"
    )


def test_a_trial_whose_python_has_no_nni_fails_with_that_message(
    home: Path, experiment_files: Callable[..., Path], tmp_path: Path
) -> None:
    short = Path(tempfile.mkdtemp())  # the message holds the path twice: keep it short
    python = python_without_nni(short)
    config = experiment_files("import nni\nprint('training')\n", max_trials=1, concurrency=1)
    trial_path = os.pathsep.join([str(python.parent), VENV_BIN, os.environ["PATH"]])
    result = subprocess.run(
        [sys.executable, "-m", "nnifc", "create", "--config", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": trial_path, "PYTHONNOUSERSITE": "1"},
        timeout=180,
    )
    shutil.rmtree(short)
    assert result.returncode == 3, result.stderr  # no trial produced a result
    (only,) = status_json(created_id(result))["trials"]
    assert only["status"] == "FAILED"
    assert only["message"] == "exit code 71: " + NO_NNI.format(python=python)
    logs = run_nnifc("logs", only["id"]).stdout
    assert "training" not in logs and "ModuleNotFoundError" not in logs


def test_a_mismatched_trial_fails_with_the_message(
    home: Path,
    experiment_files: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(fake_nni(tmp_path / "old", "0.8")))
    config = experiment_files("print('training')\n", max_trials=1, concurrency=1)
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 3, result.stderr  # no trial produced a result
    (only,) = status_json(created_id(result))["trials"]
    assert only["status"] == "FAILED"
    assert only["message"] == "exit code 71: " + REFUSED.format("0.8") + " (versionCheck is true)"
    logs = run_nnifc("logs", only["id"]).stdout
    assert "training" not in logs


@pytest.mark.parametrize("dist_info", [True, False])
def test_the_version_is_read_with_or_without_the_packages_metadata(
    tmp_path: Path, dist_info: bool
) -> None:
    code, log, recorded = run_task(tmp_path, "0.9", check=True, dist_info=dist_info)
    assert (code, recorded) == (71, "0.9")
    assert REFUSED.format("0.9") in log
