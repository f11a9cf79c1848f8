"""benchmarks/multifidelity.py --quick runs end to end: the tables print and its smoke check
(every nnifc advisor finds a result at the maximum budget in every cell; no idle slots) passes.

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


def test_quick_run_prints_both_tables_and_passes_its_smoke_check() -> None:
    for module in ("optuna", "ConfigSpace", "statsmodels"):
        pytest.importorskip(module)
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "multifidelity.py", "--quick"],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    for heading in ("== sgd:", "== misleading:"):
        assert heading in done.stdout
    for method in ("nnifc ASHA", "NNI 3.0 BOHB", "optuna TPE+SH", "nnifc TPE+Medianstop"):
        assert done.stdout.count(method) >= 2, method  # a row in each table
    assert "all targets met" in done.stdout
    # about 65 s of CPU without benchmarks/.cache (the references' runs), 3 s with it
    assert time.monotonic() - began < 400
