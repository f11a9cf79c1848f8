"""The trial side without NNI: `from nnifc import trial` speaks NNI's file and line formats.

For images that cannot install nni. Standard library only. Like nni with
NNI_PLATFORM=frameworkcontroller, it reads `$NNI_SYS_DIR/parameter.cfg` and prints each metric
as one `NNISDK_MEb'<json>'` line on stdout, with `value` itself JSON-encoded. Outside an
experiment (no NNI_PLATFORM) it returns {} and only prints the metrics, as nni does.
"""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = [
    "get_experiment_id",
    "get_next_parameter",
    "get_sequence_id",
    "get_trial_id",
    "report_final_result",
    "report_intermediate_result",
]

_state: dict[str, Any] = {"parameter_id": None, "sequence": 0, "requested": False}


def get_experiment_id() -> str:
    return os.environ.get("NNI_EXP_ID", "STANDALONE")


def get_trial_id() -> str:
    return os.environ.get("NNI_TRIAL_JOB_ID", "STANDALONE")


def get_sequence_id() -> int:
    return int(os.environ.get("NNI_TRIAL_SEQ_ID", "0"))


def get_next_parameter() -> dict[str, Any]:
    """This trial's parameters; {} when not run by a launcher."""
    _state["requested"] = True
    sys_dir = os.environ.get("NNI_SYS_DIR")
    if not os.environ.get("NNI_PLATFORM") or not sys_dir:
        return {}
    with open(os.path.join(sys_dir, "parameter.cfg"), encoding="utf-8") as f:
        record = json.load(f)
    _state["parameter_id"] = record.get("parameter_id")
    parameters: dict[str, Any] = record["parameters"]
    return parameters


def report_intermediate_result(metric: Any) -> None:
    """Report a number (or a dict with a numeric "default") for the current step."""
    _send("PERIODICAL", metric, _state["sequence"])
    _state["sequence"] += 1


def report_final_result(metric: Any) -> None:
    """Report the trial's result: a number, or a dict with a numeric "default"."""
    _send("FINAL", metric, 0)


def _send(kind: str, metric: Any, sequence: int) -> None:
    if not _state["requested"] and os.environ.get("NNI_PLATFORM"):
        raise RuntimeError("call get_next_parameter() before reporting results")
    record = {
        "parameter_id": _state["parameter_id"],
        "trial_job_id": get_trial_id(),
        "type": kind,
        "sequence": sequence,
        "value": json.dumps(metric),
    }
    print("NNISDK_MEb'" + json.dumps(record) + "'", flush=True)
