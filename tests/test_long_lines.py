"""End to end on the local platform: a trial printing an endless line, or a huge metric line,
costs the launcher little CPU and memory and the database nothing, and its metrics still count."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from nnifc.metrics import LINE_LIMIT
from nnifc.store import experiment_dir
from tests.conftest import created_id, start_nnifc, status_json

ENDLESS_LINE = """\
    import sys
    import time
    import nni

    nni.get_next_parameter()
    block = "y" * (1 << 20)
    for _ in range(100):  # 100 MB without a newline, as a progress bar gone wrong prints it
        sys.stdout.write(block)
        sys.stdout.flush()
        time.sleep(0.01)
    print()
    nni.report_final_result(0.75)
"""

HUGE_METRIC = """\
    import json
    import nni

    params = nni.get_next_parameter()
    record = {
        "parameter_id": 0,
        "trial_job_id": nni.get_trial_id(),
        "type": "FINAL",
        "sequence": 0,
        "value": json.dumps({"default": 99.0, "weights": "w" * (1 << 20)}),
    }
    print("NNISDK_MEb'" + json.dumps(record) + "'", flush=True)
    nni.report_final_result(0.75)
"""


def run_create(config: Path) -> tuple[subprocess.CompletedProcess[str], float, int]:
    """`nnifc create` in the foreground (the loop runs in that process); with the CPU seconds
    the launcher itself used (its trials' not counted) and its peak resident memory in bytes."""
    proc = start_nnifc("create", "--config", str(config))
    status = Path(f"/proc/{proc.pid}/status")
    peak = 0
    deadline = time.monotonic() + 300
    while os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        assert time.monotonic() < deadline, "nnifc create did not end"
        for row in status.read_text().splitlines():
            if row.startswith("VmHWM:"):
                peak = max(peak, int(row.split()[1]) * 1024)
        time.sleep(0.1)
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    stdout, stderr = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), cpu, peak


def test_a_100_mb_line_without_newline_costs_the_launcher_little(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    config = experiment_files(ENDLESS_LINE, max_trials=1, concurrency=1)
    result, cpu, peak = run_create(config)
    assert result.returncode == 0, result.stderr
    exp_id = created_id(result)
    (trial,) = status_json(exp_id)["trials"]
    assert (trial["status"], trial["final"]) == ("SUCCEEDED", 0.75), trial
    # reading the line again on each poll took 7 s of CPU and 250 MB here
    assert cpu < 3.0, f"the launcher used {cpu:.1f} s of CPU"
    assert peak < 150 << 20, f"the launcher peaked at {peak >> 20} MB"
    assert (experiment_dir(exp_id) / "nnifc.db").stat().st_size < 1 << 20


def test_a_metric_line_over_the_limit_is_skipped_and_said(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    config = experiment_files(HUGE_METRIC, max_trials=1, concurrency=1)
    result, _, _ = run_create(config)
    assert result.returncode == 0, result.stderr
    exp_id = created_id(result)
    (trial,) = status_json(exp_id)["trials"]
    assert (trial["status"], trial["final"]) == ("SUCCEEDED", 0.75), trial
    words = trial["message"].split()
    assert trial["message"] == (
        f"a metric line of {words[4]} bytes at offset {words[8]} of task local_0 was skipped:"
        f" the limit is {LINE_LIMIT}"
    )
    size, offset = int(words[4]), int(words[8])
    assert size > 1 << 20
    db = experiment_dir(exp_id) / "nnifc.db"
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT offset, final FROM metric").fetchall()
    assert stored == [(offset + size + 1, 1)]  # the normal final only
    assert db.stat().st_size < 1 << 20
