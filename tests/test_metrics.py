"""Metric lines as NNI's SDK prints them, and incremental reading of a growing output file."""

from __future__ import annotations

import json
import math
import resource
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnifc.metrics import (
    CHUNK,
    LINE_LIMIT,
    Line,
    OutputTail,
    default_metric,
    metric_event,
    parse_line,
    read_file,
    skipped_metric,
)


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
    assert metric_event("x", "local_0", Line(0, line, len(line))) is None


def test_windows_line_endings_and_trailing_space() -> None:
    assert parse_line(sdk_line("FINAL", 1.0) + " \r") is not None


def test_tail_hands_out_complete_lines_once_with_their_offsets(tmp_path: Path) -> None:
    log = tmp_path / "stdout"
    tail = OutputTail(read_file(str(log)))
    assert list(tail.lines()) == []
    log.write_bytes(b"first\nsec")
    assert list(tail.lines()) == [Line(0, "first", 5)]
    with log.open("ab") as f:
        f.write(b"ond\nthird")
    assert list(tail.lines()) == [Line(6, "second", 6)]
    assert list(tail.lines(final=True)) == [Line(13, "third", 5)]
    assert list(tail.lines(final=True)) == []
    resumed = OutputTail(read_file(str(log)), offset=6)
    assert [line.offset for line in resumed.lines(final=True)] == [6, 13]


def test_tail_reads_lines_longer_than_one_chunk_keeping_only_their_start(tmp_path: Path) -> None:
    log = tmp_path / "stdout"
    long_line = "x" * (3 << 20)
    log.write_text(f"{long_line}\nshort\n")
    lines = list(OutputTail(read_file(str(log))).lines())
    assert [(line.offset, line.size, line.cut) for line in lines] == [
        (0, len(long_line), True),
        (len(long_line) + 1, 5, False),
    ]
    assert lines[0].text == "x" * LINE_LIMIT and lines[1].text == "short"


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
    assert [(line.offset, line.text) for line in tail.lines()] == [(0, "one"), (4, "two")]
    assert calls == [0]  # one call: a short read is the end for now
    calls.clear()
    assert [(line.offset, line.text) for line in tail.lines(final=True)] == [(8, "thr")]
    assert (
        calls == [11]
    )  # on from what was read, not from the line's start  # a short read is the end: one call (one NFS READ) for the final look


def test_an_unterminated_line_is_never_read_twice(tmp_path: Path) -> None:
    log = tmp_path / "stdout"
    log.write_bytes(b"ab")
    reads: list[tuple[int, int]] = []

    def read(offset: int, size: int) -> bytes:
        data = read_file(str(log))(offset, size)
        reads.append((offset, len(data)))
        return data

    tail = OutputTail(read)
    for more in (b"cd", b"ef\ngh"):
        assert list(tail.lines()) == []
        with log.open("ab") as f:
            f.write(more)
    assert list(tail.lines()) == [Line(0, "abcdef", 6)]
    assert list(tail.lines(final=True)) == [Line(7, "gh", 2)]
    assert sum(size for _, size in reads) == log.stat().st_size  # every byte read once


def test_100_mb_without_a_newline_costs_little_cpu_and_memory(tmp_path: Path) -> None:
    """Polled after each MiB, as a launcher does while a trial prints: linear, bounded."""
    log = tmp_path / "stdout"
    tail = OutputTail(read_file(str(log)))
    block = b"y" * CHUNK
    final = sdk_line("FINAL", 0.5).encode()
    cpu, seen = 0.0, []
    tracemalloc.start()
    try:
        for i in range(101):
            with log.open("ab") as f:
                f.write(block if i < 100 else b"\n" + final + b"\n")
            before = resource.getrusage(resource.RUSAGE_SELF)
            seen += list(tail.lines())
            after = resource.getrusage(resource.RUSAGE_SELF)
            cpu += after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert cpu < 2.0, f"{cpu:.1f} s CPU"
    assert peak < 10 << 20, f"{peak / 2**20:.1f} MB at the peak"
    assert [(line.offset, line.size) for line in seen] == [
        (0, 100 * CHUNK),
        (100 * CHUNK + 1, len(final)),
    ]
    assert metric_event("t", "local_0", seen[1]) is not None


def test_a_metric_line_over_the_limit_is_skipped_with_a_note(tmp_path: Path) -> None:
    log = tmp_path / "stdout"
    big = sdk_line("FINAL", {"default": 1.0, "blob": "z" * (1 << 20)})
    exact = sdk_line("PERIODICAL", 2.0)
    exact = exact[:-1] + " " * (LINE_LIMIT - len(exact)) + "'"  # padded to the limit exactly
    log.write_text(f"{big}\n{exact}\n")
    first, second = OutputTail(read_file(str(log))).lines()
    assert first.cut and metric_event("t", "w_0", first) is None
    assert skipped_metric("w_0", first) == (
        f"a metric line of {len(big)} bytes at offset 0 of task w_0 was skipped:"
        f" the limit is {LINE_LIMIT}"
    )
    assert second.size == LINE_LIMIT and not second.cut
    event = metric_event("t", "w_0", second)
    assert event is not None and event.value == 2.0 and event.offset == len(big) + 1
    assert skipped_metric("w_0", second) is None


def test_a_long_plain_line_is_no_skipped_metric(tmp_path: Path) -> None:
    line = Line(0, "x" * LINE_LIMIT, LINE_LIMIT * 2)
    assert line.cut and skipped_metric("w_0", line) is None


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(
        st.sampled_from(
            [b"a", b"\n", b"\r\n", "é".encode(), b"x" * (LINE_LIMIT - 1), b"y" * CHUNK]
        ),
        max_size=12,
    ),
    cuts=st.lists(st.integers(0, 3 * CHUNK), max_size=4),
)
def test_a_growing_file_read_at_any_points_gives_each_line_once(
    pieces: list[bytes], cuts: list[int]
) -> None:
    """Whatever the file holds when each read happens, the lines are those of the whole file."""
    content = b"".join(pieces)
    visible = [0]

    def read(offset: int, size: int) -> bytes:
        return content[offset : min(offset + size, visible[0])]

    tail, got = OutputTail(read), list[Line]()
    for cut in sorted(cuts):
        visible[0] = min(cut, len(content))
        got += tail.lines()
    visible[0] = len(content)
    got += tail.lines(final=True)
    expected, offset = [], 0
    for raw in content.split(b"\n") if content else []:
        expected.append(
            (offset, raw[:LINE_LIMIT].decode("utf-8", "replace").rstrip("\r"), len(raw))
        )
        offset += len(raw) + 1
    if content.endswith(b"\n"):
        expected.pop()  # nothing after the last newline
    assert got == expected
