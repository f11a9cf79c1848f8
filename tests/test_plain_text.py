"""User and trial text is shown as written, never as rich markup or terminal control: names,
paths, parameters and trial output go through every command of the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import VENV_BIN, created_id, run_nnifc, status_json

MARKUP = ("[/]", "[bold]x[/bold]", "[link=http://x]y[/link]", ":thumbs_up:")
NAME = "n " + " ".join(MARKUP)
FAILURE = "failed on " + " ".join(MARKUP)
MARKUP_TRIAL = f"""\
    import sys
    import nni

    p = nni.get_next_parameter()
    print("said", p["c"], flush=True)
    if p["c"] == "[/]":
        print({FAILURE!r}, flush=True)
        sys.exit(3)
    nni.report_final_result(0.5)
"""


def write_experiment(base: Path, name: str, trial: str, choices: list[str]) -> Path:
    """A local GridSearch experiment over `choices` of parameter c (no optimize_mode: a
    warning that names the config's path)."""
    code = base / "code"
    code.mkdir(parents=True)
    (code / "trial.py").write_text(textwrap.dedent(trial))
    (base / "space.json").write_text(json.dumps({"c": {"_type": "choice", "_value": choices}}))
    config = base / "exp.yml"
    config.write_text(
        textwrap.dedent(f"""\
        experimentName: {json.dumps(name)}
        trialConcurrency: 3
        maxTrialNum: 10
        trainingServicePlatform: local
        searchSpacePath: space.json
        tuner:
          builtinTunerName: GridSearch
        trial:
          command: python3 trial.py
          codeDir: code
        """)
    )
    return config


def shown(result: subprocess.CompletedProcess[str], *texts: str, code: int = 0) -> str:
    """The command's output, asserted to end with `code`, in no traceback, holding `texts`."""
    both = result.stdout + result.stderr
    assert result.returncode == code, both
    for bad in ("Traceback", "MarkupError", "unexpected error"):
        assert bad not in both, both
    for text in texts:
        assert text in both, f"{text!r} not in:\n{both}"
    return both


@pytest.fixture
def odd_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "h[/]" / "[bold]x[/bold] :thumbs_up:"
    monkeypatch.setenv("NNIFC_HOME", str(path))
    monkeypatch.setenv("COLUMNS", "200")
    return path


def test_every_command_shows_markup_as_written(odd_home: Path, tmp_path: Path) -> None:
    base = tmp_path / "c[/]" / "[bold]x[/bold] :thumbs_up:"
    config = write_experiment(base, NAME, MARKUP_TRIAL, list(MARKUP[:3]))
    params = [json.dumps({"c": c}) for c in MARKUP[:3]]

    dry = shown(run_nnifc("create", "--config", str(config), "--dry-run"), NAME, str(config))
    assert "nothing was created" in dry
    made = run_nnifc("create", "--config", str(config))
    shown(made, f"({NAME}) on local", FAILURE, *params)
    assert str(config) in made.stderr  # the optimize_mode warning
    exp_id = created_id(made)

    shown(run_nnifc("status"), NAME)
    shown(run_nnifc("status", exp_id), NAME, FAILURE, *params)
    document = status_json(exp_id)
    assert document["name"] == NAME
    failed = next(t for t in document["trials"] if t["status"] == "FAILED")
    assert FAILURE in failed["message"]
    shown(run_nnifc("logs", exp_id, failed["id"]), FAILURE)
    shown(run_nnifc("kill", exp_id, failed["id"]), "had already ended: FAILED")

    exported = tmp_path / "e[/]" / "[bold]x[/bold] :thumbs_up:.json"
    exported.parent.mkdir(parents=True)
    shown(run_nnifc("export", exp_id), *MARKUP[1:3])
    shown(run_nnifc("export", exp_id, "-f", str(exported)), f"written to {exported}")

    wider = tmp_path / "s[/]" / "[bold]x[/bold] :thumbs_up:.json"
    wider.parent.mkdir(parents=True)
    more = [*MARKUP[1:3], "[bold]y[/bold]"]
    wider.write_text(json.dumps({"c": {"_type": "choice", "_value": more}}))
    shown(run_nnifc("update", exp_id, "--search-space", str(wider)), f"search space <- {wider}")
    shown(run_nnifc("resume", exp_id), f"{exp_id} resumed", json.dumps({"c": "[bold]y[/bold]"}))
    shown(run_nnifc("stop", exp_id), f"experiment {exp_id}: DONE")

    shown(run_nnifc("status", "[/]"), f"no experiment '[/]' in {odd_home}", code=1)
    bad = base / "bad.yml"
    bad.write_text(config.read_text().replace("GridSearch", json.dumps("[bold]x[/bold]")))
    shown(
        run_nnifc("create", "--config", str(bad)),
        f'{bad}:7:3: tuner.builtinTunerName: unknown tuner "[bold]x[/bold]"',
        code=1,
    )
    shown(
        run_nnifc("delete", exp_id),
        f"removed {odd_home / 'experiments' / exp_id}",
        f"experiment {exp_id} deleted",
    )


# A failing trial's last line (its failure message) holds an OSC 8 hyperlink, a screen clear,
# colours, a carriage return, an 8-bit CSI and a bell.
ESCAPES = (
    b"\x1b]8;;http://evil\x07link\x1b]8;;\x07 \x1b[2J\x1b[31mred\x1b[0m\rback \xc2\x9b2J bell\x07"
)
OUTPUT = b"first line\n" + ESCAPES + b"\n"
ESCAPE_TRIAL = f"""\
    import sys
    import nni

    nni.get_next_parameter()
    sys.stdout.buffer.write({OUTPUT!r})
    sys.stdout.flush()
    sys.exit(3)
"""
CONTROL = (b"\x1b", b"\x07", b"\r", b"\xc2\x9b", b"8;;http")


def run_bytes(*args: str) -> subprocess.CompletedProcess[bytes]:
    """The real command with piped output and no colour: rich itself writes no escape."""
    env = {
        **os.environ,
        "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
        "NO_COLOR": "1",
        "TERM": "dumb",
    }
    return subprocess.run(
        [sys.executable, "-m", "nnifc", *args], capture_output=True, env=env, timeout=180
    )


def no_control(result: subprocess.CompletedProcess[bytes]) -> str:
    for stream in (result.stdout, result.stderr):
        for byte in CONTROL:
            assert byte not in stream, f"{byte!r} in:\n{stream!r}"
    return (result.stdout + result.stderr).decode()


def test_trial_and_user_escapes_never_reach_the_terminal(home: Path, tmp_path: Path) -> None:
    name = "e\x1b[2Jname\x1b]8;;http://evil\x07\x9b"
    config = write_experiment(tmp_path, name, ESCAPE_TRIAL, ["a\x1b[2J", "b"])
    dry = run_bytes("create", "--config", str(config), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    no_control(dry)
    made = run_bytes("create", "--config", str(config))
    said = no_control(made)
    assert made.returncode == 3 and "Traceback" not in said, said
    assert "link" in said and "red" in said and "back" in said  # the text stays, readable
    exp_id = created_id(subprocess.CompletedProcess([], 0, said, ""))
    for args in (("status",), ("status", exp_id)):
        listed = run_bytes(*args)
        assert listed.returncode == 0, listed.stderr
        no_control(listed)
    trial_id = status_json(exp_id)["trials"][0]["id"]
    logs = run_bytes("logs", exp_id, trial_id)
    assert logs.returncode == 0 and logs.stdout == OUTPUT  # logs stay byte-exact
