"""Exactly one loop per experiment, however many commands race to run it; and no command ends
in a traceback (the real CLI, detached loops and real trial processes)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import VENV_BIN, created_id, loop_pid, run_nnifc, status_json, wait_for

SLOW = """\
    import time
    import nni
    nni.get_next_parameter()
    nni.report_intermediate_result(0.5)
    time.sleep(60)
"""


def loop_pids(exp_id: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = b"nnifc" in cmdline and exp_id.encode() in cmdline
        if ours and (b"run-loop" in cmdline or b"resume" in cmdline):
            found.append(int(entry.name))
    return found


def test_concurrent_resumes_start_exactly_one_loop(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    result = run_nnifc("create", "--config", str(experiment_files(SLOW, max_trials=4)), "--detach")
    exp_id = created_id(result)
    wait_for(
        lambda: sum(t["status"] == "RUNNING" for t in status_json(exp_id)["trials"]) == 2,
        what="2 running trials",
    )
    os.kill(loop_pid(exp_id), signal.SIGKILL)
    wait_for(lambda: not loop_pids(exp_id), timeout=10, what="the loop to be gone")
    env = {**os.environ, "PATH": VENV_BIN + os.pathsep + os.environ["PATH"]}
    racing = [
        subprocess.Popen(
            [sys.executable, "-m", "nnifc", "resume", exp_id, "--detach"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(3)
    ]
    outcomes = [(p.wait(timeout=60), *p.communicate()) for p in racing]
    won = [o for o in outcomes if o[0] == 0]
    lost = [o for o in outcomes if o[0] != 0]
    assert len(won) == 1, outcomes
    assert f"experiment {exp_id} resumed in the background" in won[0][1]
    for code, _, err in lost:
        assert code == 1 and f"experiment {exp_id} is already running (pid " in err, err
        assert "Traceback" not in err
    wait_for(lambda: len(loop_pids(exp_id)) == 1, timeout=10, what="one loop")
    (pid,) = loop_pids(exp_id)
    again = run_nnifc("resume", exp_id)
    assert again.returncode == 1 and f"already running (pid {pid})" in again.stderr
    data = status_json(exp_id)
    assert len(data["trials"]) == 2 and data["status"] == "RUNNING"  # none submitted twice
    assert run_nnifc("stop", exp_id).returncode == 0


def test_a_detached_resume_names_its_loop_in_the_claim_before_it_returns(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    result = run_nnifc("create", "--config", str(experiment_files(SLOW, max_trials=2)), "--detach")
    exp_id = created_id(result)
    wait_for(lambda: status_json(exp_id)["trials"], what="a trial")
    os.kill(loop_pid(exp_id), signal.SIGKILL)
    wait_for(lambda: not loop_pids(exp_id), timeout=10, what="the loop to be gone")
    assert run_nnifc("resume", exp_id, "--detach").returncode == 0
    named = int((home / "experiments" / exp_id / "loop.lock").read_text())
    assert named == loop_pid(exp_id)  # not the `resume` that has just exited
    assert run_nnifc("stop", exp_id).returncode == 0


def test_an_unexpected_error_is_one_line_and_a_report(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    result = run_nnifc("create", "--config", str(experiment_files("", max_trials=1)))
    exp_id = created_id(result)
    with sqlite3.connect(home / "experiments" / exp_id / "nnifc.db") as db:
        db.execute("DROP TABLE metric")  # a readable file, not what nnifc wrote
    broken = run_nnifc("status", exp_id)
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    (line,) = broken.stderr.splitlines()
    assert line.startswith("Error: unexpected error: OperationalError: "), line
    report = Path(line.rsplit("the full report is in ", 1)[1])
    assert report.parent == home / "reports" and "Traceback" in report.read_text()
    assert report.stat().st_mode & 0o077 == 0
