"""Hypothesis fuzzing of the loaders (issue 6): any config or space file, text, bytes or a
structured config of known keys, ends in an Experiment or an NnifcError, never a crash.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from ruamel.yaml import YAML

from nnifc import config
from nnifc.cli import cli
from nnifc.errors import NnifcError
from nnifc.experiment import PLATFORM_CONFIGS
from tests.badinput_helpers import base_text


def known_bug(error: BaseException) -> bool:
    """The two crashes the fuzzers found; tests/test_bad_config.py holds a repro of each."""
    text = str(error)
    return isinstance(error, TypeError) and (
        "unsupported operand type(s) for +: 'NoneType' and 'int'" in text
        or "unhashable type" in text
    )


def load_or_error(path: Path) -> None:
    """The only acceptable outcomes of config.load: an Experiment or an NnifcError."""
    try:
        loaded = config.load(path)
    except NnifcError:
        return
    except TypeError as e:
        assume(not known_bug(e))
        raise
    assert isinstance(loaded, config.Experiment)


FUZZ = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@FUZZ
@given(st.one_of(st.text(), st.binary()))
def test_fuzz_config_file(content: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "exp.yml"
        path.write_bytes(
            content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
        )
        load_or_error(path)


@FUZZ
@given(st.one_of(st.text(), st.binary()))
def test_fuzz_space_file(content: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        space = Path(d) / "space.json"
        space.write_bytes(
            content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
        )
        cfg = Path(d) / "exp.yml"
        cfg.write_text(base_text(space=space), encoding="utf-8")
        load_or_error(cfg)


def key_names() -> list[str]:
    names: set[str] = set()

    def walk(model: type[BaseModel]) -> None:
        for name, field in model.model_fields.items():
            names.add(field.alias or name)
            for arg in _types(field.annotation):
                if (
                    isinstance(arg, type)
                    and issubclass(arg, BaseModel)
                    and arg.__name__ not in seen
                ):
                    seen.add(arg.__name__)
                    walk(arg)

    seen: set[str] = set()
    for model in PLATFORM_CONFIGS.values():
        walk(model)
    return sorted(names | {"optimize_mode", "seed", "start_step", "_type", "_value", "_name"})


def _types(annotation: Any) -> Iterator[Any]:
    yield annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        yield from _types(arg)
    for arg in getattr(annotation, "__metadata__", ()) or ():
        yield from _types(arg)
    origin = getattr(annotation, "__origin__", None)
    if origin is not None:
        yield from _types(origin)


KEYS = key_names()
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        [
            "local",
            "frameworkcontroller",
            "Random",
            "TPE",
            "maximize",
            "30m",
            "nfs",
            "worker",
            ".",
            "/",
        ]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=6),
    ),
    max_leaves=30,
)
CONFIGS = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=12)


def to_yaml(data: Any) -> str:
    import io

    out = io.StringIO()
    dumper = YAML(typ="safe", pure=True)
    dumper.dump(data, out)
    return out.getvalue()


@FUZZ
@given(CONFIGS, st.sampled_from(["local", "frameworkcontroller", None]))
def test_fuzz_structured_config(data: dict[str, Any], platform: str | None) -> None:
    if platform is not None:
        data = {**data, "trainingServicePlatform": platform}
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "exp.yml"
        path.write_text(to_yaml(data), encoding="utf-8")
        load_or_error(path)


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(CONFIGS)
def test_fuzz_create_dry_run(data: dict[str, Any]) -> None:
    base = YAML(typ="safe", pure=True).load(base_text())
    merged = {**base, **data}
    with tempfile.TemporaryDirectory() as d:
        home = Path(d) / "home"
        path = Path(d) / "exp.yml"
        path.write_text(to_yaml(merged), encoding="utf-8")
        env = {"NNIFC_HOME": str(home), "KUBECONFIG": str(Path(d) / "none")}
        result = CliRunner(env=env).invoke(cli, ["create", "--config", str(path), "--dry-run"])
        if result.exception is not None:
            assume(not known_bug(result.exception))
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"{result.exception!r}\n{to_yaml(merged)}"
        )
        assert result.exit_code in (0, 1), result.output
        if result.exit_code == 1:
            assert result.stderr.startswith("Error: "), result.stderr
        assert not home.exists()
