"""Where a config and the files it names are (issue 6): `~`, spaces and unicode in paths,
symlinked, dangling and looping configs, a FIFO for a config; nnifc/config.py resolves them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.badinput_helpers import (
    CODE,
    SPACE,
    assert_accepted,
    assert_one_error,
    base_text,
    dry_run,
    empty_home,
)

__all__ = ["empty_home"]


# ---------------------------------------------------------------- paths


def test_tilde_paths_for_config_space_and_code(
    tmp_path: Path, empty_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tmp_path / "user home"
    shutil.copytree(CODE, user / "my code")
    shutil.copy(SPACE, user / "space.json")
    monkeypatch.setenv("HOME", str(user))
    text = base_text().replace(json.dumps(str(SPACE)), "~/space.json")
    text = text.replace(json.dumps(str(CODE)), '"~/my code"')
    (user / "exp.yml").write_text(text, encoding="utf-8")
    assert_accepted(dry_run("~/exp.yml"), empty_home)


def test_tilde_space_path_missing_names_the_expanded_path(
    tmp_path: Path, empty_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = tmp_path / "exp.yml"
    cfg.write_text(base_text().replace(json.dumps(str(SPACE)), "~/nope.json"), encoding="utf-8")
    assert_one_error(
        dry_run(cfg),
        empty_home,
        f"Error: {cfg}:5:1: searchSpacePath: ",
        f'no such file: {tmp_path / "nope.json"}, got "~/nope.json"',
    )


def test_paths_with_spaces_and_unicode(tmp_path: Path, empty_home: Path) -> None:
    where = tmp_path / "dir with spaces" / "ünïcödé 实验 🚀"
    shutil.copytree(CODE, where / "code dir ✓")
    shutil.copy(SPACE, where / "search space ✓.json")
    cfg = where / "exp é.yml"
    text = base_text(space=Path("search space ✓.json"), code=Path("code dir ✓"))
    cfg.write_text(text, encoding="utf-8")
    assert_accepted(dry_run(cfg), empty_home)


def test_symlinked_config_file(tmp_path: Path, empty_home: Path) -> None:
    real = tmp_path / "real" / "exp.yml"
    real.parent.mkdir()
    real.write_text(base_text(), encoding="utf-8")
    link = tmp_path / "links" / "exp.yml"
    link.parent.mkdir()
    link.symlink_to(real)
    assert_accepted(dry_run(link), empty_home)
    chained = tmp_path / "links" / "again.yml"
    chained.symlink_to(link)
    assert_accepted(dry_run(chained), empty_home)


def test_symlinked_config_relative_paths_are_relative_to_the_link(
    tmp_path: Path, empty_home: Path
) -> None:
    """As NNI did (os.path.abspath, no realpath): the link's directory, where the user points."""
    real = tmp_path / "real" / "exp.yml"
    real.parent.mkdir()
    real.write_text(base_text(space=Path("space.json")), encoding="utf-8")
    shutil.copy(SPACE, real.parent / "space.json")
    link = tmp_path / "links" / "exp.yml"
    link.parent.mkdir()
    link.symlink_to(real)
    assert_one_error(
        dry_run(link),
        empty_home,
        f"Error: {link}:5:1: searchSpacePath: ",
        f"no such file: {link.parent / 'space.json'}",
    )


def test_dangling_and_looping_config_symlinks(tmp_path: Path, empty_home: Path) -> None:
    dangling = tmp_path / "dangling.yml"
    dangling.symlink_to(tmp_path / "gone.yml")
    assert_one_error(dry_run(dangling), empty_home, f"Error: {dangling}: ", "file not found")
    loop = tmp_path / "loop.yml"
    loop.symlink_to(loop)
    assert_one_error(dry_run(loop), empty_home, f"Error: {loop}: ", "cannot read")


def test_config_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "exp.yml"
    os.mkfifo(fifo)
    env = {**os.environ, "NNIFC_HOME": str(tmp_path / "home")}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "nnifc", "create", "--config", str(fifo), "--dry-run"],
            capture_output=True,
            text=True,
            env=env,
            timeout=15,  # a hang, not a slow start: python alone takes seconds under load
        )
    except subprocess.TimeoutExpired:
        pytest.fail("nnifc create --config <fifo> hung")
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: {fifo}: ")
