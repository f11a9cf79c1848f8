"""A trial's output for the trial page: the same readers `nnifc logs` uses (the platform's
`outputs`), so the page shows the same text, also after the pods are gone.

The page asks for the last TAIL bytes first, then for what follows the offset it has, every
second while the trial runs. With several tasks, each task's text follows a `==> task <==` line,
as `nnifc logs` prints them; offsets are then per task.
"""

from __future__ import annotations

import threading
from typing import Any

from nnifc import rebuild
from nnifc.platforms import Platform
from nnifc.platforms.base import Reader
from nnifc.rows import ExperimentRow

TAIL = 64 * 1024
CHUNK = 1 << 20
MAX_READ = 1 << 20  # per request: a page follows a fast log in steps


class LogReaders:
    """One platform per experiment, built from its store on first use (as `nnifc logs` does)."""

    def __init__(self) -> None:
        self._platforms: dict[str, Platform[Any]] = {}
        self._lock = threading.Lock()

    def read(
        self, row: ExperimentRow, trial_id: str, offsets: dict[str, int] | None
    ) -> dict[str, Any]:
        """New output of each task from `offsets` (None: the tail), and the offsets reached."""
        with self._lock:
            platform = self._platforms.get(row.id)
            if platform is None:
                platform = self._platforms[row.id] = rebuild.platform_for(row)
            readers = platform.outputs(trial_id)
            tasks = []
            for task, read in readers.items():
                start = None if offsets is None else offsets.get(task, 0)
                text, end, cut = _read(read, start)
                tasks.append({"task": task, "text": text, "offset": end, "cut": cut})
        return {"tasks": tasks}

    def close(self) -> None:
        with self._lock:
            for platform in self._platforms.values():
                platform.close()
            self._platforms.clear()


def _read(read: Reader, start: int | None) -> tuple[str, int, bool]:
    """(text, offset after it, whether earlier output was left out) from `start` or the tail."""
    data = b""
    offset = start or 0
    cut = False
    while chunk := read(offset, CHUNK):
        offset += len(chunk)
        data += chunk
        if start is None and len(data) > TAIL:
            data, cut = data[-TAIL:], True
        elif start is not None and len(data) >= MAX_READ:
            break
    if cut:  # begin at a line, not inside a character
        newline = data.find(b"\n")
        data = data[newline + 1 :] if 0 <= newline < len(data) - 1 else data
    partial = _partial_character(data)  # its other bytes come with the next read
    if partial:
        data, offset = data[:-partial], offset - partial
    return data.decode("utf-8", errors="replace"), offset, cut


def _partial_character(data: bytes) -> int:
    """How many bytes at the end of `data` begin a UTF-8 character that is not complete."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # a lead byte (or ASCII): how long is its character?
            length = (
                1 if byte < 0x80 else 2 if byte >= 0xC0 and byte < 0xE0 else 3 if byte < 0xF0 else 4
            )
            return back if length > back else 0
    return 0
