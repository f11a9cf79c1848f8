"""NNI 2.x ("v2") experiment YAML, translated key by key into the v1 shape experiment.py checks.

Why: one model and one set of rules for both formats. The translation is a table from each v2
key to the v1 key it means, so every v1 location has a v2 location: a mistake the v1 validation
finds is still reported at the user's line, under the name the user wrote. The table itself,
with the facts from NNI 2.10 it rests on, is nni_v2_keys.py.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nnifc.document import Document, Loc, dotted, shown
from nnifc.errors import ConfigError, Problem
from nnifc.nni_v2_keys import (
    COMMON,
    DEFAULT_IMAGE,
    FC,
    MARKERS,
    PLATFORMS,
    Each,
    Ignored,
    Known,
    Refused,
    Rule,
    To,
    Within,
)
from nnifc.storage import STORAGES


def is_v2(data: Any) -> bool:
    """v1 files name trainingServicePlatform; v2 files have trainingService and friends."""
    return (
        isinstance(data, dict)
        and "trainingServicePlatform" not in data
        and any(key in data for key in MARKERS)
    )


@dataclass(frozen=True)
class Translated:
    """A v2 file as v1-shaped data that reports problems at the v2 file's own keys."""

    source: Document
    data: dict[str, Any]
    names: dict[tuple[str, ...], tuple[str, ...]]  # v1 path pattern ("*" for indices) -> v2
    warnings: tuple[str, ...] = ()
    inline_space: Any = None  # the searchSpace mapping written in the file, if any

    @property
    def path(self) -> Any:
        return self.source.path

    @property
    def text(self) -> str:
        return self.source.text

    def where(self, loc: Loc) -> tuple[str | int, ...]:
        """The v2 location of a v1 location: its longest known prefix, then the rest as is."""
        pattern = tuple("*" if isinstance(p, int) else p for p in loc)
        for cut in range(len(loc), -1, -1):
            if pattern[:cut] in self.names:
                indices = iter(p for p in loc[:cut] if isinstance(p, int))
                head = [next(indices) if p == "*" else p for p in self.names[pattern[:cut]]]
                return (*head, *loc[cut:])
        return tuple(loc)

    def locate(self, loc: Loc) -> tuple[int, int]:
        return self.source.locate(self.where(loc))

    def problem(self, loc: Loc, message: str) -> Problem:
        return self.source.problem(self.where(loc), message)

    def error(self, loc: Loc, message: str) -> ConfigError:
        return ConfigError([self.problem(loc, message)])


@dataclass
class _Translation:
    doc: Document
    out: dict[str, Any] = field(default_factory=dict)
    names: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    ignored: list[Loc] = field(default_factory=list)

    def mapping(self, data: Any, spec: Mapping[str, Rule], v2: Loc, v1: Loc) -> None:
        if not isinstance(data, dict):
            self.fail(v2, f"must be a mapping, got {shown(data)}")
            return
        for key, value in data.items():
            rule = spec.get(key)
            where = (*v2, key)
            if rule is None:
                self.fail(where, f"unknown key{_suggest(str(key), spec)}")
            elif isinstance(rule, To):
                self.put((*v1, *rule.path), value, where, rule.convert)
            elif isinstance(rule, Ignored):
                self.ignored.append(where)
            elif isinstance(rule, Known):
                pass
            elif isinstance(rule, Refused):
                self.fail(where, rule.why)
            elif isinstance(rule, Within):
                self.mapping(value, rule.spec, where, (*v1, *rule.path))
            elif not isinstance(value, list):
                self.fail(where, f"must be a list of mappings, got {shown(value)}")
            elif not value:
                self.fail(where, "must not be empty")
            else:
                self.put((*v1, *rule.path), [{} for _ in value], where)
                for i, item in enumerate(value):
                    self.mapping(item, rule.spec, (*where, i), (*v1, *rule.path, i))

    def put(
        self, v1: Loc, value: Any, v2: Loc, convert: Callable[[Any], Any] | None = None
    ) -> None:
        if convert is not None:
            try:
                value = convert(value)
            except ValueError as e:
                self.fail(v2, str(e))
                return
        node: Any = self.out
        for part in v1[:-1]:
            node = node[part] if isinstance(part, int) else node.setdefault(part, {})
        node[v1[-1]] = value

    def name(self, spec: Mapping[str, Rule], v2: tuple[str, ...], v1: tuple[str, ...]) -> None:
        """Record where each v1 key of `spec` comes from, whether or not the file has it."""
        self.names.setdefault(v1, v2)
        for key, rule in spec.items():
            if isinstance(rule, To):
                self.names.setdefault((*v1, *rule.path), (*v2, key))
            elif isinstance(rule, Within):
                self.name(rule.spec, (*v2, key), (*v1, *rule.path))
            elif isinstance(rule, Each):
                self.names.setdefault((*v1, *rule.path), (*v2, key))
                self.name(rule.spec, (*v2, key, "*"), (*v1, *rule.path, "*"))

    def fail(self, loc: Loc, message: str) -> None:
        self.problems.append(self.doc.problem(loc, message))


def translate(doc: Document) -> Translated:
    """v2 data -> v1-shaped data; every problem found on the way is raised together."""
    t = _Translation(doc)
    t.name(COMMON, (), ())
    t.mapping(doc.data, COMMON, (), ())
    out = t.out
    service = doc.data.get("trainingService")
    platform = _platform(t, service)
    out.pop("trainingService", None)
    if platform is not None:
        out["trainingServicePlatform"] = platform
        t.names[("trainingServicePlatform",)] = ("trainingService", "platform")
        t.name(PLATFORMS[platform], ("trainingService",), ())
        t.mapping(service, PLATFORMS[platform], ("trainingService",), ())
        if platform == "frameworkcontroller":
            _frameworkcontroller(t, service)
    _algorithm(t, "tuner", "builtinTunerName")
    _algorithm(t, "assessor", "builtinAssessorName")
    _algorithm(t, "advisor", "builtinAdvisorName")
    if out.pop("experimentType", "hpo") != "hpo":
        t.fail(("experimentType",), "only hpo experiments are supported, not NAS")
    out.setdefault("experimentName", doc.path.stem)
    out.setdefault("trial", {}).setdefault("codeDir", ".")  # NNI 2.x's default
    inline = out.pop("searchSpace", None)
    if inline is not None and "searchSpacePath" in out:
        t.fail(("searchSpace",), "give searchSpace or searchSpaceFile, not both")
    if t.problems:
        raise ConfigError(sorted(t.problems, key=lambda p: (p.line, p.column)))
    warnings: tuple[str, ...] = ()
    if t.ignored:
        keys = ", ".join(f"{dotted(loc)} (line {doc.locate(loc)[0]})" for loc in t.ignored)
        warnings = (f"{doc.path}: ignoring keys that mean nothing to nnifc: {keys}",)
    return Translated(doc, out, t.names, warnings, inline)


def _platform(t: _Translation, service: Any) -> str | None:
    if service is None:
        t.fail(
            ("trainingService",),
            "required key is missing: {platform: local} or frameworkcontroller",
        )
        return None
    if isinstance(service, list):
        t.fail(("trainingService",), "a list of training services (hybrid mode) is not supported")
        return None
    if not isinstance(service, dict):
        t.fail(("trainingService",), f"must be a mapping, got {shown(service)}")
        return None
    platform = service.get("platform")
    if platform not in PLATFORMS:
        seen = "missing" if platform is None else f"got {shown(platform)}"
        t.fail(("trainingService", "platform"), f"must be local or frameworkcontroller, {seen}")
        return None
    return str(platform)


def _frameworkcontroller(t: _Translation, service: dict[str, Any]) -> None:
    """A flat v2 storage block becomes v1's `storage` and the storage's own blocks."""
    storage = service.get("storage")
    where = ("trainingService", "storage")
    if storage is None:
        t.fail(("trainingService",), "storage is required: {storageType: nfs, server, path}")
    elif not isinstance(storage, dict):
        t.fail(where, f"must be a mapping, got {shown(storage)}")
    else:
        kind = storage.get("storageType")
        if not isinstance(kind, str) or kind not in STORAGES:
            known = " or ".join(STORAGES)
            t.fail((*where, "storageType"), f"must be {known}, got {shown(kind)}")
            return
        options = STORAGES[kind].Options
        rules: dict[str, Rule] = {"storageType": To(("storage",))}
        rules.update((key, To(path)) for key, path in options.v2_keys.items())
        t.name(rules, where, FC)
        t.mapping(storage, rules, where, FC)
        for key in options.v2_required:
            if key not in storage:
                t.fail(where, f"storageType is {kind}, so {key} is required")
    if "taskRoles" not in service:
        t.fail(("trainingService",), "taskRoles is required: the task roles of each trial")
    trial = t.out.setdefault("trial", {})
    command = trial.pop("command", None)  # each task role runs its own command
    roles = service.get("taskRoles")
    if (
        command is not None
        and isinstance(roles, list)
        and all(isinstance(r, dict) and r.get("command") != command for r in roles)
    ):
        t.ignored.append(t.names[("trial", "command")])
    if trial.pop("gpuNum", None) is not None:  # each task role has its own gpuNumber
        t.ignored.append(t.names[("trial", "gpuNum")])
    for i, role in enumerate(roles if isinstance(roles, list) else []):
        if isinstance(role, dict) and "dockerImage" not in role:
            t.out["trial"]["taskRoles"][i]["image"] = DEFAULT_IMAGE


def _algorithm(t: _Translation, section: str, name_key: str) -> None:
    """v2's tuner.name is v1's tuner.builtinTunerName (assessor and advisor likewise)."""
    t.names[(section, name_key)] = (section, "name")
    spec = t.out.get(section)
    if isinstance(spec, dict) and "builtin" in spec:
        spec[name_key] = spec.pop("builtin")


def _suggest(word: str, known: Mapping[str, Any]) -> str:
    match = next(iter(difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)), None)
    return f"; did you mean {match!r}?" if match else ""
