"""load(path) -> Experiment: an NNI v1 YAML file and its search space, fully validated.

The loader, above everything that runs an experiment: it knows the tuner and assessor
registries and NNI v2's translation, which the models in `experiment.py` must not pull in.

Nothing touches a cluster, storage or the store before this returns, and every mistake it finds
is a ConfigError naming file:line:column, the dotted key and the value seen, with a did-you-mean
for misspelt keys and names. Keys NNI accepted that mean nothing here become warnings.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, Field, ValidationError, create_model

from nnifc import document, nni_v2, optimize, space
from nnifc.advisors import ADVISORS
from nnifc.assessors import ASSESSORS, AssessorOptions
from nnifc.document import Document, Loc, Source, shown
from nnifc.errors import ConfigError, Problem
from nnifc.experiment import (
    PLATFORM_CONFIGS,
    ExperimentConfig,
    FrameworkControllerConfig,
    FrameworkControllerExperimentConfig,
)
from nnifc.experiment import Experiment as Experiment  # what load returns, named as before
from nnifc.storage import STORAGES
from nnifc.tuners import TUNERS, TunerOptions

FC: Loc = ("frameworkcontrollerConfig",)
DEFAULT_STORAGE = "nfs"

IGNORED = (
    "authorName",
    "multiThread",
    "nniManagerIp",
    "logDir",
    "logLevel",
    "logCollection",
    "debug",
)

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


def load(
    path: Path, *, text: str | None = None, space_text: str | None = None, stored: bool = False
) -> Experiment:
    """Validate the config at `path` (or `text`, as stored for a running experiment).

    `stored`: the text was validated at create, so the files it names need not exist now.
    """
    path = Path(os.path.abspath(path.expanduser()))
    if text is None:
        doc = document.load(path, limit=document.MAX_CONFIG_BYTES, what="config file")
    else:
        doc = document.parse(path, text)
    translated = nni_v2.translate(doc) if nni_v2.is_v2(doc.data) else None
    source: Source = translated or doc
    config = _validate(source, stored=stored)
    warnings = list(translated.warnings) if translated else _warnings(doc, config)
    tuner_options, assessor_options = _plugins(source, config)
    space_path = config.search_space_path or path
    if config.use_annotation and config.search_space_path is not None:
        raise source.error(
            ("searchSpacePath",),
            "not used with useAnnotation: true (the annotations in the trial code are the search space)",
        )
    if space_text is not None:
        space_doc = document.parse(space_path.with_suffix(".json"), space_text)
    elif config.search_space_path is not None:
        space_doc = document.load(
            space_path, limit=document.MAX_SPACE_BYTES, what="search space file"
        )
    elif translated and translated.inline_space is not None:
        space_doc = doc.part(("searchSpace",))
    elif config.use_annotation:
        space_doc = _annotated_space(config.trial.code_dir)
    else:
        raise source.error(("searchSpacePath",), "required: the JSON file of parameters to tune")
    search_space = space.parse(space_doc)
    tuner_name, name_loc = _tuner_name(config)
    try:
        TUNERS[tuner_name](search_space, tuner_options)
    except ValueError as e:
        raise source.error(name_loc, f"{e} (search space {space_path})") from None
    modes = optimize.resolve(
        path,
        tuner_name,
        tuner_options,
        config.assessor.builtin_assessor_name if config.assessor else None,
        assessor_options,
    )
    return Experiment(
        source=path,
        config_text=doc.text,
        space_text=json.dumps(space_doc.data) if space_text is None else space_text,
        config=config,
        space=search_space,
        tuner_options=tuner_options,
        assessor_options=assessor_options,
        optimize_mode=modes.experiment,
        assessor_optimize_mode=modes.assessor,
        warnings=(*warnings, *modes.warnings),
        error_at=functools.partial(_error_at, path, doc.text),
    )


def _error_at(path: Path, text: str, loc: Loc, message: str) -> ConfigError:
    """A mistake found after loading (a platform's preflight), located in the file as written."""
    doc = document.parse(path, text)
    source: Source = nni_v2.translate(doc) if nni_v2.is_v2(doc.data) else doc
    return source.error(loc, message)


def _annotated_space(code_dir: Path) -> Document:
    """The search space NNI would generate from the trial code's annotations."""
    from nnifc.annotations import search_space

    data = search_space(code_dir)
    return Document(code_dir / "(annotations)", json.dumps(data), data, None)


def _validate(doc: Source, *, stored: bool = False) -> ExperimentConfig:
    if not isinstance(doc.data, dict):
        raise doc.error((), "must be a YAML mapping of experiment keys")
    if "trainingServicePlatform" not in doc.data:
        raise doc.error(
            ("trainingServicePlatform",), "required key is missing (local or frameworkcontroller)"
        )
    platform = doc.data["trainingServicePlatform"]
    if not isinstance(platform, str) or platform not in PLATFORM_CONFIGS:
        raise doc.error(
            ("trainingServicePlatform",),
            f"must be one of {', '.join(PLATFORM_CONFIGS)}, got {shown(platform)}",
        )
    model: type[ExperimentConfig] = PLATFORM_CONFIGS[platform]
    unknown_storage: list[Problem] = []
    if platform == "frameworkcontroller":
        model, unknown_storage = _storage_model(doc)
    try:
        context = {"base_dir": doc.path.parent, "stored": stored}
        config = model.model_validate(doc.data, context=context)
    except ValidationError as e:
        problems = unknown_storage + _problems(doc, model, e)
        raise ConfigError(sorted(problems, key=lambda p: (p.line, p.column))) from None
    if unknown_storage:
        raise ConfigError(unknown_storage)
    if isinstance(config, FrameworkControllerExperimentConfig):
        names = [role.name for role in config.trial.task_roles]
        for i, name in enumerate(names):
            if names.index(name) != i:
                raise doc.error(
                    ("trial", "taskRoles", i, "name"),
                    f"task role names must be unique, {shown(name)} is used twice",
                )
    return config


def _storage_model(
    doc: Source,
) -> tuple[type[FrameworkControllerExperimentConfig], list[Problem]]:
    """The frameworkcontroller model with the named storage's own blocks, after the checks that
    need to know the storage: its blocks present, no other storage's blocks. An unknown storage
    is a problem reported with what the model finds in the rest."""
    block = doc.data.get("frameworkcontrollerConfig")
    if not isinstance(block, dict):
        return _with_storage(DEFAULT_STORAGE), []  # the model says what is wrong
    kind = block.get("storage", DEFAULT_STORAGE)
    if not isinstance(kind, str) or kind not in STORAGES:
        why = f"must be one of {_one_of(STORAGES)}, got {shown(kind)}"
        return _with_storage(None), [doc.problem((*FC, "storage"), why)]
    options = STORAGES[kind].Options
    required = [f.alias or n for n, f in options.model_fields.items() if f.is_required()]
    if any(block.get(key) is None for key in required):
        raise doc.error(FC, f"storage is {kind}, so {options.required}")
    common = _keys(FrameworkControllerConfig)
    stray = {key for key in block if key not in common and key not in _keys(options)}
    for other, storage in STORAGES.items() if stray else ():
        if other != kind and stray & _keys(storage.Options):
            fix = f"set storage: {other}" if kind == DEFAULT_STORAGE else "remove one of them"
            raise doc.error(FC, f"storage is {kind}, but {storage.Options.present}; {fix}")
    return _with_storage(kind), []


@functools.cache
def _with_storage(kind: str | None) -> type[FrameworkControllerExperimentConfig]:
    """The model for storage `kind`; None: an unknown storage, whose blocks may be any
    storage's (so they are not reported as unknown keys beside the unknown storage)."""
    if kind is None:
        any_blocks: dict[str, Any] = {
            name: (Any, Field(default=None, alias=field.alias))
            for storage in STORAGES.values()
            for name, field in storage.Options.model_fields.items()
        }
        block = create_model(
            "FrameworkControllerConfig_unknown",
            __base__=FrameworkControllerConfig,
            storage=(Any, None),
            **any_blocks,
        )
    else:
        block = create_model(
            f"FrameworkControllerConfig_{kind}",
            __base__=cast(Any, (FrameworkControllerConfig, STORAGES[kind].Options)),  # two models
        )
    return create_model(
        f"FrameworkControllerExperimentConfig_{kind or 'unknown'}",
        __base__=FrameworkControllerExperimentConfig,
        frameworkcontroller_config=(block, ...),
    )


def _keys(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def _one_of(names: Mapping[str, Any]) -> str:
    quoted = [repr(name) for name in names]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else quoted[0]


def _tuner_name(config: ExperimentConfig) -> tuple[str, Loc]:
    """What proposes trials (an advisor runs as the tuner), and where the file names it."""
    if config.advisor is not None and config.advisor.builtin_advisor_name:
        return config.advisor.builtin_advisor_name, ("advisor", "builtinAdvisorName")
    assert config.tuner is not None and config.tuner.builtin_tuner_name
    return config.tuner.builtin_tuner_name, ("tuner", "builtinTunerName")


def _plugins(doc: Source, config: ExperimentConfig) -> tuple[TunerOptions, AssessorOptions | None]:
    if config.multi_phase:
        raise doc.error(
            ("multiPhase",), "multi-phase trials are not supported; set multiPhase: false"
        )
    if config.advisor is not None:
        return _advisor(doc, config), None
    if config.tuner is None:
        raise doc.error(("tuner",), "required: for example tuner: {builtinTunerName: Random}")
    tuner = _options(doc, "tuner", "builtinTunerName", config.tuner, TUNERS)
    assessor = None
    if config.assessor is not None:
        assessor = _options(doc, "assessor", "builtinAssessorName", config.assessor, ASSESSORS)
    modes = {m for m in (tuner.optimize_mode, assessor and assessor.optimize_mode) if m}
    if len(modes) > 1:
        raise doc.error(
            ("assessor", "classArgs", "optimize_mode"), "differs from tuner.classArgs.optimize_mode"
        )
    assert isinstance(assessor, AssessorOptions | None)
    return tuner, assessor


def _advisor(doc: Source, config: ExperimentConfig) -> TunerOptions:
    """An advisor chooses the trials and when they stop: NNI refuses a tuner or assessor with it."""
    others = [key for key in ("tuner", "assessor") if getattr(config, key) is not None]
    if others:
        both = " and ".join(others)
        raise doc.error(
            ("advisor",), f"an advisor replaces the {both}, as in NNI; remove {both} or advisor"
        )
    options = _options(doc, "advisor", "builtinAdvisorName", config.advisor, ADVISORS)
    assert isinstance(options, TunerOptions)
    return options


def _options(
    doc: Source, section: str, name_key: str, spec: Any, registry: Mapping[str, Any]
) -> Any:
    if spec.code_dir or spec.class_file_name or spec.class_name:
        raise doc.error(
            (section,),
            f"custom {section}s are not supported; use {name_key}: one of {', '.join(registry)}",
        )
    name = (
        getattr(spec, "builtin_tuner_name", None)
        or getattr(spec, "builtin_assessor_name", None)
        or getattr(spec, "builtin_advisor_name", None)
    )
    if name is None:
        raise doc.error(
            (section, name_key), f"required key is missing; one of {', '.join(registry)}"
        )
    if name not in registry:
        raise doc.error(
            (section, name_key),
            f"unknown {section} {shown(name)}{_suggest(name, registry)}; known: {', '.join(sorted(registry))}",
        )
    options_model: type[BaseModel] = registry[name].Options
    try:
        return options_model.model_validate(spec.class_args)
    except ValidationError as e:
        prefix = (section, "classArgs")
        raise ConfigError(_problems(doc, options_model, e, prefix)) from None


def _warnings(doc: Document, config: ExperimentConfig) -> list[str]:
    ignored = [k for k in IGNORED if k in doc.data]
    other = (
        "frameworkcontrollerConfig"
        if config.training_service_platform == "local"
        else "localConfig"
    )
    if other in doc.data:
        ignored.append(other)
    for section in ("tuner", "assessor", "advisor"):
        for key in ("gpuIndices", "gpuNum"):
            if isinstance(doc.data.get(section), dict) and key in doc.data[section]:
                ignored.append(f"{section}.{key}")
    if not ignored:
        return []
    lines = {key: doc.locate(key.split("."))[0] for key in ignored}
    where = ", ".join(
        f"{key} (line {line})" for key, line in sorted(lines.items(), key=lambda kv: kv[1])
    )
    return [f"{doc.path}: ignoring keys that mean nothing to nnifc: {where}"]


def _problems(
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
        return f"unknown key{_suggest(str(loc[-1]), allowed)}"
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


def _suggest(word: str, known: Any) -> str:
    names = [str(k) for k in known]
    lowered = {n.lower(): n for n in names}
    match = lowered.get(word.lower()) or next(
        iter(difflib.get_close_matches(word, names, n=1, cutoff=0.6)), None
    )
    return f"; did you mean {match!r}?" if match else ""
