"""A YAML or JSON file parsed into plain data that still knows where every value came from.

Config and search-space errors must name file:line:column, so both are read through ruamel.yaml's
round-trip loader, whose nodes keep their positions. JSON is parsed by the json module first
(strict JSON, duplicate keys rejected) and by ruamel only to find positions.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from nnifc.errors import ConfigError, Problem

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
    path: Path
    text: str
    data: Any
    tree: Any  # the ruamel node tree with positions, or None when positions are unknown

    def locate(self, loc: Loc) -> tuple[int, int]:
        """1-based line and column of the deepest node of `loc` that exists (0, 0 if unknown)."""
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
        return Document(self.path, self.text, data, tree)


def load(path: Path) -> Document:
    """Read `path` as JSON when it ends in .json, else as YAML."""
    try:
        if path.exists() and not path.is_dir() and not path.is_file():
            raise _whole(path, "not a regular file (a pipe or a device?)")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _whole(path, "file not found") from None
    except IsADirectoryError:
        raise _whole(path, "is a directory, expected a file") from None
    except OSError as e:
        raise _whole(path, f"cannot read: {e.strerror}") from None
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
        if path.suffix.lower() == ".json":
            return _load_json(path, text)
        return _load_yaml(path, text)
    except RecursionError:
        raise _whole(path, "nested too deeply to be a config or search space") from None


def _whole(path: Path, message: str, line: int = 0, column: int = 0) -> ConfigError:
    return ConfigError([Problem(path, line, column, "", message)])


def _load_yaml(path: Path, text: str) -> Document:
    try:
        tree = YAML(typ="rt").load(text)
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


def _load_json(path: Path, text: str) -> Document:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        for key in keys:
            if keys.count(key) > 1:
                raise ValueError(f"duplicate key {json.dumps(key)}")
        return dict(pairs)

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as e:
        if not text.strip():
            raise _whole(path, "the file is empty") from None
        raise _whole(path, f"invalid JSON: {e.msg}", e.lineno, e.colno) from None
    except ValueError as e:
        line, column = _duplicate_position(text)
        raise _whole(path, f"invalid JSON: {e}", line, column) from None
    try:  # positions only; JSON is YAML 1.2 once tabs, which YAML forbids in places, are spaces
        tree = YAML(typ="rt").load(text.replace("\t", " "))
    except YAMLError:
        tree = None
    return Document(path, text, data, tree)


def _position(text: str, index: int | None) -> tuple[int, int]:
    """1-based line and column of a 0-based character index (0, 0 when unknown)."""
    if index is None:
        return 0, 0
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _duplicate_position(text: str) -> tuple[int, int]:
    """Where ruamel (which reports duplicate keys with a position) sees the repeated key."""
    try:
        YAML(typ="rt").load(text.replace("\t", " "))
    except MarkedYAMLError as e:
        mark = e.problem_mark
        if mark is not None:
            return mark.line + 1, mark.column + 1
    except YAMLError:
        pass
    return 0, 0


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
