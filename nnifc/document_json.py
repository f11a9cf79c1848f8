"""Places in JSON text, found by scanning it: where a value is written, and which key of an
object was written twice.

Why apart: the json module parses without positions, and a search space can be megabytes, so
`nnifc.document` parses first and scans only when a mistake is reported. The scan steps over
whole values with the json module's own decoder, and over runs of plain numbers by one regex.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

_BLANK = re.compile(r"[ \t\n\r]*")
_PLAIN_ITEM = r"[^,\"\[\]{}]*,[ \t\n\r]*"  # a number, true, false or null, and its comma


class Repeated(dict[str, Any]):
    """A JSON object with a key written twice, kept so that the second use can be found."""

    key = ""


def first_repeated(keys: list[str]) -> str:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            return key
        seen.add(key)
    return ""


def find_repeated(data: Any) -> tuple[tuple[str | int, ...], str]:
    """Where the first object (in the text's order) with a repeated key is, and that key."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    while stack:
        loc, node = stack.pop()
        if isinstance(node, Repeated):
            return loc, node.key
        items = node.items() if isinstance(node, dict) else enumerate(node)
        inner = [((*loc, k), v) for k, v in items if isinstance(v, dict | list)]
        stack.extend(reversed(inner))
    return (), ""


def offset(text: str, loc: Sequence[str | int], *, repeated: str | None = None) -> int | None:
    """Where the deepest part of `loc` that exists is written in JSON `text` (a key's opening
    quote, an item's first character); with `repeated`, that key's second use in the object at
    `loc`. None when the text is not an object or list. `text` must be valid JSON."""
    decoder = json.JSONDecoder()
    value = _skip(text, 0)
    if not text.startswith(("{", "["), value):
        return None
    found = value
    for part in loc:
        hit = _after_scalars(text, value, part) if isinstance(part, int) else None
        hit = hit or next(((w, v) for p, w, v in _members(decoder, text, value) if p == part), None)
        if hit is None:
            break
        found, value = hit
    if repeated is not None:
        uses = [written for key, written, _ in _members(decoder, text, value) if key == repeated]
        return uses[1] if len(uses) > 1 else found
    return found


def position(text: str, index: int | None) -> tuple[int, int]:
    """1-based line and column of a 0-based character index (0, 0 when unknown)."""
    if index is None:
        return 0, 0
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _after_scalars(text: str, start: int, index: int) -> tuple[int, int] | None:
    """Item `index` of the list at `start`, found by one regex match when no item before it is a
    string or container: a million numbers are skipped in C, not one by one."""
    if index < 1 or not text.startswith("[", start):
        return None
    run = re.compile(f"(?:{_PLAIN_ITEM}){{{index}}}").match(text, _skip(text, start + 1))
    return (run.end(), run.end()) if run else None


def _members(
    decoder: json.JSONDecoder, text: str, start: int
) -> Iterator[tuple[str | int, int, int]]:
    """(key or index, where it is written, where its value starts) of the container at `start`."""
    if not text.startswith(("{", "["), start):
        return
    closing = "}" if text[start] == "{" else "]"
    i = _skip(text, start + 1)
    index = 0
    while i < len(text) and text[i] != closing:
        written = i
        part: str | int = index
        if closing == "}":
            key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
            part = key
            i = _skip(text, _skip(text, i) + 1)  # past the colon
        yield part, written, i
        i = _skip(text, decoder.raw_decode(text, i)[1])
        if text.startswith(",", i):
            i = _skip(text, i + 1)
        index += 1


def _skip(text: str, i: int) -> int:
    """Past the JSON whitespace at `i`."""
    blank = _BLANK.match(text, i)
    return blank.end() if blank else i
