"""Metric lines as NNI's SDK prints them, and incremental reading of a growing output file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from nnifc.metrics import OutputTail, default_metric, metric_event, parse_line, read_file


def sdk_line(kind: str, value: object) -> str:
    record = {
        "parameter_id": 3,
        "trial_job_id": "ab1c2",
        "type": kind,
        "sequence": 0,
        "value": json.dumps(value),
    }
    return "NNISDK_MEb'" + json.dumps(record) + "'"


def test_final_dict_metric_uses_default_and_survives_quotes_in_json() -> None:
    record = parse_line(sdk_line("FINAL", {"default": 0.93, "comment": "it's 'quoted'"}))
    assert record is not None
    assert (record.kind, record.value) == ("FINAL", 0.93)
    assert json.loads(record.raw) == {"default": 0.93, "comment": "it's 'quoted'"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.5, 0.5),
        (3, 3.0),
        ({"default": 2}, 2.0),
        ({"acc": 1.0}, None),
        ("text", None),
        (True, None),
        (None, None),
    ],
)
def test_default_metric(value: object, expected: float | None) -> None:
    assert default_metric(json.dumps(value)) == expected


def test_nan_is_accepted() -> None:
    record = parse_line(sdk_line("PERIODICAL", math.nan))
    assert record is not None and record.value is not None and math.isnan(record.value)


@pytest.mark.parametrize(
    "line",
    [
        "epoch 1 loss 0.3",
        "NNISDK_MEb'not json'",
        'prefix NNISDK_MEb\'{"type": "FINAL", "value": "1"}\'',
        "NNISDK_MEb'[1, 2]'",
    ],
)
def test_ordinary_and_malformed_lines_are_not_metrics(line: str) -> None:
    assert parse_line(line) is None


def test_request_parameter_is_not_a_metric_event() -> None:
    line = (
        "NNISDK_MEb'"
        + json.dumps({"trial_job_id": "x", "type": "REQUEST_PARAMETER", "sequence": 0})
        + "'"
    )
    assert parse_line(line) is not None
    assert metric_event("x", "local_0", 0, line) is None


def test_windows_line_endings_and_trailing_space() -> None:
    assert parse_line(sdk_line("FINAL", 1.0) + " \r") is not None


def test_tail_hands_out_complete_lines_once_with_their_offsets(tmp_path: Path) -> None:
    log = tmp_path / "stdout"
    tail = OutputTail(read_file(str(log)))
    assert list(tail.lines()) == []
    log.write_bytes(b"first\nsec")
    assert list(tail.lines()) == [(0, "first")]
    with log.open("ab") as f:
        f.write(b"ond\nthird")
    assert list(tail.lines()) == [(6, "second")]
    assert list(tail.lines(final=True)) == [(13, "third")]
    assert list(tail.lines(final=True)) == []
    resumed = OutputTail(read_file(str(log)), offset=6)
    assert [offset for offset, _ in resumed.lines(final=True)] == [6, 13]


def test_tail_reads_lines_longer_than_one_chunk(tmp_path: Path) -> None:
    log = tmp_path / "stdout"
    long_line = "x" * (3 << 20)
    log.write_text(f"{long_line}\nshort\n")
    assert [(o, len(t)) for o, t in OutputTail(read_file(str(log))).lines()] == [
        (0, len(long_line)),
        (len(long_line) + 1, 5),
    ]


def test_a_tail_stops_at_a_short_read_and_a_final_one_takes_the_unterminated_end(
    tmp_path: Path,
) -> None:
    log = tmp_path / "stdout"
    log.write_bytes(b"one\ntwo\nthr")
    calls: list[int] = []

    def read(offset: int, size: int) -> bytes:
        calls.append(offset)
        return read_file(str(log))(offset, size)

    tail = OutputTail(read)
    assert list(tail.lines()) == [(0, "one"), (4, "two")]
    assert calls == [0]  # one call: a short read is the end for now
    calls.clear()
    assert list(tail.lines(final=True)) == [(8, "thr")]
    assert calls == [8]  # a short read is the end: one call (one NFS READ) for the final look
