"""Hostile parameter values and trial commands (issue 6), run for real on the local platform:
each reaches the trial exactly as written, and nothing runs that the user did not write.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.badinput_helpers import assert_one_error, base_text, dry_run, empty_home
from tests.conftest import created_id, run_nnifc, status_json

__all__ = ["empty_home"]


# ---------------------------------------------------------------- hostile values, run for real

HOSTILE = [
    "it's \"quoted\" 'twice'",
    "$(touch PWNED_SUBSHELL)",
    "`touch PWNED_BACKTICK`",
    "line one\nline two\r\nline three",
    "; rm -rf ./PWNED_DIR ; echo gone",
    "&& touch PWNED_AND || true",
    "ünïcödé 实验 ✓ 🚀 \u200b\u202e",
    "\x01\x02\x1b[31mred\x1b[0m\x7f\t\\",
    "$HOME ${PATH} %s %n {0} {{}}",
    "-" * 3 + "help",
    "x" * 100_000,
    "",
    " ",
]


TRIAL = """\
    import json
    import nni

    params = nni.get_next_parameter()
    print(json.dumps(params), flush=True)
    nni.report_final_result(len(params["v"]))
"""


def write_local(
    tmp_path: Path, *, command: str, space: dict[str, Any], trials: int, tuner: str
) -> Path:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "trial.py").write_text(textwrap.dedent(TRIAL))
    (tmp_path / "space.json").write_text(json.dumps(space))
    cfg = tmp_path / "exp.yml"
    cfg.write_text(
        "experimentName: hostile\n"
        f"trialConcurrency: {min(trials, 4)}\n"
        f"maxTrialNum: {trials}\n"
        "trainingServicePlatform: local\n"
        "searchSpacePath: space.json\n"
        f"tuner:\n  builtinTunerName: {tuner}\n  classArgs: {{optimize_mode: maximize}}\n"
        f"trial:\n  command: {json.dumps(command, ensure_ascii=False)}\n  codeDir: code\n",
        encoding="utf-8",
    )
    return cfg


def test_hostile_choice_values_reach_the_trial_exactly(home: Path, tmp_path: Path) -> None:
    space = {"v": {"_type": "choice", "_value": HOSTILE}}
    cfg = write_local(
        tmp_path, command="python3 trial.py", space=space, trials=len(HOSTILE), tuner="GridSearch"
    )
    result = run_nnifc("create", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    data = status_json(created_id(result))
    trials = data["trials"]
    assert [t["status"] for t in trials] == ["SUCCEEDED"] * len(HOSTILE), trials
    assert sorted(t["parameters"]["v"] for t in trials) == sorted(HOSTILE)
    for trial in trials:
        logs = run_nnifc("logs", trial["id"])
        assert logs.returncode == 0, logs.stderr
        assert json.loads(logs.stdout.splitlines()[0]) == trial["parameters"]
        assert trial["final"] == len(trial["parameters"]["v"])
    leftovers = [p.name for p in tmp_path.rglob("PWNED*")]
    assert leftovers == []


COMMANDS = {
    "quotes": """printf '%s|%s|%s\\n' "it's" 'say "hi"' "back\\\\slash" """,
    "subshell_and_backticks": "echo $(echo sub) `echo tick` \"$(printf '%s' 'in quotes')\"",
    "semicolon_rm": "echo 'a;rm -rf ./victim' ; ls victim && echo still-there",
    "newlines": "echo one\necho two\n\necho 'three\nfour'",
    "unicode": "echo 'ünïcödé 实验 ✓ 🚀'; printf '%s\\n' \"€\"",
    "binaryish": "printf '\\001\\002\\033[31mred\\033[0m\\177\\n'",
    "very_long": "echo " + "x" * 60_000,
    "arithmetic_and_or": 'echo "$((6*7))" && false || echo fallback # trailing comment',
    "heredoc": "cat <<'EOF'\n$HOME `x` $(y)\nEOF",
    "exit_code": "echo before; exit 3",
    "stderr_merged": "echo out; echo err >&2; echo out2",
}


def reference_output(workdir: Path, command: str) -> str:
    """What sh prints (stdout+stderr) for the command written in a script, run in the codeDir."""
    script = workdir.parent / "reference.sh"
    script.write_text(command + "\n", encoding="utf-8")
    done = subprocess.run(
        ["sh", str(script)],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    return done.stdout.decode("utf-8")


def run_command_case(name: str, command: str, base: Path) -> tuple[str, str, dict[str, Any], str]:
    where = base / name
    where.mkdir()
    cfg = write_local(
        where,
        command=command,
        space={"v": {"_type": "choice", "_value": ["a"]}},
        trials=1,
        tuner="Random",
    )
    (where / "code" / "victim").write_text("")
    expected = reference_output(where / "code", command)
    result = run_nnifc("create", "--config", str(cfg))
    assert result.returncode == 3, result.stderr  # the commands report no final metric
    (only,) = status_json(created_id(result))["trials"]
    logs = run_nnifc("logs", only["id"])
    assert logs.returncode == 0, logs.stderr
    return name, expected, only, logs.stdout


def test_hostile_commands_run_exactly_as_written(home: Path, tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(
            pool.map(lambda kv: run_command_case(kv[0], kv[1], tmp_path), COMMANDS.items())
        )
    for name, expected, trial, logs in outcomes:
        assert logs == expected, f"{name}:\n  got:    {logs!r}\n  wanted: {expected!r}"
        if name == "exit_code":
            assert trial["status"] == "FAILED" and trial["message"].startswith("exit code 3"), trial
        else:
            assert trial["status"] == "SUCCEEDED", (name, trial)
        assert (tmp_path / name / "code" / "victim").exists()


def test_command_with_nul_is_refused_before_anything_is_created(
    tmp_path: Path, empty_home: Path
) -> None:
    cfg = tmp_path / "exp.yml"
    cfg.write_text(
        base_text().replace("command: python3 train.py", 'command: "echo a\\0b"'), encoding="utf-8"
    )
    assert_one_error(dry_run(cfg), empty_home, f"Error: {cfg}:11:3: trial.command: ", "")


def test_blank_command_is_refused(tmp_path: Path, empty_home: Path) -> None:
    cfg = tmp_path / "exp.yml"
    cfg.write_text(
        base_text().replace("command: python3 train.py", "command: '   '"), encoding="utf-8"
    )
    assert_one_error(
        dry_run(cfg), empty_home, f"Error: {cfg}:11:3: trial.command: ", "must not be empty"
    )
