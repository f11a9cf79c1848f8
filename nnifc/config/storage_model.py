"""The frameworkcontrollerConfig model of one experiment: the keys every storage shares plus the
named storage's own blocks, taken from its options model in the `STORAGES` registry.

Why built per storage: a storage is one file and one registry line, and its keys are checked,
located and suggested like every other key. The checks that need to know which storage is named
(its blocks present, no other storage's blocks) come first, in the words NNI users know.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, cast

from pydantic import BaseModel, Field, create_model

from nnifc.document import Loc, Source, shown
from nnifc.errors import Problem
from nnifc.experiment import FrameworkControllerConfig, FrameworkControllerExperimentConfig
from nnifc.storage import STORAGES

FC: Loc = ("frameworkcontrollerConfig",)
DEFAULT_STORAGE = "nfs"


def storage_model(
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
