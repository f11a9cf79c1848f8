"""`nnifc.trial` speaks exactly what the real nni SDK speaks, line for line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnifc.metrics import parse_line

SCRIPT = """
import {module} as sdk
params = sdk.get_next_parameter()
sdk.report_intermediate_result(params["lr"] * 2)
sdk.report_intermediate_result({{"default": 0.25, "loss": 1.5}})
sdk.report_final_result({{"default": params["lr"], "note": "it's"}})
print("trial", sdk.get_trial_id(), sdk.get_experiment_id(), sdk.get_sequence_id())
"""


def run_trial(module: str, sys_dir: Path) -> list[str]:
    env = {
        **os.environ,
        "NNI_PLATFORM": "frameworkcontroller",
        "NNI_EXP_ID": "exp12345",
        "NNI_TRIAL_JOB_ID": "tr1al",
        "NNI_TRIAL_SEQ_ID": "4",
        "NNI_SYS_DIR": str(sys_dir),
        "NNI_OUTPUT_DIR": str(sys_dir / "output"),
        "MULTI_PHASE": "false",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(module=module)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.fixture
def sys_dir(tmp_path: Path) -> Path:
    params = {
        "parameter_id": 4,
        "parameter_source": "algorithm",
        "parameters": {"lr": 0.125},
        "parameter_index": 0,
    }
    (tmp_path / "parameter.cfg").write_text(json.dumps(params))
    return tmp_path


def test_same_records_as_the_real_nni(sys_dir: Path) -> None:
    ours = run_trial("nnifc.trial", sys_dir)
    theirs = run_trial("nni", sys_dir)
    assert [parse_line(line) for line in ours] == [parse_line(line) for line in theirs]
    records = [
        json.loads(line[len("NNISDK_MEb'") : -1]) for line in ours if line.startswith("NNISDK")
    ]
    assert [(r["type"], r["sequence"], r["parameter_id"], r["trial_job_id"]) for r in records] == [
        ("PERIODICAL", 0, 4, "tr1al"),
        ("PERIODICAL", 1, 4, "tr1al"),
        ("FINAL", 0, 4, "tr1al"),
    ]
    assert ours[-1] == theirs[-1] == "trial tr1al exp12345 4"


def test_standalone_returns_empty_parameters() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NNI_")}
    code = (
        "from nnifc import trial; print(trial.get_next_parameter()); trial.report_final_result(1)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "{}"
