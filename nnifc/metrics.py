"""Metrics out of task output: the `NNISDK_MEb'<json>'` lines that NNI's SDK prints.

A task's stdout+stderr is one growing file. `OutputTail` reads it incrementally from a byte
offset and hands out complete lines with the offset where each starts; that offset is the
metric's identity, so reading a file twice (after a restart) never counts a metric twice.
Lines are matched greedily (NNI's manager matched non-greedily and cut JSON at the first quote),
`value` is decoded twice as NNI encodes it, NaN is accepted, and a dict uses its `default` key.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import msgspec

from nnifc.records import MetricReported

LINE = re.compile(r"^NNISDK_MEb'(.*)'\s*$")
CHUNK = 1 << 20


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


def metric_event(trial_id: str, task: str, offset: int, line: str) -> MetricReported | None:
    record = parse_line(line)
    if record is None or record.kind not in ("PERIODICAL", "FINAL"):
        return None
    return MetricReported(trial_id, task, offset, record.kind == "FINAL", record.value, record.raw)


class OutputTail:
    """Complete lines of a growing file, read from `offset` on with `read(offset, size)`."""

    def __init__(self, read: Callable[[int, int], bytes], offset: int = 0) -> None:
        self._read = read
        self.offset = offset  # everything before this has been handed out

    def lines(self, *, final: bool = False) -> Iterator[tuple[int, str]]:
        """Yield (offset, text) of each new complete line; with `final`, the unterminated tail too.

        The file is read until a short read: one call when little is new. Every reader here
        (local files, NFS, Azure Files) returns less than asked only at the end of the file.
        """
        pending = b""
        while True:
            chunk = self._read(self.offset + len(pending), CHUNK)
            if not chunk:
                break
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                yield self.offset, raw.decode("utf-8", "replace").rstrip("\r")
                self.offset += len(raw) + 1
            if len(chunk) < CHUNK:  # the end (for now, if the task still runs)
                break
        if final and pending:
            yield self.offset, pending.decode("utf-8", "replace").rstrip("\r")
            self.offset += len(pending)


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
