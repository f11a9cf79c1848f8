"""benchmarks/multifidelity.py --quick runs end to end: the tables print and it exits 0 or 1.

Its references (optuna, NNI's BOHB with ConfigSpace and statsmodels) are the `bench` extra,
which `make bench` installs and `make test` does not: without them this test is skipped.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_quick_run_prints_both_tables_and_a_verdict() -> None:
    for module in ("optuna", "ConfigSpace", "statsmodels"):
        pytest.importorskip(module)
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "multifidelity.py", "--quick"],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    for heading in ("== sgd:", "== misleading:"):
        assert heading in done.stdout
    for method in ("nnifc ASHA", "NNI 3.0 BOHB", "optuna TPE+SH", "nnifc TPE+Medianstop"):
        assert done.stdout.count(method) >= 2, method  # a row in each table
    assert ("all targets met" in done.stdout) == (done.returncode == 0)
    assert time.monotonic() - began < 60  # 30 s alone; the suite runs on 3 workers
