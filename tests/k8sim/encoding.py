"""Watch events as JSON, with each stored object's `spec` encoded once rather than per event.

Why: FrameworkController writes a Framework's status about a dozen times per trial, each write
is a watch event carrying the whole object, and encoding them was the largest single cost of
the API server. The spec does not change across status writes, and since those writes share
the stored spec (stored objects are never mutated), its encoding can be kept by identity.
The bytes are exactly `json.dumps({"type": kind, "object": obj})`.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

Obj = dict[str, Any]
MEMO_SIZE = 2048  # specs kept: a few times the Frameworks and pods alive at once


class _SpecMemo:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[int, tuple[Obj, str]] = OrderedDict()

    def encode(self, spec: Obj) -> str:
        """JSON of a stored (never mutated) spec; the entry holds it, so its id stays unique."""
        with self._lock:
            hit = self._items.get(id(spec))
            if hit is not None and hit[0] is spec:
                self._items.move_to_end(id(spec))
                return hit[1]
        text = json.dumps(spec)
        with self._lock:
            self._items[id(spec)] = (spec, text)
            while len(self._items) > MEMO_SIZE:
                self._items.popitem(last=False)
        return text


_MEMO = _SpecMemo()


def encode_stored(obj: Any) -> str:
    """`json.dumps(obj)` for a stored object, its spec from the memo."""
    if not isinstance(obj, dict) or not isinstance(obj.get("spec"), dict):
        return json.dumps(obj)
    if not all(isinstance(key, str) for key in obj):
        return json.dumps(obj)
    parts = [
        json.dumps(key) + ": " + (_MEMO.encode(value) if key == "spec" else json.dumps(value))
        for key, value in obj.items()
    ]
    return "{" + ", ".join(parts) + "}"


def watch_event(kind: str, obj: Obj) -> bytes:
    """One watch event line, as `json.dumps({"type": kind, "object": obj})` + newline."""
    return ('{"type": ' + json.dumps(kind) + ', "object": ' + encode_stored(obj) + "}\n").encode()
