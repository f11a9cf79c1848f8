"""What the bad-input tests share: the base configs in tests/bad_input, `create --dry-run` in
process and as a bounded child, and the checks that a case was accepted or refused in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from nnifc import experiments
from nnifc.cli import cli

DATA = Path(os.path.abspath(__file__)).parent / "bad_input"
CODE = DATA / "code"
SPACE = DATA / "space.json"

L = "local"
F = "frameworkcontroller"


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty NNIFC_HOME; registering an experiment fails the test instead of running trials."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("NNIFC_HOME", str(path))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))

    def register(*args: object, **kwargs: object) -> None:
        raise AssertionError("the config was accepted and an experiment was about to be created")

    monkeypatch.setattr(experiments, "register", register)
    return path


def base_text(
    platform: str = "local",
    *,
    space: Path = SPACE,
    code: Path = CODE,
    max_files: int = 2000,
    max_mb: int = 300,
) -> str:
    text = (DATA / f"{platform}.yml").read_text(encoding="utf-8")
    return (
        text.replace("SPACE", json.dumps(str(space)))
        .replace("CODE", json.dumps(str(code)))
        .replace("MAXFILES", str(max_files))
        .replace("MAXMB", str(max_mb))
    )


def dry_run(config_path: Path | str) -> Result:
    return CliRunner().invoke(cli, ["create", "--config", str(config_path), "--dry-run"])


def created(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


def assert_accepted(result: Result, home: Path) -> None:
    assert result.exception is None, f"{result.exception!r}\n{result.output}"
    assert result.exit_code == 0, result.output
    assert "nothing was created (dry run)" in result.stdout
    assert created(home) == []


def assert_one_error(result: Result, home: Path, prefix: str, message: str) -> str:
    """Exit code 1, exactly one stderr line `prefix...message...`, no traceback, nothing made."""
    assert isinstance(result.exception, SystemExit), f"crashed: {result.exception!r}"
    assert "Traceback" not in result.output + result.stderr
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(prefix), f"\n  got:    {lines[0]}\n  wanted: {prefix}..."
    assert message in lines[0][len(prefix) :], f"\n  got:    {lines[0]}\n  wanted: ...{message}"
    assert created(home) == []
    return lines[0]


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[str], str | bytes]  # base text -> the case's file content
    expect: str  # "ok", or "line:col key: message" with "-" for no key and 0:0 for no position
    platform: str = "local"
    xfail: str | None = None

    def param(self) -> Any:
        marks = [pytest.mark.xfail(strict=True, reason=self.xfail)] if self.xfail else []
        return pytest.param(self, id=self.name, marks=marks)


def sub(old: str, new: str) -> Callable[[str], str]:
    def make(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return make


def add(extra: str) -> Callable[[str], str]:
    return lambda text: text + extra


def check(case_file: Path, expect: str, home: Path) -> None:
    result = dry_run(case_file)
    if expect == "ok":
        assert_accepted(result, home)
        return
    where, rest = expect.split(" ", 1)
    key, message = rest.split(": ", 1)
    line, column = (int(n) for n in where.split(":"))
    place = f"{case_file}:{line}:{column}" if line else f"{case_file}"
    prefix = f"Error: {place}: " + ("" if key == "-" else f"{key}: ")
    assert_one_error(result, home, prefix, message)


MiB = 1 << 20


@dataclass(frozen=True)
class Bounded:
    returncode: int
    stderr: str
    seconds: float
    peak_mb: float


def run_bounded(config_path: Path, home: Path, timeout: float = 120) -> Bounded:
    """`nnifc create --config PATH --dry-run` as a process: its exit, stderr, CPU seconds (user
    and system: its cost, which a machine busy with other work does not inflate as it does the
    wall time) and peak RSS; killed (and the test failed) after `timeout` wall seconds."""
    env = {**os.environ, "NNIFC_HOME": str(home), "KUBECONFIG": str(home.parent / "no-kube")}
    with tempfile.TemporaryFile() as err:
        start = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, "-m", "nnifc", "create", "--config", str(config_path), "--dry-run"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
        peak_kb = 0
        while True:
            peak_kb = max(peak_kb, _hwm_kb(child.pid))
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout:
                child.kill()
                child.wait()
                pytest.fail(f"nnifc create --dry-run ran for more than {timeout:.0f}s")
            time.sleep(0.02)
        seconds = usage.ru_utime + usage.ru_stime
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    print(f"{config_path.name}: {seconds:.2f} CPU s, peak {peak_kb / 1024:.0f} MB")
    return Bounded(child.returncode, stderr, seconds, peak_kb / 1024)


def _hwm_kb(pid: int) -> int:
    """The process's peak RSS so far (VmHWM), 0 once it has exited. Not wait4's ru_maxrss: at
    exec Linux carries into it the peak of the forking process, this test run's own."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for row in status:
                if row.startswith("VmHWM:"):
                    return int(row.split()[1])
    except OSError:
        pass
    return 0
