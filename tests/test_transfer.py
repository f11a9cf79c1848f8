"""`nnifc export` writes NNI's export formats; `nnifc import` and `create --import` warm-start a
tuner with checked points (GridSearch makes it visible: it never reruns a point it knows)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from nnifc import transfer
from nnifc.document import parse as parse_document
from nnifc.errors import ConfigError
from nnifc.space import SearchSpace
from nnifc.space import parse as parse_space
from tests.conftest import created_id, run_nnifc, status_json

TRIAL = """\
    import nni
    p = nni.get_next_parameter()
    nni.report_intermediate_result(p["k"] / 10)
    nni.report_final_result({"default": p["k"] * 1.5, "loss": 1 / p["k"]})
"""
GRID: dict[str, object] = {"k": {"_type": "choice", "_value": [1, 2, 3, 4]}}


def space_of(data: dict[str, object]) -> SearchSpace:
    return parse_space(parse_document(Path("space.json"), json.dumps(data)))


def test_export_writes_nni_records_and_csv(
    home: Path, experiment_files: Callable[..., Path], tmp_path: Path
) -> None:
    config = experiment_files(TRIAL, max_trials=4, tuner="GridSearch", space=GRID)
    exp_id = created_id(run_nnifc("create", "--config", str(config)))
    trials = status_json(exp_id)["trials"]

    exported = run_nnifc("export", exp_id, "--intermediate")
    assert exported.returncode == 0, exported.stderr
    records = json.loads(exported.stdout)
    assert records == [
        {
            "trialJobId": t["id"],
            "parameter": t["parameters"],
            "value": {"default": t["parameters"]["k"] * 1.5, "loss": 1 / t["parameters"]["k"]},
            "intermediate": [t["parameters"]["k"] / 10],
        }
        for t in trials
    ]

    path = tmp_path / "trials.csv"
    written = run_nnifc("export", exp_id, "-f", str(path))
    assert written.returncode == 0, written.stderr
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert list(rows[0]) == ["k", "default", "loss", "trialJobId"]
    assert [(r["k"], r["default"], r["trialJobId"]) for r in rows] == [
        (str(t["parameters"]["k"]), str(t["parameters"]["k"] * 1.5), t["id"]) for t in trials
    ]


def test_create_import_warm_starts_the_tuner(
    home: Path, experiment_files: Callable[..., Path], tmp_path: Path
) -> None:
    known = tmp_path / "known.json"  # NNI's import format: value a number or {"default": ...}
    known.write_text(
        json.dumps(
            [
                {"parameter": {"k": 1}, "value": 0.5},
                {"parameter": {"k": 3}, "value": {"default": 2}},
            ]
        )
    )
    config = experiment_files(TRIAL, max_trials=4, tuner="GridSearch", space=GRID)
    result = run_nnifc("create", "--config", str(config), "--import", str(known))
    assert result.returncode == 0, result.stderr
    data = status_json(created_id(result))
    # the grid knew k=1 and k=3 already: it ran the rest and was done
    assert sorted(t["parameters"]["k"] for t in data["trials"]) == [2, 4]
    assert data["status"] == "DONE"


def test_import_into_an_experiment_and_export_round_trip(
    home: Path, experiment_files: Callable[..., Path], tmp_path: Path
) -> None:
    config = experiment_files(TRIAL, max_trials=2, tuner="GridSearch", space=GRID)
    first = created_id(run_nnifc("create", "--config", str(config)))
    export = tmp_path / "first.csv"
    assert run_nnifc("export", first, "-f", str(export)).returncode == 0

    second = run_nnifc("create", "--config", str(config), "--detach")
    second_id = created_id(second)
    run_nnifc("stop", second_id)
    imported = run_nnifc("import", second_id, "-f", str(export))
    assert imported.returncode == 0, imported.stderr
    assert "2 finished points imported" in imported.stdout


def test_bad_points_are_refused_with_their_line(tmp_path: Path) -> None:
    space = space_of(GRID)
    path = tmp_path / "points.json"
    path.write_text(
        '[\n  {"parameter": {"k": 2}, "value": 1},\n  {"parameter": {"k": 7}, "value": 1},\n'
        '  {"parameter": {"k": 1}, "value": "high"},\n  {"parameter": {"j": 1}, "value": 1}\n]\n'
    )
    with pytest.raises(ConfigError) as caught:
        transfer.read(path, space)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:3:3: [1]: parameter 'k': 7 is not a value of {space['k']}",
        f"{path}:4:3: [2]: value must be a number or a dict with a number under 'default', got \"high\"",
        f"{path}:5:3: [3]: parameter 'k' is missing",
    ]
    table = tmp_path / "points.csv"
    table.write_text("k,reward,trialJobId\n2,0.5,a\n9,0.1,b\n")
    with pytest.raises(
        ConfigError, match=r"points.csv:3:1: line 3: parameter 'k': 9 is not a value"
    ):
        transfer.read(table, space)


def test_continuous_values_written_as_whole_numbers_are_accepted(tmp_path: Path) -> None:
    space = space_of({"lr": {"_type": "uniform", "_value": [0, 2]}})
    path = tmp_path / "points.json"
    path.write_text('[{"parameter": {"lr": 1}, "value": 0.25}]')
    (point,) = transfer.read(path, space)
    assert point == transfer.Imported({"lr": 1.0}, 0.25)
