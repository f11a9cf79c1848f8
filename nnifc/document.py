"""A YAML or JSON file parsed into plain data that still knows where every value came from.

Config and search-space errors must name file:line:column. YAML is read through ruamel.yaml's
round-trip loader, whose nodes keep their positions. JSON is parsed by the json module alone
(strict JSON, duplicate keys rejected): a search space can be megabytes, so a position is found
by scanning the text only when a mistake is reported.

Hostile input costs bounded time and memory: files have a size limit (checked before reading),
nesting a depth limit, and a YAML document may stand for at most MAX_YAML_VALUES values, an
alias counting as everything it repeats (a "billion laughs" file is refused at the alias).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, MaxDepthExceededError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent

from nnifc.errors import ConfigError, Problem

MAX_CONFIG_BYTES = 1 << 20  # a config is a few kilobytes
MAX_SPACE_BYTES = 16 << 20  # a million-choice search space is 7.9 MB
MAX_YAML_VALUES = 100_000  # ruamel is slow: thousands of values a second
MAX_DEPTH = 100  # containers within containers; a nested choice takes four levels

Loc = Sequence[str | int]


def dotted(loc: Loc) -> str:
    """('trial', 'taskRoles', 0, 'name') -> 'trial.taskRoles[0].name'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class Source(Protocol):
    """What config validation needs of a file: its data and where each key was written."""

    @property
    def path(self) -> Path: ...
    @property
    def text(self) -> str: ...
    @property
    def data(self) -> Any: ...
    def locate(self, loc: Loc) -> tuple[int, int]: ...
    def problem(self, loc: Loc, message: str) -> Problem: ...
    def error(self, loc: Loc, message: str) -> ConfigError: ...


@dataclass(frozen=True)
class Document:
    """`data` as parsed from `text`, with ruamel's node `tree` (YAML) or the place `json_at`
    where `data` sits in JSON `text`; with neither (generated data) positions are unknown."""

    path: Path
    text: str
    data: Any
    tree: Any = None
    json_at: tuple[str | int, ...] | None = None

    def locate(self, loc: Loc) -> tuple[int, int]:
        """1-based line and column of the deepest node of `loc` that exists (0, 0 if unknown)."""
        if self.json_at is not None:
            return _position(self.text, _json_offset(self.text, (*self.json_at, *loc)))
        node, where = self.tree, (0, 0)
        if node is not None and hasattr(node, "lc") and node.lc.line is not None:
            where = (node.lc.line + 1, node.lc.col + 1)
        for part in loc:
            try:
                if isinstance(node, CommentedMap) and part in node:
                    line, col = node.lc.key(part)
                elif (
                    isinstance(node, CommentedSeq)
                    and isinstance(part, int)
                    and 0 <= part < len(node)
                ):
                    line, col = node.lc.item(part)
                else:
                    break
            except KeyError:  # a key merged in with `<<:` has no position of its own
                break
            if line is None:
                break
            where, node = (line + 1, col + 1), node[part]
        return where

    def problem(self, loc: Loc, message: str) -> Problem:
        line, column = self.locate(loc)
        return Problem(self.path, line, column, dotted(loc), message)

    def error(self, loc: Loc, message: str) -> ConfigError:
        return ConfigError([self.problem(loc, message)])

    def part(self, loc: Loc) -> Document:
        """The value at `loc` as a document of its own (a search space written inline)."""
        data, tree = self.data, self.tree
        for key in loc:
            data = data[key]
            tree = tree[key] if tree is not None else None
        json_at = None if self.json_at is None else (*self.json_at, *loc)
        return Document(self.path, self.text, data, tree, json_at)


def load(path: Path, *, limit: int | None = None, what: str = "file") -> Document:
    """Read `path` as JSON when it ends in .json, else as YAML; refuse more than `limit` bytes
    (a `what`: "config file", "search space file") by its size, before reading it."""
    try:
        if path.exists() and not path.is_dir() and not path.is_file():
            raise _whole(path, "not a regular file (a pipe or a device?)")
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if limit is not None and size > limit:
                raise _too_big(path, f"{size} bytes", limit, what)
            raw = f.read() if limit is None else f.read(limit + 1)
    except FileNotFoundError:
        raise _whole(path, "file not found") from None
    except IsADirectoryError:
        raise _whole(path, "is a directory, expected a file") from None
    except OSError as e:
        raise _whole(path, f"cannot read: {e.strerror}") from None
    if limit is not None and len(raw) > limit:  # it grew while being read
        raise _too_big(path, f"more than {limit} bytes", limit, what)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise _whole(
            path, f"not UTF-8 text: {e.reason} (byte {raw[e.start]:#04x})", line, column
        ) from None
    return parse(path, text)


def parse(path: Path, text: str) -> Document:
    """Parse `text` as the content of `path`: JSON when it ends in .json, else YAML."""
    try:
        load_text = _load_json if path.suffix.lower() == ".json" else _load_yaml
        doc = load_text(path, text)
        if _deeper_than(doc.data, MAX_DEPTH):
            raise _too_deep(path)
    except RecursionError:
        raise _too_deep(path) from None
    return doc


def _whole(path: Path, message: str, line: int = 0, column: int = 0) -> ConfigError:
    return ConfigError([Problem(path, line, column, "", message)])


def _too_big(path: Path, size: str, limit: int, what: str) -> ConfigError:
    return _whole(path, f"{size} is too big: a {what} may have at most {limit >> 20} MiB")


def _too_deep(path: Path) -> ConfigError:
    message = f"nested too deeply to be a config or search space (over {MAX_DEPTH} levels)"
    return _whole(path, message)


def _deeper_than(data: Any, limit: int) -> bool:
    containers = (dict, list)
    stack = [(data, 1)] if isinstance(data, containers) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, containers))
    return False


class _TooMany(MarkedYAMLError):
    """The document stands for more than MAX_YAML_VALUES values."""


class _CountingComposer(Composer):
    """Counts the values a YAML document stands for as it is composed, an alias as all that it
    repeats, and stops past MAX_YAML_VALUES: a billion-laughs file never gets expanded."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.values = 0
        self.sizes: dict[int, int] = {}  # id(node) -> how many values it stands for

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            node = super().compose_node(parent, index)
            repeats = self.sizes.get(id(node), 1)
            self.values += repeats
            if self.values > MAX_YAML_VALUES:
                raise _TooMany(
                    problem=f"alias *{event.anchor} repeats {repeats:,} values, taking the"
                    f" document to more than {MAX_YAML_VALUES:,} values",
                    problem_mark=event.start_mark,
                )
            return node
        before = self.values
        self.values += 1
        if self.values > MAX_YAML_VALUES:
            raise _TooMany(
                problem=f"more than {MAX_YAML_VALUES:,} values; a YAML file may hold no more"
                " (write a large search space as JSON)",
                problem_mark=event.start_mark,
            )
        node = super().compose_node(parent, index)
        self.sizes[id(node)] = self.values - before
        return node


def _load_yaml(path: Path, text: str) -> Document:
    yaml = YAML(typ="rt")
    yaml.Composer = _CountingComposer
    yaml.max_depth = MAX_DEPTH
    try:
        tree = yaml.load(text)
    except MaxDepthExceededError:
        raise _too_deep(path) from None
    except _TooMany as e:
        mark = e.problem_mark
        raise _whole(path, str(e.problem), mark.line + 1, mark.column + 1) from None
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        reason = " ".join(str(e.problem or e.context or "invalid YAML").split())
        raise _whole(path, f"invalid YAML: {reason}", line, column) from None
    except YAMLError as e:
        line, column = _position(text, getattr(e, "position", None))
        reason = " ".join(str(getattr(e, "reason", None) or e).split())
        raise _whole(path, f"invalid YAML: {reason}", line, column) from None
    except (TypeError, ValueError, AttributeError, KeyError) as e:  # ruamel choking on odd input
        raise _whole(path, f"invalid YAML: {type(e).__name__}: {e}") from None
    if tree is None:
        raise _whole(path, "the file is empty")
    return Document(path, text, plain(tree), tree)


class _Repeated(dict[str, Any]):
    """A JSON object with a key written twice, kept so that the second use can be found."""

    key = ""


def _load_json(path: Path, text: str) -> Document:
    repeated: list[_Repeated] = []

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        data = dict(pairs)
        if len(data) == len(pairs):
            return data
        odd = _Repeated(pairs)
        odd.key = _first_repeated([key for key, _ in pairs])
        repeated.append(odd)
        return odd

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as e:
        if not text.strip():
            raise _whole(path, "the file is empty") from None
        raise _whole(path, f"invalid JSON: {e.msg}", e.lineno, e.colno) from None
    if repeated:
        if _deeper_than(data, MAX_DEPTH):
            raise _too_deep(path)
        loc, key = _find_repeated(data)
        line, column = _position(text, _json_offset(text, loc, repeated=key))
        raise _whole(path, f"invalid JSON: duplicate key {json.dumps(key)}", line, column)
    return Document(path, text, data, json_at=())


def _first_repeated(keys: list[str]) -> str:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            return key
        seen.add(key)
    return ""


def _find_repeated(data: Any) -> tuple[tuple[str | int, ...], str]:
    """Where the first object (in the text's order) with a repeated key is, and that key."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    while stack:
        loc, node = stack.pop()
        if isinstance(node, _Repeated):
            return loc, node.key
        items = node.items() if isinstance(node, dict) else enumerate(node)
        inner = [((*loc, k), v) for k, v in items if isinstance(v, dict | list)]
        stack.extend(reversed(inner))
    return (), ""


_BLANK = re.compile(r"[ \t\n\r]*")


def _json_offset(text: str, loc: Loc, *, repeated: str | None = None) -> int | None:
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


_PLAIN_ITEM = r"[^,\"\[\]{}]*,[ \t\n\r]*"  # a number, true, false or null, and its comma


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


def _position(text: str, index: int | None) -> tuple[int, int]:
    """1-based line and column of a 0-based character index (0, 0 when unknown)."""
    if index is None:
        return 0, 0
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def shown(value: Any) -> str:
    """A value as an error message quotes it: JSON for scalars, a word for containers."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def plain(node: Any) -> Any:
    """ruamel's commented containers and scalar subclasses -> dict, list, str, int, float, bool."""
    if isinstance(node, dict):
        return {plain(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node) if not math.isnan(node) else math.nan
    if isinstance(node, str):
        return str(node)
    return node


def to_yaml(data: Any) -> str:
    """Plain data as block-style YAML (for showing generated Kubernetes objects)."""
    out = io.StringIO()
    dumper = YAML(typ="safe", pure=True)
    dumper.default_flow_style = False
    dumper.width = 4096
    dumper.dump(data, out)
    return out.getvalue()
