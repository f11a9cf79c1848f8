"""Hostile or huge input (issue 17): alias bombs, oversized and deeply nested config and space
files are refused by nnifc/document.py's limits, by a real `nnifc create --dry-run` process in
bounded time and memory: each run is timed and its peak RSS read from /proc, so a hang or a
blow-up fails, not stalls.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.badinput_helpers import DATA, SPACE, Bounded, MiB, base_text, created, run_bounded

# CPU seconds to refuse a hostile file, python's start and imports included: about 1-2.5 s;
# before the limits, 25 s (deep YAML) to more than 60 s
SECONDS = 10.0
PEAK_MB = 400.0


def assert_refused(run: Bounded, home: Path, prefix: str, message: str) -> None:
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 1, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(prefix), f"\n  got:    {lines[0]}\n  wanted: {prefix}..."
    assert message in lines[0][len(prefix) :], f"\n  got:    {lines[0]}\n  wanted: ...{message}"
    assert run.seconds < SECONDS, f"took {run.seconds:.1f} CPU seconds"
    assert run.peak_mb < PEAK_MB, f"peak RSS {run.peak_mb:.0f} MB"
    assert not home.exists() or created(home) == []


def line_of(text: str, start: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(start))


def test_yaml_alias_bomb_in_the_config_is_refused_at_the_alias(tmp_path: Path) -> None:
    text = base_text() + (DATA / "alias_bomb.yml").read_text(encoding="utf-8")
    cfg = tmp_path / "bomb.yml"
    cfg.write_text(text, encoding="utf-8")
    run = run_bounded(cfg, tmp_path / "home")
    # a..e stand for 74,000 values; f's first *e takes the document past 100,000
    prefix = f"Error: {cfg}:{line_of(text, 'f: &f')}:8: "
    assert_refused(run, tmp_path / "home", prefix, "alias *e")
    assert "100,000" in run.stderr


def test_yaml_alias_bomb_in_a_search_space_file_is_refused(tmp_path: Path) -> None:
    space = tmp_path / "space.yml"
    bomb = (DATA / "alias_bomb.yml").read_text(encoding="utf-8")
    space.write_text(bomb + "x: {_type: choice, _value: *i}\n", encoding="utf-8")
    cfg = tmp_path / "exp.yml"
    cfg.write_text(base_text(space=space), encoding="utf-8")
    assert_refused(
        run_bounded(cfg, tmp_path / "home"), tmp_path / "home", f"Error: {space}:", "alias *"
    )


def test_config_over_1_mib_is_refused_by_its_size(tmp_path: Path) -> None:
    cfg = tmp_path / "padded.yml"
    cfg.write_text(base_text() + "#" * (2 * MiB) + "\n", encoding="utf-8")
    size = cfg.stat().st_size
    run = run_bounded(cfg, tmp_path / "home")
    assert_refused(run, tmp_path / "home", f"Error: {cfg}: ", f"{size} bytes")
    assert "at most 1 MiB" in run.stderr


def test_200_mb_config_is_refused_without_reading_it(tmp_path: Path) -> None:
    cfg = tmp_path / "huge.yml"
    with cfg.open("wb") as f:  # sparse: 200 MB to stat, nothing on disk
        f.truncate(200 * MiB)
    run = run_bounded(cfg, tmp_path / "home")
    assert_refused(run, tmp_path / "home", f"Error: {cfg}: ", f"{200 * MiB} bytes")
    assert run.peak_mb < 150, f"peak RSS {run.peak_mb:.0f} MB: the file was read"


def test_search_space_over_16_mib_is_refused_by_its_size(tmp_path: Path) -> None:
    space = tmp_path / "space.json"
    space.write_text(SPACE.read_text(encoding="utf-8") + " " * (17 * MiB), encoding="utf-8")
    cfg = tmp_path / "exp.yml"
    cfg.write_text(base_text(space=space), encoding="utf-8")
    run = run_bounded(cfg, tmp_path / "home")
    assert_refused(run, tmp_path / "home", f"Error: {space}: ", f"{space.stat().st_size} bytes")
    assert "at most 16 MiB" in run.stderr


DEEP = 100_000
NESTING = [
    ("yaml_config", "exp.yml", lambda: base_text() + "x: " + "[" * DEEP + "]" * DEEP + "\n"),
    ("json_config", "exp.json", lambda: '{"x": ' + "[" * DEEP + "]" * DEEP + "}"),
    (
        "yaml_space",
        "space.yml",
        lambda: "x: {_type: choice, _value: [" + "[" * DEEP + "]" * DEEP + "]}\n",
    ),
    ("json_space", "space.json", lambda: '{"x": ' + "[" * DEEP + "]" * DEEP + "}"),
    # deep enough to pass json.loads, too deep for what reads the space afterwards
    (
        "json_choice_900",
        "space.json",
        lambda: '{"x": {"_type": "choice", "_value": [' + "[" * 900 + "]" * 900 + "]}}",
    ),
]


@pytest.mark.parametrize(("name", "file", "make"), NESTING, ids=[n[0] for n in NESTING])
def test_deep_nesting_is_a_clean_error(
    name: str, file: str, make: Callable[[], str], tmp_path: Path
) -> None:
    path = tmp_path / file
    path.write_text(make(), encoding="utf-8")
    cfg = path
    if "space" in name or "choice" in name:
        cfg = tmp_path / "exp.yml"
        cfg.write_text(base_text(space=path), encoding="utf-8")
    run = run_bounded(cfg, tmp_path / "home")
    assert_refused(run, tmp_path / "home", f"Error: {path}: ", "nested too deeply")
