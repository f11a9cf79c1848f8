"""Every broken config and search space in tests/corpus/cases fails `nnifc create` as a user needs.

One case per file. A YAML case states what it expects on its first line, a JSON case (or a case
that cannot hold a comment) in a sidecar `<case>.expect`:

    # expect: 14:5 trial.taskRoles[0].name: must match ^[a-z0-9]{1,63}$, got "Worker"

that is `line:column dotted.key: message substring`, with `-` for "no key" and `0:0` for "no
position". Each case goes through the real CLI in-process (`create --config <case>`); a JSON case
through a small valid config, written to a temporary directory, whose searchSpacePath names it.
The first line of stderr must then be exactly `Error: <file>:<line>:<col>: <key>: ...` with the
message containing the substring; the exit code must be 1, no traceback may show, and nothing may
appear under NNIFC_HOME.

Where the library's current answer is wrong or unhelpful, the case states what a user deserves and
is listed in XFAIL with what it says today.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from nnifc import experiments
from nnifc.cli import cli

CORPUS = Path(os.path.abspath(__file__)).parent / "corpus"
CASES = CORPUS / "cases"
EXPECT = re.compile(r"^(?P<line>\d+):(?P<column>\d+) (?P<key>\S+?): (?P<message>.+)$")

XFAIL: dict[str, str] = {}


@dataclass(frozen=True)
class Expectation:
    line: int
    column: int
    key: str  # "" for a problem of the whole document
    message: str  # a substring of the message

    def prefix(self, path: Path) -> str:
        where = f"{path}:{self.line}:{self.column}" if self.line else f"{path}"
        return f"Error: {where}: {self.key}: " if self.key else f"Error: {where}: "


def expectation(case: Path) -> Expectation:
    sidecar = case.with_name(case.name + ".expect")
    if sidecar.exists():
        text = sidecar.read_text(encoding="utf-8").strip()
    else:
        first = case.read_bytes().split(b"\n", 1)[0].decode("utf-8")
        assert first.startswith("# expect: "), f"{case.name}: no '# expect:' first line"
        text = first.removeprefix("# expect: ")
    found = EXPECT.match(text)
    assert found, f"{case.name}: malformed expectation {text!r}"
    key = found["key"]
    return Expectation(
        int(found["line"]), int(found["column"]), "" if key == "-" else key, found["message"]
    )


def case_names() -> list[str]:
    """Every case file (or directory) in CASES, plus sidecars whose case is missing on purpose."""
    return sorted({p.name.removesuffix(".expect") for p in CASES.iterdir()})


def params() -> list[Any]:
    return [
        pytest.param(
            name,
            marks=[pytest.mark.xfail(strict=True, reason=XFAIL[name])] if name in XFAIL else [],
        )
        for name in case_names()
    ]


def wrapper(tmp_path: Path, space: Path) -> Path:
    """A valid local config whose only oddity can be the search space it names."""
    config = tmp_path / "config" / "experiment.yml"
    config.parent.mkdir()
    config.write_text(
        "experimentName: corpus\n"
        "trialConcurrency: 1\n"
        "maxTrialNum: 1\n"
        "trainingServicePlatform: local\n"
        f"searchSpacePath: {json.dumps(str(space))}\n"
        "useAnnotation: false\n"
        "tuner:\n"
        "  builtinTunerName: Random\n"
        "  classArgs:\n"
        "    optimize_mode: maximize\n"
        "trial:\n"
        "  command: python3 train.py\n"
        f"  codeDir: {json.dumps(str(CORPUS / 'code'))}\n",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty NNIFC_HOME; registering an experiment fails the test instead of running trials."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("NNIFC_HOME", str(path))

    def register(*args: object, **kwargs: object) -> None:
        raise AssertionError("the config was accepted and an experiment was about to be created")

    monkeypatch.setattr(experiments, "register", register)
    return path


def create(*args: str) -> Result:
    return CliRunner().invoke(cli, ["create", *args])


def created(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


def test_corpus_is_large_enough() -> None:
    names = case_names()
    assert len(names) >= 45
    assert sum(n.endswith(".json") for n in names) >= 20


def test_corpus_baseline_is_valid(tmp_path: Path, home: Path) -> None:
    """The wrapper around JSON cases is valid with the corpus's valid search space."""
    result = create("--config", str(wrapper(tmp_path, CORPUS / "space.json")), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "nothing was created" in result.stdout
    assert created(home) == []


@pytest.mark.parametrize("name", params())
def test_case(name: str, tmp_path: Path, home: Path) -> None:
    case = CASES / name
    expected = expectation(case)
    config = wrapper(tmp_path, case) if name.endswith(".json") else case

    result = create("--config", str(config))

    assert isinstance(result.exception, SystemExit), f"crashed: {result.exception!r}"
    assert "Traceback" not in result.output + result.stderr
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert lines, "nothing on stderr"
    prefix = expected.prefix(case)
    assert lines[0].startswith(prefix), f"\n  got:    {lines[0]}\n  wanted: {prefix}..."
    assert expected.message in lines[0][len(prefix) :], (
        f"\n  got:    {lines[0]}\n  wanted: {prefix}...{expected.message}..."
    )
    assert created(home) == []
