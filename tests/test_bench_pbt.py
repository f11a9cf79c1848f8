"""benchmarks/pbt.py --quick runs end to end: both tuners train their populations, the table
prints and the verdict matches the exit code.

Like tests/test_bench_multifidelity.py it is skipped without the `bench` extra, which
`make bench` installs and `make test` does not.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_quick_run_prints_both_tuners_and_a_verdict() -> None:
    for module in ("optuna", "nni"):
        pytest.importorskip(module)
    done = subprocess.run(
        [sys.executable, "pbt.py", "--quick"],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    for tuner in ("nnifc PBTTuner", "NNI 3.0 PBTTuner"):
        row = re.search(rf"^{tuner} +(\d+\.\d+) \[", done.stdout, re.MULTILINE)
        assert row is not None, done.stdout[-2000:]
        assert 0 < float(row.group(1)) < 1.386  # below an untrained 4-class network's ln 4
    assert ("all targets met" in done.stdout) == (done.returncode == 0)
