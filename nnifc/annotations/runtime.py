"""Parameters and results for trial code expanded from NNI annotations (`_nnifc_annotation`).

nnifc copies this file next to the expanded code as `_nnifc_annotation.py`; the expanded code
calls it where NNI's expansion called `nni.smartparam`, which nni 3.0 no longer has. It fetches
the trial's parameters once, through `nni.get_next_parameter()` when nni is importable, else
through `nnifc.trial`, and sends results through the same SDK. Each parameter is looked up by the
key its annotation got in the search space; a choice maps the value the tuner sent back to its
option as `nni.smartparam` did. Standard library only, and importable by Python 3.7+.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

_cache: dict[str, Any] = {}


def _sdk() -> Any:
    if "sdk" not in _cache:
        try:
            _cache["sdk"] = importlib.import_module("nni")
        except ImportError:
            try:
                _cache["sdk"] = importlib.import_module("nnifc.trial")
            except ImportError:
                raise ImportError(
                    "trial code expanded from NNI annotations needs the nni package "
                    "or nnifc (for nnifc.trial) to be importable"
                ) from None
    return _cache["sdk"]


def get_next_parameter() -> dict[str, Any]:
    """This trial's parameters, fetched once (reusing any the trial code already fetched)."""
    if "parameters" not in _cache:
        sdk = _sdk()
        current = getattr(sdk, "get_current_parameter", None)
        fetched = current() if current is not None else None
        if fetched is None:
            fetched = sdk.get_next_parameter()
        _cache["parameters"] = dict(fetched or {})
    parameters: dict[str, Any] = _cache["parameters"]
    return parameters


def parameter(key: str) -> Any:
    """The value the tuner chose for the search-space entry `key`."""
    parameters = get_next_parameter()
    if key not in parameters:
        raise KeyError(
            f"the trial got no parameter {key!r} (it got {sorted(parameters)}); "
            "was it started by an experiment whose search space came from these annotations?"
        )
    return parameters[key]


def choice(key: str, options: dict[Any, Any]) -> Any:
    """The option whose value (a literal, or the option's source text) the tuner chose."""
    chosen = parameter(key)
    try:
        return options[chosen]
    except (KeyError, TypeError):
        raise KeyError(f"{key}: {chosen!r} is not one of {list(options)}") from None


def function_choice(key: str, options: dict[Any, Callable[[], Any]]) -> Any:
    """Call the option the tuner chose; the others are never evaluated."""
    return choice(key, options)()


def report_intermediate_result(metric: Any) -> None:
    get_next_parameter()
    _sdk().report_intermediate_result(metric)


def report_final_result(metric: Any) -> None:
    get_next_parameter()
    _sdk().report_final_result(metric)
