"""Pydantic's validation errors as nnifc's Problems: located in the file as written, in words a
user reads (`must be >= 1, got 0`), with a did-you-mean for a misspelt key.

Apart from the loader so that the rules for wording a mistake live in one place, used for the
config, the storage's blocks and every plug-in's classArgs alike.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from nnifc.document import Loc, Source, shown
from nnifc.errors import Problem

MISPLACED = {
    (
        "trial",
        "command",
    ): "not used with frameworkcontroller: each of trial.taskRoles[] has its own command",
    (
        "trial",
        "gpuNum",
    ): "not used with frameworkcontroller: set gpuNum in each of trial.taskRoles[]",
    ("trial", "taskRoles"): "taskRoles are for trainingServicePlatform: frameworkcontroller; "
    "a local trial has trial.command",
}


def problems(
    doc: Source, model: type[BaseModel], error: ValidationError, prefix: Loc = ()
) -> list[Problem]:
    found: dict[tuple[str | int, ...], tuple[str, str]] = {}  # loc -> (error type, message)
    data: Any = doc.data
    for part in prefix:
        data = data[part] if isinstance(data, dict) and part in data else {}
    for item in error.errors():
        loc = (*prefix, *_data_loc(data, item["loc"]))
        if loc not in found:
            found[loc] = (item["type"], _message(item, model, loc[len(prefix) :]))
    # a misspelt required key shows once, as the typo with its did-you-mean
    for loc, (kind, message) in list(found.items()):
        if kind == "extra_forbidden" and "did you mean" in message:
            meant = message.rsplit("'", 2)[-2]
            if found.get((*loc[:-1], meant), ("",))[0] == "missing":
                del found[(*loc[:-1], meant)]
    problems = [doc.problem(loc, message) for loc, (_, message) in found.items()]
    return sorted(problems, key=lambda p: (p.line, p.column))


def _data_loc(data: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Drop the parts pydantic adds for union members and validators: keep keys the data has."""
    kept: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        found, child = _child(node, part)
        if found:
            kept.append(part)
            node = child
        elif isinstance(node, dict) and i == len(loc) - 1 and isinstance(part, str):
            kept.append(part)  # a missing key: keep its name
    return tuple(kept)


def _child(node: Any, part: str | int) -> tuple[bool, Any]:
    if isinstance(node, dict) and part in node:
        return True, node[part]
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return True, node[part]
    return False, None


def _message(item: Any, model: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    kind, ctx, got = item["type"], item.get("ctx", {}), item.get("input")
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        if loc in MISPLACED:
            return MISPLACED[loc]
        allowed = _keys_at(model, loc[:-1])
        return f"unknown key{suggest(str(loc[-1]), allowed)}"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx['pattern']}, got {shown(got)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {
            "greater_than_equal": ">=",
            "greater_than": ">",
            "less_than_equal": "<=",
            "less_than": "<",
        }[kind]
        bound = next(iter(ctx.values()))
        return f"must be {op} {bound}, got {shown(got)}"
    if kind in ("string_too_short", "too_short"):
        return f"must not be empty, got {shown(got)}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}, got {shown(got)}"
    if kind.endswith(("_type", "_parsing")):
        wanted = {
            "string": "a string",
            "int": "an integer",
            "float": "a number",
            "bool": "true or false",
            "dict": "a mapping",
            "list": "a list",
            "model": "a mapping",
            "model_attributes": "a mapping",
            "is_instance_of": "a path",
            "path": "a path",
        }
        return f"must be {wanted.get(kind.rsplit('_', 1)[0], kind)}, got {shown(got)}"
    message = str(item["msg"]).removeprefix("Value error, ")
    if "got" in message or isinstance(got, dict | list):
        return message
    return f"{message}, got {shown(got)}"


def _keys_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None or isinstance(part, int):
            continue
        field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
        current = _inner_model(field.annotation) if field else None
    if current is None:
        return []
    return [f.alias or n for n, f in current.model_fields.items()]


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


def suggest(word: str, known: Any) -> str:
    names = [str(k) for k in known]
    lowered = {n.lower(): n for n in names}
    match = lowered.get(word.lower()) or next(
        iter(difflib.get_close_matches(word, names, n=1, cutoff=0.6)), None
    )
    return f"; did you mean {match!r}?" if match else ""
