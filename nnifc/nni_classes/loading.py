"""Where an NNI class (tuner, assessor or advisor) comes from, and loading it as NNI does (codeDir on sys.path, classArgs as
keyword arguments).

Why a module of its own: the loader checks a class at create (a missing file, a misspelt class,
an `__init__` that rejects its classArgs are config mistakes, shown at the key's line) while the
adapters load it again, lazily, in the loop. `nni` is optional (`pip install 'nnifc[nni]'`), so
it is imported here only, when a config needs it.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from nnifc import private
from nnifc.errors import NnifcError

INSTALL_NNI = "pip install 'nnifc[nni]'"
CHECKPOINT_ENV = "NNI_CHECKPOINT_DIRECTORY"
# the method NNI calls on each kind of class: a class without it is not one
NEEDS = {
    "tuner": "generate_parameters",
    "assessor": "assess_trial",
    "advisor": "handle_request_trial_jobs",
}
Section = Literal["tuner", "assessor", "advisor"]


class ClassProblem(NnifcError):
    """A class that cannot be loaded or built; `key` is the config key at fault (in the section:
    codeDir, classFileName, className, classArgs, or the builtin-name key)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class ClassSource:
    """A class a config names: a file in codeDir (a custom class) or a module of NNI's (a builtin
    nnifc has no native version of, where `pip` says what its own dependencies are)."""

    section: Section
    class_name: str
    module: str  # the class file's module name, or NNI's module
    class_args: Mapping[str, Any] = field(default_factory=dict, hash=False)
    code_dir: Path | None = None  # None: an NNI builtin, imported from the installed nni
    class_file: Path | None = None
    name_key: str = "className"  # where the config names the class
    pip: str = ""  # what a builtin's own dependencies need installed

    @property
    def label(self) -> str:
        if self.class_file is None:
            return f"NNI's {self.module}.{self.class_name}"
        return f"{self.class_name} ({self.class_file})"


def require_nni(key: str) -> ModuleType:
    """The nni package, or the error saying how to install it."""
    try:
        return importlib.import_module("nni")
    except ImportError as e:
        raise ClassProblem(
            key,
            f"NNI's class API needs the nni package, which cannot be imported ({e}): {INSTALL_NNI}",
        ) from None


def load_class(source: ClassSource) -> type:
    require_nni(source.name_key)
    module = _builtin_module(source) if source.class_file is None else _file_module(source)
    cls = getattr(module, source.class_name, None)
    where = source.class_file or source.module
    if not isinstance(cls, type):
        raise ClassProblem("className", f"{where} defines no class {source.class_name}")
    method = NEEDS[source.section]
    if not callable(getattr(cls, method, None)):
        raise ClassProblem(
            "className", f"{source.class_name} is not an NNI {source.section}: it has no {method}"
        )
    return cls


def offer_checkpoint_dir(state_dir: str | None) -> None:
    """Where NNI's `Recoverable.get_checkpoint_path()` points an object: NNI's manager sets
    NNI_CHECKPOINT_DIRECTORY for its dispatcher; here it is the experiment's own directory, made
    private to the user. The launcher runs one experiment, so the variable is the process's."""
    if state_dir is not None:
        private.make_dirs(Path(state_dir))
        os.environ[CHECKPOINT_ENV] = state_dir


def instantiate(source: ClassSource) -> Any:
    """The class built with its classArgs, as NNI builds it: `cls(**classArgs)`."""
    cls = load_class(source)
    try:
        return cls(**source.class_args)
    except Exception as e:
        args = json.dumps(dict(source.class_args), default=str)
        key = "classArgs" if source.class_args else source.name_key
        raise ClassProblem(
            key, f"{source.class_name}(**{args}) raised {type(e).__name__}: {e}{_hint(source, e)}"
        ) from None


def _builtin_module(source: ClassSource) -> ModuleType:
    try:
        return importlib.import_module(source.module)
    except ImportError as e:
        raise ClassProblem(
            source.name_key,
            f"{source.label} cannot be imported ({e}){_hint(source, e)}",
        ) from None


def _file_module(source: ClassSource) -> ModuleType:
    """The class file imported under its own name, as NNI imports it, with codeDir on sys.path
    so that it can import its neighbours."""
    assert source.code_dir is not None and source.class_file is not None
    if not source.code_dir.is_dir():
        raise ClassProblem("codeDir", f"no such directory: {source.code_dir}")
    if not source.class_file.is_file():
        raise ClassProblem("classFileName", f"no such file: {source.class_file}")
    if str(source.code_dir) not in sys.path:
        sys.path.append(str(source.code_dir))
    loaded = sys.modules.get(source.module)
    if loaded is not None and getattr(loaded, "__file__", None) == str(source.class_file):
        return loaded
    name = source.module if loaded is None else f"_nnifc_{source.section}_{source.module}"
    spec = importlib.util.spec_from_file_location(name, source.class_file)
    if spec is None or spec.loader is None:
        raise ClassProblem("classFileName", f"not a Python file: {source.class_file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise ClassProblem(
            "classFileName", f"importing {source.class_file} failed: {type(e).__name__}: {e}"
        ) from None
    return module


def _hint(source: ClassSource, error: Exception) -> str:
    if isinstance(error, ImportError) and source.pip:
        return f"; it needs packages that are not installed: pip install {source.pip}"
    return ""
