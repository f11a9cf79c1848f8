"""Shared fixtures: an isolated NNIFC_HOME and a way to run the real `nnifc` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

VENV_BIN = str(Path(sys.executable).parent)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "nnifc-home"
    monkeypatch.setenv("NNIFC_HOME", str(path))
    return path


def nnifc_env() -> dict[str, str]:
    """This environment with the test venv's python first on PATH, for trials."""
    return {**os.environ, "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", "")}


def run_nnifc(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """The real command in a child process, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "nnifc", *args],
        capture_output=True,
        text=True,
        env=nnifc_env(),
        timeout=timeout,
    )


def start_nnifc(*args: str) -> subprocess.Popen[str]:
    """The real command in a child process, running on; its output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "nnifc", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=nnifc_env(),
    )


# The promise `status --json` makes (shipped with the package): every document a test reads is
# checked against it. date-time is checked by the schema's pattern (FormatChecker checks it too
# when rfc3339-validator is installed).
STATUS_SCHEMA: dict[str, Any] = json.loads(
    (files("nnifc") / "schemas/status.schema.json").read_text(encoding="utf-8")
)
STATUS_VALIDATOR = Draft202012Validator(STATUS_SCHEMA, format_checker=FormatChecker())
IN_PROCESS = threading.Lock()


def status_errors(doc: object) -> list[str]:
    """Where `doc` breaks the status schema, one line each (empty when it conforms)."""
    return sorted(f"{e.json_path}: {e.message}" for e in STATUS_VALIDATOR.iter_errors(doc))


def checked_status(doc: object) -> dict[str, Any]:
    """One experiment's `status --json` document, asserted to conform to the schema."""
    errors = status_errors(doc)
    assert not errors, "status --json breaks nnifc/schemas/status.schema.json:\n" + "\n".join(
        errors
    )
    assert isinstance(doc, dict)
    return doc


def status_json(exp_id: str) -> dict[str, Any]:
    """`nnifc status EXP --json`, run in this process: the same command, without the second of
    CPU a new interpreter spends importing it (tests poll this while they wait)."""
    from click.testing import CliRunner

    from nnifc.cli import cli

    with IN_PROCESS:  # the runner swaps sys.stdout for the whole process, so one at a time
        result = CliRunner().invoke(cli, ["status", exp_id, "--json"], prog_name="nnifc")
    assert result.exit_code == 0, result.output + result.stderr
    return checked_status(json.loads(result.stdout))


def status_list_json() -> list[dict[str, Any]]:
    """`nnifc status --json`: every experiment's document, each checked against the schema."""
    result = run_nnifc("status", "--json")
    assert result.returncode == 0, result.stderr
    docs = json.loads(result.stdout)
    assert isinstance(docs, list), docs
    return [checked_status(doc) for doc in docs]


def wait_for(
    predicate: Callable[[], bool],
    timeout: float = 60,
    what: str = "condition",
    *,
    interval: float = 0.2,
    quiet: bool = False,
) -> bool:
    """Call `predicate` every `interval` seconds until it is true (True). At `timeout` it is a
    failed test, or False when `quiet` (the caller goes on either way)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    if quiet:
        return False
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def grown(counter: Callable[[], int]) -> Callable[[], bool]:
    """A predicate for wait_for: has `counter` gone past the value it has now?"""
    before = counter()
    return lambda: counter() > before


@pytest.fixture
def experiment_files(tmp_path: Path) -> Callable[..., Path]:
    """Write a trial script, a search space and a local-platform config; return the config path."""

    def write(
        trial: str,
        *,
        command: str = "python3 trial.py",
        max_trials: int = 4,
        concurrency: int = 2,
        tuner: str = "Random",
        extra: str = "",
        space: dict[str, Any] | None = None,
    ) -> Path:
        code = tmp_path / "code"
        code.mkdir(exist_ok=True)
        (code / "trial.py").write_text(textwrap.dedent(trial))
        (tmp_path / "space.json").write_text(
            json.dumps(
                space
                or {
                    "x": {"_type": "uniform", "_value": [0, 1]},
                    "k": {"_type": "randint", "_value": [1, 5]},
                }
            )
        )
        config = tmp_path / "exp.yml"
        config.write_text(
            textwrap.dedent(f"""\
            experimentName: test
            trialConcurrency: {concurrency}
            maxTrialNum: {max_trials}
            trainingServicePlatform: local
            searchSpacePath: space.json
            tuner:
              builtinTunerName: {tuner}
              classArgs: {{optimize_mode: maximize, seed: 1}}
            trial:
              command: {json.dumps(command)}
              codeDir: code
            """)
            + textwrap.dedent(extra)
        )
        return config

    return write


def trial_processes(exp_id: str) -> list[int]:
    """Pids of live processes started for the experiment (found by the env nnifc gave them)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"NNI_EXP_ID={exp_id}".encode() in environ and state != "Z":
            found.append(int(entry.name))
    return found


def created_id(result: subprocess.CompletedProcess[str]) -> str:
    """The experiment id from `nnifc create` output ("experiment <id> ...")."""
    for line in result.stdout.splitlines():
        if line.startswith("experiment "):
            return line.split()[1]
    raise AssertionError(f"no experiment id in output:\n{result.stdout}\n{result.stderr}")


def loop_pid(exp_id: str) -> int:
    """The pid of the detached `run-loop` process of an experiment."""
    for pid in Path("/proc").iterdir():
        try:
            cmdline = (pid / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"run-loop" in cmdline and exp_id.encode() in cmdline:
            return int(pid.name)
    raise AssertionError("no run-loop process")
