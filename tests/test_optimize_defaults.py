"""optimize_mode defaults per algorithm, as NNI's: each plug-in's default is read from the
installed nni's own classes, and configs that leave optimize_mode out mean what they meant
under NNI (TPE minimizes, Medianstop maximizes, each in its own mode)."""

from __future__ import annotations

import ast
import importlib
import importlib.resources
import importlib.util
import inspect
import textwrap
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from nnifc import config
from nnifc.assessors import ASSESSORS
from nnifc.errors import ConfigError
from nnifc.tuners import TUNERS

UNSET = object()  # nni's __init__ takes no optimize_mode at all


def nni_class_name(kind: str, name: str) -> str:
    """The class nni runs for builtinTunerName / builtinAssessorName `name` (its builtin list)."""
    listing = importlib.resources.files("nni.runtime") / "default_config/builtin_algorithms.yml"
    for entry in YAML(typ="safe").load(listing.read_text(encoding="utf-8"))[kind]:
        if name in (entry["builtinName"], entry.get("alias")):
            return str(entry["className"])
    raise AssertionError(f"nni has no builtin {kind[:-1]} named {name}")


def default_by_signature(class_name: str) -> object:
    module, _, cls = class_name.rpartition(".")
    parameter = inspect.signature(getattr(importlib.import_module(module), cls)).parameters.get(
        "optimize_mode"
    )
    return UNSET if parameter is None else parameter.default


def default_by_source(class_name: str) -> object:
    """The same, read from the module's source: for modules whose imports are not installed."""
    module, _, cls = class_name.rpartition(".")
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    found = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    init = next(n for n in found.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    args = init.args.posonlyargs + init.args.args
    defaults = dict(
        zip(args[len(args) - len(init.args.defaults) :], init.args.defaults, strict=True)
    )
    defaults |= {
        a: d for a, d in zip(init.args.kwonlyargs, init.args.kw_defaults, strict=True) if d
    }
    for arg, default in defaults.items():
        if arg.arg == "optimize_mode":
            return ast.literal_eval(default)
    return UNSET


def nni_default(class_name: str) -> object:
    try:
        return default_by_signature(class_name)
    except ImportError:  # HyperoptTuner needs hyperopt, which nni does not install
        return default_by_source(class_name)


PLUGINS = [("tuners", name, cls) for name, cls in TUNERS.items()] + [
    ("assessors", name, cls) for name, cls in ASSESSORS.items()
]


@pytest.mark.parametrize(("kind", "name", "cls"), PLUGINS, ids=[p[1] for p in PLUGINS])
def test_default_mode_is_nnis(kind: str, name: str, cls: Any) -> None:
    found = nni_default(nni_class_name(kind, name))
    if found is UNSET:
        # nni's Curvefitting takes no optimize_mode: its curves "must be accuracy" (maximized);
        # a tuner without one (BatchTuner) has no direction
        found = "maximize" if kind == "assessors" else None
    assert cls.default_optimize_mode == found


def test_anneal_default_is_read_from_source_without_hyperopt() -> None:
    class_name = nni_class_name("tuners", "Anneal")
    assert class_name == "nni.algorithms.hpo.hyperopt_tuner.HyperoptTuner"
    assert default_by_source(class_name) == "minimize"


@pytest.mark.parametrize("name", ["TPE", "Evolution", "Random", "GridSearch", "BatchTuner"])
def test_source_reading_agrees_with_the_signature(name: str) -> None:
    class_name = nni_class_name("tuners", name)
    assert default_by_source(class_name) == default_by_signature(class_name)


# ---------------------------------------------------------------- configs


def load(tmp_path: Path, tuner: str, assessor: str = "") -> config.Experiment:
    (tmp_path / "code").mkdir(exist_ok=True)
    (tmp_path / "space.json").write_text('{"x": {"_type": "uniform", "_value": [0, 1]}}')
    path = tmp_path / "exp.yml"
    path.write_text(
        textwrap.dedent("""\
        experimentName: modes
        trialConcurrency: 1
        trainingServicePlatform: local
        searchSpacePath: space.json
        trial: {command: "true", codeDir: code}
        """)
        + f"tuner: {tuner}\n"
        + (f"assessor: {assessor}\n" if assessor else "")
    )
    return config.load(path)


def mode_warnings(experiment: config.Experiment) -> list[str]:
    return [w for w in experiment.warnings if "optimize_mode" in w]


def default_note(tmp_path: Path, said: str) -> tuple[str]:
    return (f"{tmp_path / 'exp.yml'}: optimize_mode is not set in tuner.classArgs; {said}",)


def test_tpe_without_mode_minimizes_and_says_so(tmp_path: Path) -> None:
    experiment = load(tmp_path, "{builtinTunerName: TPE}")
    assert (experiment.optimize_mode, experiment.assessor_optimize_mode) == ("minimize", None)
    assert experiment.warnings == default_note(
        tmp_path, "the tuner TPE minimizes (NNI's default for TPE)"
    )


def test_anneal_without_mode_minimizes(tmp_path: Path) -> None:
    experiment = load(tmp_path, "{builtinTunerName: Anneal}")
    assert experiment.optimize_mode == "minimize"
    assert experiment.warnings == default_note(
        tmp_path, "the tuner Anneal minimizes (NNI's default for Anneal)"
    )


def test_evolution_without_mode_maximizes(tmp_path: Path) -> None:
    experiment = load(tmp_path, "{builtinTunerName: Evolution}")
    assert experiment.optimize_mode == "maximize"
    assert experiment.warnings == default_note(
        tmp_path, "the tuner Evolution maximizes (NNI's default for Evolution)"
    )


def test_random_takes_the_assessors_default(tmp_path: Path) -> None:
    experiment = load(tmp_path, "{builtinTunerName: Random}", "{builtinAssessorName: Medianstop}")
    assert (experiment.optimize_mode, experiment.assessor_optimize_mode) == ("maximize", "maximize")
    assert experiment.warnings == ()


def test_random_takes_the_assessors_explicit_mode(tmp_path: Path) -> None:
    experiment = load(
        tmp_path,
        "{builtinTunerName: GridSearch}",
        "{builtinAssessorName: Medianstop, classArgs: {optimize_mode: minimize}}",
    )
    assert (experiment.optimize_mode, experiment.assessor_optimize_mode) == ("minimize", "minimize")
    assert experiment.warnings == ()


def test_random_alone_assumes_maximize_with_a_warning(tmp_path: Path) -> None:
    experiment = load(tmp_path, "{builtinTunerName: Random}")
    assert experiment.optimize_mode == "maximize"
    assert experiment.warnings == (
        f"{tmp_path / 'exp.yml'}: optimize_mode is not set in tuner.classArgs; assuming maximize",
    )


def test_defaults_that_differ_run_each_in_its_own_mode(tmp_path: Path) -> None:
    experiment = load(tmp_path, "{builtinTunerName: TPE}", "{builtinAssessorName: Medianstop}")
    assert (experiment.optimize_mode, experiment.assessor_optimize_mode) == ("minimize", "maximize")
    (warning,) = experiment.warnings
    assert "the tuner TPE minimizes (NNI's default for TPE)" in warning
    assert "the assessor Medianstop maximizes (NNI's default for Medianstop)" in warning
    assert warning.endswith("set optimize_mode in tuner.classArgs and assessor.classArgs")
    assert "assuming" not in warning


def test_an_explicit_mode_against_a_default_warns_and_names_which_is_which(
    tmp_path: Path,
) -> None:
    experiment = load(
        tmp_path,
        "{builtinTunerName: TPE, classArgs: {optimize_mode: maximize}}",
        "{builtinAssessorName: Curvefitting, classArgs: {epoch_num: 5}}",
    )
    assert (experiment.optimize_mode, experiment.assessor_optimize_mode) == ("maximize", "maximize")
    assert experiment.warnings == ()
    experiment = load(
        tmp_path,
        "{builtinTunerName: Anneal}",
        "{builtinAssessorName: Medianstop, classArgs: {optimize_mode: maximize}}",
    )
    assert (experiment.optimize_mode, experiment.assessor_optimize_mode) == ("minimize", "maximize")
    (warning,) = mode_warnings(experiment)
    assert "the assessor Medianstop maximizes (assessor.classArgs.optimize_mode)" in warning


def test_explicit_modes_that_differ_are_still_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load(
            tmp_path,
            "{builtinTunerName: Random, classArgs: {optimize_mode: minimize}}",
            "{builtinAssessorName: Medianstop, classArgs: {optimize_mode: maximize}}",
        )
    assert str(error.value) == (
        f"{tmp_path / 'exp.yml'}:7:57: assessor.classArgs.optimize_mode: "
        "differs from tuner.classArgs.optimize_mode"
    )
