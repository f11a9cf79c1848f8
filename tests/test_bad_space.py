"""Bad search-space files for nnifc/space.py and nnifc/document.py (issues 6 and 17): encodings,
JSON mistakes, bounds and types, NaN and infinities in JSON, YAML and inline v2 spaces.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.badinput_helpers import CODE, assert_one_error, base_text, check, dry_run, empty_home

__all__ = ["empty_home"]


# ---------------------------------------------------------------- search spaces

SPACE_CASES = [
    (
        "space_bom",
        "\ufeff" + '{"x": {"_type": "choice", "_value": [1, 2]}}',
        "1:1 -: invalid JSON: Unexpected UTF-8 BOM",
    ),
    ("space_crlf", '{\r\n"x": {"_type": "choice", "_value": [1, 2]}\r\n}\r\n', "ok"),
    (
        "space_utf16",
        b"\xff\xfe" + '{"x": 1}'.encode("utf-16-le"),
        "1:1 -: not UTF-8 text: invalid start byte (byte 0xff)",
    ),
    (
        "space_comment",
        '{"x": {"_type": "choice", "_value": [1]} // no\n}',
        "1:42 -: invalid JSON: Expecting ',' delimiter",
    ),
    ("space_null", "null", "0:0 -: must be a JSON object of parameters, got null"),
    ("space_string", '"x"', "0:0 -: must be a JSON object of parameters, got a string"),
    (
        "space_two_objects",
        '{"x": {"_type": "choice", "_value": [1]}}{"y": 1}',
        "1:42 -: invalid JSON: Extra data",
    ),
    ("space_deep", "[" * 100_000 + "]" * 100_000, "0:0 -: nested too deeply"),
    (
        "space_infinity_bound",
        '{"x": {"_type": "uniform", "_value": [0, Infinity]}}',
        "1:42 x._value[1]: must be a finite number, got Infinity",
    ),
    (
        "space_1e400_bound",
        '{"x": {"_type": "uniform", "_value": [0, 1e400]}}',
        "1:42 x._value[1]: must be a finite number, got Infinity",
    ),
    (
        "space_bounds_as_strings",
        '{"x": {"_type": "uniform", "_value": ["0", "1"]}}',
        '1:39 x._value[0]: must be a finite number, got "0"',
    ),
    (
        "space_randint_strings",
        '{"x": {"_type": "randint", "_value": ["0", "10"]}}',
        '1:39 x._value[0]: must be a finite number, got "0"',
    ),
    (
        "space_q_as_string",
        '{"x": {"_type": "quniform", "_value": [0, 10, "1"]}}',
        '1:47 x._value[2]: must be a finite number, got "1"',
    ),
    (
        "space_bools_as_bounds",
        '{"x": {"_type": "uniform", "_value": [false, true]}}',
        "1:39 x._value[0]: must be a finite number, got false",
    ),
    (
        "space_type_null",
        '{"x": {"_type": null, "_value": [1]}}',
        "1:8 x._type: must be one of choice, randint",
    ),
    (
        "space_type_capitalised",
        '{"x": {"_type": "Choice", "_value": [1]}}',
        '1:8 x._type: must be one of choice, randint, uniform, quniform, loguniform, qloguniform, normal, qnormal, lognormal, qlognormal, got "Choice"',
    ),
    (
        "space_type_trailing_space",
        '{"x": {"_type": "choice ", "_value": [1]}}',
        "1:8 x._type: must be one of",
    ),
    (
        "space_value_null",
        '{"x": {"_type": "choice", "_value": null}}',
        "1:27 x._value: must be a list, got null",
    ),
    (
        "space_nested_name_null",
        '{"x": {"_type": "choice", "_value": [{"_name": null}]}}',
        "1:39 x._value[0]._name: must be a string or number, got null",
    ),
    (
        "space_nested_duplicate_inner_key",
        '{"x": {"_type": "choice", "_value": [{"_name": "a", "y": 1, "y": 2}]}}',
        '1:61 -: invalid JSON: duplicate key "y"',
    ),
    (
        "space_lognormal_overflow",
        '{"x": {"_type": "lognormal", "_value": [1000, 1]}}',
        "1:30 x._value: lognormal [1000, 1]: exp(mu + 10 sigma) overflows",
    ),
    (
        "space_unicode_names_and_values",
        '{"ü✓": {"_type": "choice", "_value": ["🚀", "实验"]}, "": {"_type": "choice", "_value": [null]}}',
        "ok",
    ),
    (
        "space_huge_choice_string",
        json.dumps({"x": {"_type": "choice", "_value": ["a" * 1_000_000]}}),
        "ok",
    ),
    (
        "space_lone_surrogate_option",
        '{"x": {"_type": "choice", "_value": ["\\ud800"]}}',
        "1:38 x._value[0]: contains text that is not valid Unicode",
    ),
    # issue 17: NaN and infinities are not JSON; status --json and the trials' parameters must be
    (
        "space_nan_choice",
        '{"x": {"_type": "choice", "_value": [1, NaN]}}',
        "1:41 x._value[1]: must be a finite number (NaN and infinities are not JSON), got NaN",
    ),
    (
        "space_infinity_choice",
        '{"x": {"_type": "choice", "_value": [Infinity]}}',
        "1:38 x._value[0]: must be a finite number (NaN and infinities are not JSON), got Infinity",
    ),
    (
        "space_minus_infinity_choice",
        '{"x": {"_type": "choice", "_value": [0, -Infinity]}}',
        "1:41 x._value[1]: must be a finite number (NaN and infinities are not JSON), got -Infinity",
    ),
    (
        "space_1e999_choice",
        '{"x": {"_type": "choice", "_value": [1e999]}}',
        "1:38 x._value[0]: must be a finite number (NaN and infinities are not JSON), got Infinity",
    ),
    (
        "space_nan_inside_an_option",
        '{"x": {"_type": "choice", "_value": [{"a": [1, NaN]}]}}',
        '1:38 x._value[0]: must be a finite number (NaN and infinities are not JSON), got {"a": [1, NaN]}',
    ),
    (
        "space_nan_nested_name",
        '{"x": {"_type": "choice", "_value": [{"_name": NaN}]}}',
        "1:39 x._value[0]._name: must be a finite number (NaN and infinities are not JSON), got NaN",
    ),
    (
        "space_nan_in_a_nested_branch",
        '{"x": {"_type": "choice", "_value": [{"_name": "a", "y": {"_type": "choice", "_value": [NaN]}}]}}',
        "1:89 x._value[0].y._value[0]: must be a finite number",
    ),
    (
        "space_nan_bound",
        '{"x": {"_type": "normal", "_value": [NaN, 1]}}',
        "1:38 x._value[0]: must be a finite number, got NaN",
    ),
]
SPACE_XFAIL: dict[str, str] = {}


@pytest.mark.parametrize(
    ("name", "content", "expect"),
    [
        pytest.param(
            n,
            c,
            e,
            id=n,
            marks=[pytest.mark.xfail(strict=True, reason=SPACE_XFAIL[n])]
            if n in SPACE_XFAIL
            else [],
        )
        for n, c, e in SPACE_CASES
    ],
)
def test_space_case(
    name: str, content: str | bytes, expect: str, tmp_path: Path, empty_home: Path
) -> None:
    space = tmp_path / f"{name}.json"
    space.write_bytes(
        content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
    )
    cfg = tmp_path / "exp.yml"
    cfg.write_text(base_text(space=space), encoding="utf-8")
    if expect == "ok":
        check(cfg, "ok", empty_home)
        return
    where, rest = expect.split(" ", 1)
    key, message = rest.split(": ", 1)
    line, column = (int(n) for n in where.split(":"))
    place = f"{space}:{line}:{column}" if line else f"{space}"
    prefix = f"Error: {place}: " + ("" if key == "-" else f"{key}: ")
    assert_one_error(dry_run(cfg), empty_home, prefix, message)


NON_FINITE_YAML = [
    ("choice_nan", "x: {_type: choice, _value: [1, .nan]}\n", "1:32 x._value[1]", "NaN"),
    ("choice_inf", "x: {_type: choice, _value: [.inf]}\n", "1:29 x._value[0]", "Infinity"),
    (
        "choice_minus_inf",
        "x: {_type: choice, _value: [-.inf, 2]}\n",
        "1:29 x._value[0]",
        "-Infinity",
    ),
    ("in_an_option", "x: {_type: choice, _value: [{a: .nan}]}\n", "1:29 x._value[0]", '{"a": NaN}'),
    (
        "nested_name",
        "x: {_type: choice, _value: [{_name: .nan}]}\n",
        "1:30 x._value[0]._name",
        "NaN",
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "where", "value"), NON_FINITE_YAML, ids=[c[0] for c in NON_FINITE_YAML]
)
def test_non_finite_values_in_a_yaml_space_are_refused(
    name: str, content: str, where: str, value: str, tmp_path: Path, empty_home: Path
) -> None:
    space = tmp_path / "space.yml"
    space.write_text(content, encoding="utf-8")
    cfg = tmp_path / "exp.yml"
    cfg.write_text(base_text(space=space), encoding="utf-8")
    position, key = where.split(" ")
    line = assert_one_error(
        dry_run(cfg), empty_home, f"Error: {space}:{position}: {key}: ", "finite"
    )
    assert line.endswith(f"got {value}"), line


def test_non_finite_value_in_an_inline_v2_space_is_refused(
    tmp_path: Path, empty_home: Path
) -> None:
    cfg = tmp_path / "exp.yml"
    cfg.write_text(
        "trialCommand: python3 train.py\n"
        f"trialCodeDirectory: {json.dumps(str(CODE))}\n"
        "trialConcurrency: 1\n"
        "maxTrialNumber: 1\n"
        "tuner: {name: Random}\n"
        "trainingService: {platform: local}\n"
        "searchSpace:\n"
        "  x: {_type: choice, _value: [0.5, .inf]}\n",
        encoding="utf-8",
    )
    assert_one_error(dry_run(cfg), empty_home, f"Error: {cfg}:8:36: x._value[1]: ", "got Infinity")
