"""Trials in and out in NNI's `nnictl experiment export/import` formats.

Why: results outlive experiments. Export writes what NNI wrote (JSON records of trialJobId,
parameter and value; CSV with one column per parameter, then `reward` or the metric's keys, then
trialJobId), so NNI-era notebooks read it. Import reads those files, or NNI's import format
(`[{"parameter": ..., "value": ...}]`), checks every point against the experiment's search space
with file:line errors, and hands the results to the tuner as a warm start.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnifc import document
from nnifc.errors import ConfigError, Problem
from nnifc.metrics import default_metric
from nnifc.space import Normal, SearchSpace, Uniform
from nnifc.store import TrialRow


@dataclass(frozen=True)
class Imported:
    """One finished point from elsewhere: its parameters and its final metric's default value."""

    params: dict[str, Any]
    value: float


def records(trials: Sequence[TrialRow], *, intermediate: bool = False) -> list[dict[str, Any]]:
    """NNI's export records: trials that reported a final result, in sequence order."""
    found = []
    for trial in trials:
        if trial.final_raw is None:
            continue
        record: dict[str, Any] = {
            "trialJobId": trial.id,
            "parameter": trial.params,
            "value": _decoded(trial.final_raw),
        }
        if intermediate:
            record["intermediate"] = list(trial.intermediate)
        found.append(record)
    return found


def to_csv(rows: list[dict[str, Any]]) -> str:
    """NNI's CSV export: parameter columns, `reward` (or the metric dict's keys), trialJobId."""
    flat = []
    for record in rows:
        value = record["value"]
        metrics = value if isinstance(value, dict) else {"reward": value}
        line = {**record["parameter"], **metrics, "trialJobId": record["trialJobId"]}
        if "intermediate" in record:
            line["intermediate"] = "[" + ",".join(map(str, record["intermediate"])) + "]"
        flat.append(line)
    columns = list(dict.fromkeys(key for line in flat for key in line))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    for line in flat:
        writer.writerow({k: _cell(v) for k, v in line.items()})
    return out.getvalue()


def read(path: Path, space: SearchSpace) -> list[Imported]:
    """Finished points from an NNI export (JSON or CSV) or import file, all checked or none."""
    if path.suffix.lower() == ".csv":
        return _read_csv(path, space)
    doc = document.load(path)
    if not isinstance(doc.data, list):
        raise doc.error((), 'must be a JSON list of {"parameter": {...}, "value": ...} records')
    found, problems = [], []
    for i, record in enumerate(doc.data):
        try:
            found.append(_record(record, space))
        except ValueError as e:
            problems.append(doc.problem((i,), str(e)))
    if problems:
        raise ConfigError(problems)
    return found


def _read_csv(path: Path, space: SearchSpace) -> list[Imported]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([Problem(path, 0, 0, "", f"cannot read: {e}")]) from None
    reader = csv.DictReader(io.StringIO(text))
    found, problems = [], []
    for row in reader:
        line = reader.line_num
        cells = {k: _parsed(v) for k, v in row.items() if k is not None}
        params = {k: v for k, v in cells.items() if k in space}
        metric = {
            k: v
            for k, v in cells.items()
            if k not in space and k not in ("trialJobId", "intermediate")
        }
        value = metric.pop("reward", None) if "reward" in metric else (metric or None)
        try:
            found.append(_record({"parameter": params, "value": value}, space))
        except ValueError as e:
            problems.append(Problem(path, line, 1, f"line {line}", str(e)))
    if problems:
        raise ConfigError(problems)
    return found


def _record(record: Any, space: SearchSpace) -> Imported:
    if not isinstance(record, dict) or not isinstance(record.get("parameter"), dict):
        raise ValueError('must be a record {"parameter": {...}, "value": ...}')
    params = _typed(record["parameter"], space)
    why = space.mismatch(params)
    if why is not None:
        raise ValueError(f"parameter {why}")
    value = default_metric(record.get("value"))
    if value is None or not math.isfinite(value):
        raise ValueError(
            f"value must be a number or a dict with a number under 'default', got {json.dumps(record.get('value'))}"
        )
    return Imported(params, value)


def _typed(params: dict[str, Any], space: SearchSpace) -> dict[str, Any]:
    """Whole numbers written for continuous parameters (1 for 1.0) are what the user meant."""
    typed = dict(params)
    for name, param in space.items():
        value = typed.get(name)
        if (
            isinstance(param, Uniform | Normal)
            and isinstance(value, int)
            and not isinstance(value, bool)
        ):
            typed[name] = float(value)
    return typed


def _decoded(raw: str) -> Any:
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(value, str):  # NNI's SDK reports a JSON string of the metric
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list | bool) or value is None else value


def _parsed(cell: str | None) -> Any:
    if cell is None:
        return None
    try:
        return json.loads(cell)
    except ValueError:
        return cell
