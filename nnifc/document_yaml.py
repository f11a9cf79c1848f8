"""YAML as nnifc reads and writes it: a document's values counted as they are composed, and
ruamel's round-trip containers turned into plain data.

Why apart: the counting is what keeps a "billion laughs" file from being expanded. An alias
counts as every value it repeats, and composing stops past the limit, at the alias.
"""

from __future__ import annotations

import io
import math
from typing import Any, ClassVar

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent


class TooMany(MarkedYAMLError):
    """The document stands for more values than its reader allows."""


class CountingComposer(Composer):
    """Counts the values a YAML document stands for as it is composed, an alias as all that it
    repeats, and stops past `limit`: a billion-laughs file never gets expanded."""

    limit: ClassVar[int]

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
            if self.values > self.limit:
                raise TooMany(
                    problem=f"alias *{event.anchor} repeats {repeats:,} values, taking the"
                    f" document to more than {self.limit:,} values",
                    problem_mark=event.start_mark,
                )
            return node
        before = self.values
        self.values += 1
        if self.values > self.limit:
            raise TooMany(
                problem=f"more than {self.limit:,} values; a YAML file may hold no more"
                " (write a large search space as JSON)",
                problem_mark=event.start_mark,
            )
        node = super().compose_node(parent, index)
        self.sizes[id(node)] = self.values - before
        return node


def counting(at_most: int) -> type[Composer]:
    """A composer class for ruamel (which makes the instance) allowing `at_most` values."""

    class Limited(CountingComposer):
        limit = at_most

    return Limited


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
