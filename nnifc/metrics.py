"""Metrics out of task output: the `NNISDK_MEb'<json>'` lines that NNI's SDK prints.

A task's stdout+stderr is one growing file. `OutputTail` reads it incrementally from a byte
offset and hands out complete lines with the offset where each starts; that offset is the
metric's identity, so reading a file twice (after a restart) never counts a metric twice.
Each byte is read once and a line is kept only up to LINE_LIMIT bytes, so a task printing 100 MB
without a newline costs the launcher neither CPU nor memory; a metric line longer than that is
skipped (not parsed, not stored) and `skipped_metric` says so.
Lines are matched greedily (NNI's manager matched non-greedily and cut JSON at the first quote),
`value` is decoded twice as NNI encodes it, NaN is accepted, and a dict uses its `default` key.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import msgspec

from nnifc.records import MetricReported

METRIC_PREFIX = "NNISDK_MEb'"
LINE = re.compile(r"^NNISDK_MEb'(.*)'\s*$")
CHUNK = 1 << 20
LINE_LIMIT = 64 << 10  # bytes: a longer line is handed out cut, a longer metric line skipped


class Line(NamedTuple):  # not a dataclass: a tuple is made several times faster
    """One output line: where it starts, its text (its first LINE_LIMIT bytes if `cut`) and size."""

    offset: int
    text: str
    size: int  # in bytes, without the newline

    @property
    def cut(self) -> bool:
        return self.size > LINE_LIMIT


@dataclass(frozen=True)
class SdkRecord:
    kind: str  # PERIODICAL | FINAL | REQUEST_PARAMETER
    value: float | None
    raw: str


def parse_line(line: str) -> SdkRecord | None:
    """The SDK record on one output line, or None if the line is ordinary output."""
    match = LINE.match(line)
    if not match:
        return None
    try:
        record = _decode(match.group(1))
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("type"), str):
        return None
    raw = record.get("value")
    raw_text = raw if isinstance(raw, str) else json.dumps(raw)
    return SdkRecord(record["type"], default_metric(raw), raw_text)


def default_metric(raw: object) -> float | None:
    """NNI's `value` (a JSON string of a number or of a dict with `default`) as one float."""
    value = raw
    if isinstance(raw, str):
        try:
            value = _decode(raw)
        except ValueError:
            return None
    if isinstance(value, dict):
        value = value.get("default")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if not math.isnan(value) else math.nan


def _decode(text: str) -> object:
    """JSON by msgspec, several times faster; what it refuses and Python's json module takes
    (NaN, Infinity, 1e999, as NNI's SDK may write them) is read as that module reads it."""
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


def metric_event(trial_id: str, task: str, line: Line) -> MetricReported | None:
    record = None if line.cut else parse_line(line.text)
    if record is None or record.kind not in ("PERIODICAL", "FINAL"):
        return None
    return MetricReported(
        trial_id, task, line.offset, record.kind == "FINAL", record.value, record.raw
    )


def skipped_metric(task: str, line: Line) -> str | None:
    """What to tell of a metric line over LINE_LIMIT, which is not read; None for other lines."""
    if not line.cut or not line.text.startswith(METRIC_PREFIX):
        return None
    return (
        f"a metric line of {line.size} bytes at offset {line.offset} of task {task} was skipped:"
        f" the limit is {LINE_LIMIT}"
    )


class OutputTail:
    """Complete lines of a growing file, read from `offset` on with `read(offset, size)`.

    The line being read is kept across calls as its first LINE_LIMIT bytes and its size so far:
    the next call reads on from where this one stopped, never from the line's start again.
    """

    def __init__(self, read: Callable[[int, int], bytes], offset: int = 0) -> None:
        self._read = read
        self.offset = offset  # everything before this has been handed out
        self._head = b""  # the start of the line at `offset`, up to LINE_LIMIT bytes
        self._size = 0  # bytes of that line read so far

    def lines(self, *, final: bool = False) -> Iterator[Line]:
        """Each new complete line; with `final`, the unterminated tail too.

        The file is read until a short read: one call when little is new. Every reader here
        (local files, NFS, Azure Files) returns less than asked only at the end of the file.
        """
        while True:
            chunk = self._read(self.offset + self._size, CHUNK)
            if not chunk:
                break
            start, last = 0, chunk.rfind(b"\n")
            if self._size and last >= 0:  # the end of the line read before
                start = chunk.find(b"\n") + 1
                self._keep(chunk, 0, start - 1)
                yield self._take(newline=True)
            if last >= start:  # whole lines: a chunk is bounded, so is this split
                for raw in chunk[start:last].split(b"\n"):
                    offset, size = self.offset, len(raw)
                    self.offset += size + 1
                    text = raw[:LINE_LIMIT].decode("utf-8", "replace").rstrip("\r")
                    yield Line(offset, text, size)
                start = last + 1
            self._keep(chunk, start, len(chunk))
            if len(chunk) < CHUNK:  # the end (for now, if the task still runs)
                break
        if final and self._size:
            yield self._take(newline=False)

    def _keep(self, chunk: bytes, start: int, end: int) -> None:
        room = LINE_LIMIT - len(self._head)
        if room > 0:
            self._head += chunk[start : min(end, start + room)]
        self._size += end - start

    def _take(self, *, newline: bool) -> Line:
        """The line read so far, handed out: the next one starts after it."""
        line = Line(self.offset, self._head.decode("utf-8", "replace").rstrip("\r"), self._size)
        self.offset += self._size + newline
        self._head, self._size = b"", 0
        return line


def read_file(path: str) -> Callable[[int, int], bytes]:
    """A `read(offset, size)` over a local file that may not exist yet."""

    def read(offset: int, size: int) -> bytes:
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                return f.read(size)
        except FileNotFoundError:
            return b""

    return read
