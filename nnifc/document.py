"""A YAML or JSON file parsed into plain data that still knows where every value came from.

Config and search-space errors must name file:line:column. YAML is read through ruamel.yaml's
round-trip loader, whose nodes keep their positions. JSON is parsed by the json module alone
(strict JSON, duplicate keys rejected): a search space can be megabytes, so a position is found
by scanning the text only when a mistake is reported.

Hostile input costs bounded time and memory: files have a size limit (checked before reading),
nesting a depth limit, and a YAML document may stand for at most MAX_YAML_VALUES values, an
alias counting as everything it repeats (a "billion laughs" file is refused at the alias).
Finding places in JSON text is `document_json`, counting YAML values `document_yaml`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import MaxDepthExceededError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from nnifc.document_json import Repeated, find_repeated, first_repeated, offset, position
from nnifc.document_yaml import TooMany, counting, plain, to_yaml
from nnifc.errors import ConfigError, Problem

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "MAX_SPACE_BYTES",
    "MAX_YAML_VALUES",
    "Document",
    "Loc",
    "Source",
    "dotted",
    "load",
    "parse",
    "plain",
    "shown",
    "to_yaml",
]

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
            return position(self.text, offset(self.text, (*self.json_at, *loc)))
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


def _load_yaml(path: Path, text: str) -> Document:
    yaml = YAML(typ="rt")
    yaml.Composer = counting(MAX_YAML_VALUES)
    yaml.max_depth = MAX_DEPTH
    try:
        tree = yaml.load(text)
    except MaxDepthExceededError:
        raise _too_deep(path) from None
    except TooMany as e:
        mark = e.problem_mark
        raise _whole(path, str(e.problem), mark.line + 1, mark.column + 1) from None
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        reason = " ".join(str(e.problem or e.context or "invalid YAML").split())
        raise _whole(path, f"invalid YAML: {reason}", line, column) from None
    except YAMLError as e:
        line, column = position(text, getattr(e, "position", None))
        reason = " ".join(str(getattr(e, "reason", None) or e).split())
        raise _whole(path, f"invalid YAML: {reason}", line, column) from None
    except (TypeError, ValueError, AttributeError, KeyError) as e:  # ruamel choking on odd input
        raise _whole(path, f"invalid YAML: {type(e).__name__}: {e}") from None
    if tree is None:
        raise _whole(path, "the file is empty")
    return Document(path, text, plain(tree), tree)


def _load_json(path: Path, text: str) -> Document:
    repeated: list[Repeated] = []

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        data = dict(pairs)
        if len(data) == len(pairs):
            return data
        odd = Repeated(pairs)
        odd.key = first_repeated([key for key, _ in pairs])
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
        loc, key = find_repeated(data)
        line, column = position(text, offset(text, loc, repeated=key))
        raise _whole(path, f"invalid JSON: duplicate key {json.dumps(key)}", line, column)
    return Document(path, text, data, json_at=())


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
