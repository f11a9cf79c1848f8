"""`status --json` keeps its promise: nnifc/schemas/status.schema.json, shipped with the package.

The schema is valid and strict; what a real experiment prints conforms to it, for one experiment
and for the list; and the documents that break the promise (a field missing, one added, a word
out of its enum, a timing outside `stats`) do not.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from nnifc import summary
from nnifc.records import ExperimentStatus, TrialStatus
from nnifc.store import ExperimentRow, TrialRow
from tests.conftest import (
    STATUS_SCHEMA,
    checked_status,
    created_id,
    run_nnifc,
    status_errors,
    status_json,
    status_list_json,
    wait_for,
)

EXPERIMENT_FIELDS = {
    "id",
    "name",
    "platform",
    "status",
    "reason",
    "message",
    "started",
    "ended",
    "optimizeMode",
    "budget",
    "imported",
    "best",
    "stats",
    "trials",
}
TRIAL_FIELDS = {
    "id",
    "sequence",
    "status",
    "parameters",
    "intermediate",
    "final",
    "finalRaw",
    "started",
    "ended",
    "exitCode",
    "message",
    "tuner",
    "budget",
    "rung",
    "generation",
}


def test_the_schema_ships_with_the_package_and_is_a_valid_2020_12_schema() -> None:
    text = (files("nnifc") / "schemas/status.schema.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    assert schema == STATUS_SCHEMA
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert "$id" not in schema and schema["title"] and schema["description"]


def test_the_schema_is_strict_and_documents_every_field() -> None:
    trial = STATUS_SCHEMA["$defs"]["trial"]
    for level, fields in ((STATUS_SCHEMA, EXPERIMENT_FIELDS), (trial, TRIAL_FIELDS)):
        assert set(level["required"]) == set(level["properties"]) == fields
        assert level["additionalProperties"] is False
        for name, field in level["properties"].items():
            assert field.get("description"), f"{name} has no description"
    budget = STATUS_SCHEMA["properties"]["budget"]
    assert set(budget["required"]) == set(budget["properties"])
    assert all(field.get("description") for field in budget["properties"].values())


SEQUENCED_TRIAL = """\
    import os
    import sys
    import time

    from nnifc import trial as nni

    params = nni.get_next_parameter()
    sequence = nni.get_sequence_id()
    nni.report_intermediate_result(float("nan") if sequence == 0 else 0.5)
    while not os.path.exists({go!r}):
        time.sleep(0.1)
    if sequence == 1:
        sys.exit(3)
    nni.report_final_result(float("nan") if sequence == 2 else params["x"])
"""


def test_a_local_experiment_prints_documents_that_conform(
    home: Path, experiment_files: Callable[..., Path], tmp_path: Path
) -> None:
    """Running and done, a trial of each kind: a final, a failure, a NaN final (null, told
    nothing) and a NaN intermediate (null); `status EXP --json` and `status --json` alike."""
    assert status_list_json() == []
    go = tmp_path / "go"
    config = experiment_files(
        SEQUENCED_TRIAL.format(go=str(go)), max_trials=4, concurrency=1, tuner="Random"
    )
    result = run_nnifc("create", "--config", str(config), "--detach")
    assert result.returncode == 0, result.stderr
    exp_id = created_id(result)

    wait_for(
        lambda: [t["intermediate"] for t in status_json(exp_id)["trials"]] == [[None]],
        what="the first trial to report",
    )
    running = status_json(exp_id)
    assert running["status"] == "RUNNING" and running["ended"] is None
    (first,) = running["trials"]
    assert first["status"] == "RUNNING" and first["ended"] is None and first["tuner"] is None
    (listed,) = status_list_json()
    assert listed["id"] == exp_id and listed["status"] == "RUNNING"

    go.touch()
    wait_for(lambda: status_json(exp_id)["status"] == "DONE", what="the experiment to end")
    done = status_json(exp_id)
    assert done["reason"] and done["ended"] is not None
    assert done["stats"]["tunerSeconds"] > 0
    trials = done["trials"]
    assert [t["status"] for t in trials] == ["SUCCEEDED", "FAILED", "SUCCEEDED", "SUCCEEDED"]
    assert [t["tuner"]["told"] for t in trials] == ["final", "failure", "nothing", "final"]
    assert trials[1]["exitCode"] == 3
    assert trials[2]["final"] is None and trials[2]["finalRaw"] == "NaN"
    assert trials[0]["intermediate"] == [None] and trials[3]["intermediate"] == [0.5]
    assert done["best"]["trial"] in (trials[0]["id"], trials[3]["id"])

    (listed,) = status_list_json()
    assert listed["id"] == exp_id and listed["status"] == "DONE"
    # status_json and status_list_json check every document; checked here in so many words too
    assert status_errors(running) == status_errors(done) == status_errors(listed) == []
    assert [t["id"] for t in listed["trials"]] == [t["id"] for t in trials]


def _experiment(status: ExperimentStatus, **changes: Any) -> ExperimentRow:
    fields: dict[str, Any] = {
        "id": "abcd1234",
        "name": "rows",
        "platform": "frameworkcontroller",
        "config_path": "/x.yml",
        "config_text": "",
        "space_text": "{}",
        "seed": 0,
        "optimize_mode": "minimize",
        "max_trials": 10,
        "max_seconds": 3600,
        "status": status,
        "started": 1.7e9,
        "ended": 1.7e9 + 60 if status.final else None,
        "pid": None,
        "stop_requested": False,
        "message": "",
    }
    return ExperimentRow(**(fields | changes))


def _trial(sequence: int, status: TrialStatus, **changes: Any) -> TrialRow:
    fields: dict[str, Any] = {
        "id": f"t{sequence:04d}",
        "sequence": sequence,
        "parameter_id": sequence,
        "params": {"lr": 0.1, "layers": [1, 2], "name": "x"},
        "status": status,
        "handle": None,
        "created": 1.7e9,
        "started": 1.7e9 + 1 if status is not TrialStatus.WAITING else None,
        "ended": 1.7e9 + 9 if status.final else None,
        "exit_code": 0 if status is TrialStatus.SUCCEEDED else None,
        "message": "",
        "final": None,
        "final_raw": None,
        "intermediate": (),
    }
    return TrialRow(**(fields | changes))


ROW_CASES: dict[str, tuple[str, ExperimentRow, list[TrialRow]]] = {
    "ended with every kind of trial": (
        "FAILED",
        _experiment(ExperimentStatus.FAILED, reason="3 of the first 3 trials failed"),
        [
            _trial(
                0,
                TrialStatus.SUCCEEDED,
                final=0.25,
                final_raw='{"default": 0.25}',
                intermediate=(0.5, math.nan, math.inf),
                told="final",
                told_value=0.25,
            ),
            _trial(1, TrialStatus.FAILED, exit_code=-9, message="exit code -9", told="failure"),
            _trial(
                2,
                TrialStatus.SUCCEEDED,
                final=math.nan,
                final_raw="NaN",
                told="nothing",
                message="final metric is NaN",
            ),
            _trial(
                3,
                TrialStatus.EARLY_STOPPED,
                intermediate=(2.0,),
                told="intermediate",
                told_value=2.0,
            ),
            _trial(4, TrialStatus.USER_CANCELED, told="nothing"),
            _trial(5, TrialStatus.SYS_CANCELED),  # a store from before `told` was recorded
        ],
    ),
    "the launcher gone while it ran": (
        "NO_MORE_TRIAL (launcher not running)",
        _experiment(ExperimentStatus.NO_MORE_TRIAL, paused=12.3456, message="launcher died"),
        [_trial(0, TrialStatus.RUNNING, intermediate=(1.0,)), _trial(1, TrialStatus.WAITING)],
    ),
    "rebuilt from the cluster": (
        "from the cluster",
        _experiment(ExperimentStatus.DONE, started=0.0, ended=None),
        [_trial(-1, TrialStatus.SYS_CANCELED, started=None, ended=None, id="ab12z")],
    ),
    "no trials yet": ("RUNNING", _experiment(ExperimentStatus.RUNNING), []),
}


@pytest.mark.parametrize("case", ROW_CASES)
def test_every_state_the_store_can_hold_conforms(case: str) -> None:
    """States a short local run does not reach, through the same function `status` calls."""
    status, row, trials = ROW_CASES[case]
    counters = {"tunerSeconds": 1.25, "assessorSeconds": 0.0000004}
    checked_status(summary.experiment_json(row, status, trials, counters, imported=3))
    checked_status(summary.experiment_json(row, status, trials))


VALID: dict[str, Any] = {
    "id": "k3q9x0ab",
    "name": "mnist",
    "platform": "local",
    "status": "DONE",
    "reason": "maxTrialNum reached: 2 trials",
    "message": None,
    "started": "2024-05-01T14:03:27+02:00",
    "ended": "2024-05-01T14:09:02+02:00",
    "optimizeMode": "maximize",
    "budget": {
        "maxTrialNum": 2,
        "maxExecSeconds": 86313600,
        "trialConcurrency": 1,
        "pausedSeconds": 0.0,
    },
    "imported": 0,
    "best": {"trial": "a1b2c", "value": 0.93},
    "stats": {"assessorSeconds": 0.0, "tunerSeconds": 0.012345},
    "trials": [
        {
            "id": "a1b2c",
            "sequence": 0,
            "status": "SUCCEEDED",
            "parameters": {"lr": 0.01},
            "intermediate": [0.5, None, 0.9],
            "final": 0.93,
            "finalRaw": '{"default": 0.93}',
            "started": "2024-05-01T14:03:28+02:00",
            "ended": "2024-05-01T14:05:00+02:00",
            "exitCode": 0,
            "message": "",
            "tuner": {"told": "final", "value": 0.93},
            "budget": 3,
            "rung": 0,
            "generation": None,
        },
        {
            "id": "d4e5f",
            "sequence": 1,
            "status": "FAILED",
            "parameters": {"lr": 0.1},
            "intermediate": [],
            "final": None,
            "finalRaw": None,
            "started": "2024-05-01T14:05:01+02:00",
            "ended": "2024-05-01T14:05:03+02:00",
            "exitCode": 3,
            "message": "exit code 3: ValueError",
            "tuner": {"told": "failure", "value": None},
            "budget": None,
            "rung": None,
            "generation": None,
        },
    ],
}


def _without_reason(doc: dict[str, Any]) -> None:
    del doc["reason"]


def _with_unknown_field(doc: dict[str, Any]) -> None:
    doc["progress"] = 1.0


def _trial_status_done(doc: dict[str, Any]) -> None:
    doc["trials"][0]["status"] = "DONE"


def _timing_at_top_level(doc: dict[str, Any]) -> None:
    doc["tunerSeconds"] = doc["stats"].pop("tunerSeconds")


def _trial_without_tuner(doc: dict[str, Any]) -> None:
    del doc["trials"][0]["tuner"]


def _unknown_trial_field(doc: dict[str, Any]) -> None:
    doc["trials"][0]["duration"] = 92


def _experiment_status_lowercase(doc: dict[str, Any]) -> None:
    doc["status"] = "done"


def _final_status_without_launcher(doc: dict[str, Any]) -> None:
    doc["status"] = "DONE (launcher not running)"


def _started_as_epoch_seconds(doc: dict[str, Any]) -> None:
    doc["started"] = 1714565007.0


def _started_without_offset(doc: dict[str, Any]) -> None:
    doc["trials"][0]["started"] = "2024-05-01 14:03:28"


def _long_trial_id(doc: dict[str, Any]) -> None:
    doc["trials"][0]["id"] = "a1b2c3"


def _uppercase_experiment_id(doc: dict[str, Any]) -> None:
    doc["id"] = "K3Q9X0AB"


def _intermediate_as_text(doc: dict[str, Any]) -> None:
    doc["trials"][0]["intermediate"][0] = "0.5"


def _stats_value_as_text(doc: dict[str, Any]) -> None:
    doc["stats"]["tunerSeconds"] = "0.01"


def _told_something_else(doc: dict[str, Any]) -> None:
    doc["trials"][0]["tuner"]["told"] = "everything"


def _told_final_without_value(doc: dict[str, Any]) -> None:
    doc["trials"][0]["tuner"]["value"] = None


def _empty_reason(doc: dict[str, Any]) -> None:
    doc["reason"] = ""


def _budget_without_paused(doc: dict[str, Any]) -> None:
    del doc["budget"]["pausedSeconds"]


BROKEN: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "a missing reason": (_without_reason, "'reason' is a required property"),
    "an unknown top-level field": (_with_unknown_field, "'progress' was unexpected"),
    "a trial status DONE": (_trial_status_done, "$.trials[0].status: 'DONE' is not one of"),
    "a timing at top level": (_timing_at_top_level, "'tunerSeconds' was unexpected"),
    "a trial without tuner": (_trial_without_tuner, "'tuner' is a required property"),
    "an unknown trial field": (_unknown_trial_field, "$.trials[0]: Additional properties"),
    "a status in lowercase": (_experiment_status_lowercase, "$.status: 'done' is not one of"),
    "a final status with the launcher warning": (
        _final_status_without_launcher,
        "$.status: 'DONE (launcher not running)' is not one of",
    ),
    "a time as epoch seconds": (
        _started_as_epoch_seconds,
        "$.started: 1714565007.0 is not of type",
    ),
    "a time without its offset": (
        _started_without_offset,
        "$.trials[0].started: '2024-05-01 14:03:28' does not match",
    ),
    "a 6-character trial id": (_long_trial_id, "$.trials[0].id: 'a1b2c3' does not match"),
    "an uppercase experiment id": (_uppercase_experiment_id, "$.id: 'K3Q9X0AB' does not match"),
    "an intermediate as text": (
        _intermediate_as_text,
        "$.trials[0].intermediate[0]: '0.5' is not of type",
    ),
    "a stats value as text": (_stats_value_as_text, "$.stats.tunerSeconds: '0.01' is not of type"),
    "a told outside its enum": (
        _told_something_else,
        "$.trials[0].tuner.told: 'everything' is not one of",
    ),
    "told final without a value": (
        _told_final_without_value,
        "$.trials[0].tuner.value: None is not of type 'number'",
    ),
    "an empty reason (null says none)": (_empty_reason, "$.reason: '' should be non-empty"),
    "a budget without pausedSeconds": (_budget_without_paused, "'pausedSeconds' is a required"),
}


def test_the_valid_example_conforms() -> None:
    """The base of the broken documents below: each breaks only what its test says."""
    assert status_errors(VALID) == []
    assert status_errors([VALID]) != []  # the list is an array of these, not one


@pytest.mark.parametrize("broken", BROKEN)
def test_a_document_that_breaks_the_promise_is_rejected(broken: str) -> None:
    breaks, expected = BROKEN[broken]
    doc = copy.deepcopy(VALID)
    breaks(doc)
    errors = status_errors(doc)
    assert any(expected in error for error in errors), errors
    with pytest.raises(AssertionError, match=r"breaks nnifc/schemas/status\.schema\.json"):
        checked_status(doc)
