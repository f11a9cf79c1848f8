"""load(path) -> Experiment: an NNI v1 YAML file and its search space, fully validated.

The loader, above everything that runs an experiment: it knows the tuner, assessor and advisor
registries and NNI v2's translation, which the models in `experiment.py` must not pull in.

Nothing touches a cluster, storage or the store before this returns, and every mistake it finds
is a ConfigError naming file:line:column, the dotted key and the value seen, with a did-you-mean
for misspelt keys and names. Keys NNI accepted that mean nothing here become warnings.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from nnifc import document, nni_classes, nni_v2, optimize, space
from nnifc.advisors import ADVISORS
from nnifc.assessors import ASSESSORS, Assessor, AssessorOptions
from nnifc.config import classes
from nnifc.config.problems import problems, suggest
from nnifc.config.storage_model import storage_model
from nnifc.document import Document, Loc, Source, shown
from nnifc.errors import ConfigError, Problem
from nnifc.experiment import (
    PLATFORM_CONFIGS,
    ExperimentConfig,
    FrameworkControllerExperimentConfig,
)
from nnifc.experiment import Experiment as Experiment  # what load returns, named as before
from nnifc.nni_classes import NNI_TUNERS, ClassSource
from nnifc.tuners import TUNERS, Tuner, TunerOptions

IGNORED = (
    "authorName",
    "multiThread",
    "nniManagerIp",
    "logDir",
    "logLevel",
    "logCollection",
    "debug",
)
# frameworkcontrollerConfig keys NNI acted on that nnifc has no use for: one Framework per
# trial always (no reuse mode), and uploads retry on their own
IGNORED_FC = ("reuse", "uploadRetryCount")


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
    tuner_source = (  # first: it says what a custom section misses
        classes.nni_source(source, "tuner", config.tuner)
        if config.advisor is None
        else classes.nni_source(source, "advisor", config.advisor)
    )
    tuner_name, name_loc = _tuner_name(config)
    assessor_source = classes.nni_source(source, "assessor", config.assessor)
    for class_source in (tuner_source, assessor_source):
        if class_source is not None and not stored:  # the loop loads it again when it starts
            classes.check(source, class_source, search_space)
    tuner_class = _proposer_class(tuner_name, name_loc, tuner_source)
    if config.assessor is not None and not tuner_class.takes_assessor:
        raise source.error(
            ("assessor",), f"{tuner_name} stops trials itself: remove the assessor, as NNI does"
        )
    try:
        tuner_class(search_space, tuner_options)
    except ValueError as e:
        raise source.error(name_loc, f"{e} (search space {space_path})") from None
    builtin_assessor = assessor_source is None and config.assessor is not None
    modes = optimize.resolve(
        path,
        (str(name_loc[0]), tuner_name, tuner_class.default_optimize_mode),
        tuner_options,
        config.assessor.builtin_assessor_name if config.assessor and builtin_assessor else None,
        assessor_options if builtin_assessor else None,
    )
    assessor_mode = modes.assessor
    assessor_class: type[Assessor] | None = None
    if assessor_source is not None and assessor_options is not None:
        assessor_mode = assessor_options.optimize_mode or modes.experiment
        assessor_class = nni_classes.assessor_class(assessor_source, assessor_mode)
    if tuner_source is not None and tuner_source.section == "advisor":
        tuner_class = nni_classes.advisor_class(tuner_source, modes.experiment)
    elif tuner_source is not None:
        tuner_class = nni_classes.tuner_class(
            tuner_source, modes.experiment, tuner_class.default_optimize_mode
        )
    return Experiment(
        source=path,
        config_text=doc.text,
        space_text=json.dumps(space_doc.data) if space_text is None else space_text,
        config=config,
        space=search_space,
        tuner_options=tuner_options,
        tuner_class=tuner_class,
        assessor_options=assessor_options,
        optimize_mode=modes.experiment,
        assessor_optimize_mode=assessor_mode,
        warnings=(*warnings, *modes.warnings, *classes.runs_nni(path, tuner_name, tuner_source)),
        error_at=functools.partial(_error_at, path, doc.text),
        assessor_class=assessor_class,
    )


def _proposer_class(name: str, name_loc: Loc, source: ClassSource | None) -> type[Tuner]:
    if source is not None and source.section == "advisor":
        return nni_classes.advisor_class(source, "maximize")  # bound again, as below
    if source is not None:  # bound again to the experiment's mode once it is known
        default = nni_classes.NNI_DEFAULT_MODE if source.class_file is None else None
        return nni_classes.tuner_class(source, "maximize", default)
    return ADVISORS[name] if name_loc[0] == "advisor" else TUNERS[name]


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
        model, unknown_storage = storage_model(doc)
    try:
        context = {"base_dir": doc.path.parent, "stored": stored}
        config = model.model_validate(doc.data, context=context)
    except ValidationError as e:
        found = unknown_storage + problems(doc, model, e)
        raise ConfigError(sorted(found, key=lambda p: (p.line, p.column))) from None
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


def _tuner_name(config: ExperimentConfig) -> tuple[str, Loc]:
    """What proposes trials (an advisor runs as the tuner), and where the file names it."""
    if config.advisor is not None and config.advisor.builtin_advisor_name:
        return config.advisor.builtin_advisor_name, ("advisor", "builtinAdvisorName")
    if config.advisor is not None:
        assert config.advisor.class_name
        return config.advisor.class_name, ("advisor", "className")
    assert config.tuner is not None
    if config.tuner.builtin_tuner_name:
        return config.tuner.builtin_tuner_name, ("tuner", "builtinTunerName")
    assert config.tuner.class_name
    return config.tuner.class_name, ("tuner", "className")


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
    custom = spec.code_dir or spec.class_file_name or spec.class_name
    name = (
        getattr(spec, "builtin_tuner_name", None)
        or getattr(spec, "builtin_assessor_name", None)
        or getattr(spec, "builtin_advisor_name", None)
    )
    if custom and name is not None:
        raise doc.error(
            (section, name_key),
            f"either {name_key} or codeDir, classFileName and className, not both",
        )
    nni_builtins = NNI_TUNERS if section == "tuner" else {}
    known = [*registry, *nni_builtins]
    if name is None and not custom:
        raise doc.error((section, name_key), f"required key is missing; one of {', '.join(known)}")
    if name is not None and name not in known:
        raise doc.error(
            (section, name_key),
            f"unknown {section} {shown(name)}{suggest(name, known)}; known: {', '.join(sorted(known))}",
        )
    if custom or name in nni_builtins:
        # the class takes its classArgs as it likes; nnifc reads their optimize_mode only
        base: type[BaseModel] = AssessorOptions if section == "assessor" else TunerOptions
        return _validated(doc, section, base, _mode_only(spec.class_args))
    assert name is not None
    return _validated(doc, section, registry[name].Options, spec.class_args)


def _mode_only(class_args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in class_args.items() if k == "optimize_mode"}


def _validated(doc: Source, section: str, model: type[BaseModel], class_args: Any) -> Any:
    try:
        return model.model_validate(class_args)
    except ValidationError as e:
        raise ConfigError(problems(doc, model, e, (section, "classArgs"))) from None


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
    fc = doc.data.get("frameworkcontrollerConfig")
    if isinstance(fc, dict) and other != "frameworkcontrollerConfig":
        ignored += [f"frameworkcontrollerConfig.{key}" for key in IGNORED_FC if key in fc]
    if not ignored:
        return []
    lines = {key: doc.locate(key.split("."))[0] for key in ignored}
    where = ", ".join(
        f"{key} (line {line})" for key, line in sorted(lines.items(), key=lambda kv: kv[1])
    )
    return [f"{doc.path}: ignoring keys that mean nothing to nnifc: {where}"]
