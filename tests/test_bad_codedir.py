"""Bad codeDirs for nnifc/codedir.py (issue 6): limits, symlinks leaving or looping, FIFOs,
unreadable entries, through `create --dry-run` on a frameworkcontroller config and directly.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import Result

from nnifc import codedir
from nnifc.errors import StorageError
from tests.badinput_helpers import (
    SPACE,
    F,
    assert_one_error,
    base_text,
    created,
    dry_run,
    empty_home,
)

__all__ = ["empty_home"]


# ---------------------------------------------------------------- codeDirs


def fc_config(tmp_path: Path, code: Path, *, max_files: int = 2000, max_mb: int = 300) -> Path:
    cfg = tmp_path / "fc.yml"
    cfg.write_text(base_text(F, code=code, max_files=max_files, max_mb=max_mb), encoding="utf-8")
    return cfg


def code_error(result: Result, home: Path, message: str) -> None:
    assert_one_error(result, home, "Error: codeDir ", message)


def past_code_checks(result: Result, home: Path) -> None:
    """The codeDir was fine: dry-run went on to the cluster, and with no kubeconfig here it
    skipped the cluster's checks and succeeded."""
    assert result.exception is None, f"{result.exception!r}\n{result.output}"
    assert result.exit_code == 0, result.output
    assert "codeDir" not in result.stderr, result.stderr
    assert "cluster checks skipped: no kubeconfig: " in result.stdout
    assert "nothing was created (dry run)" in result.stdout
    assert created(home) == []


@pytest.fixture
def code(tmp_path: Path) -> Path:
    path = tmp_path / "code"
    path.mkdir()
    (path / "train.py").write_text("print(1)\n")
    return path


def test_codedir_valid_passes_the_checks_there_are(
    tmp_path: Path, code: Path, empty_home: Path
) -> None:
    past_code_checks(dry_run(fc_config(tmp_path, code)), empty_home)


def test_codedir_too_many_files(tmp_path: Path, code: Path, empty_home: Path) -> None:
    for i in range(5):
        (code / f"f{i}.txt").write_text("")
    code_error(
        dry_run(fc_config(tmp_path, code, max_files=3)),
        empty_home,
        "has 6 files after .nniignore (limit 3)",
    )
    assert len(codedir.collect(code, max_files=6)) == 6


def test_codedir_too_big_sparse_default_limit(tmp_path: Path, code: Path, empty_home: Path) -> None:
    with open(code / "model.pt", "wb") as f:
        os.truncate(f.fileno(), 300 * 2**20 + 1)
    code_error(
        dry_run(fc_config(tmp_path, code)),
        empty_home,
        "holds 300.0 MB after .nniignore (limit 300.0 MB)",
    )
    (code / ".nniignore").write_text("*.pt\n")
    past_code_checks(dry_run(fc_config(tmp_path, code)), empty_home)


def test_codedir_too_big_custom_limit(tmp_path: Path, code: Path, empty_home: Path) -> None:
    with open(code / "data.bin", "wb") as f:
        os.truncate(f.fileno(), 2 * 2**20)
    code_error(
        dry_run(fc_config(tmp_path, code, max_mb=1)),
        empty_home,
        "holds 2.0 MB after .nniignore (limit 1.0 MB)",
    )
    past_code_checks(dry_run(fc_config(tmp_path, code, max_mb=3)), empty_home)


def test_codedir_symlink_leaving(tmp_path: Path, code: Path, empty_home: Path) -> None:
    (tmp_path / "secret").write_text("x")
    (code / "leak").symlink_to(tmp_path / "secret")
    code_error(
        dry_run(fc_config(tmp_path, code)),
        empty_home,
        f"symlink leak -> {tmp_path / 'secret'} points outside it",
    )
    with pytest.raises(StorageError, match="points outside it"):
        codedir.collect(code)


def test_codedir_relative_symlink_climbing_out(
    tmp_path: Path, code: Path, empty_home: Path
) -> None:
    (code / "up").symlink_to("../")
    code_error(
        dry_run(fc_config(tmp_path, code)), empty_home, "symlink up -> ../ points outside it"
    )


def test_codedir_symlink_loop(tmp_path: Path, code: Path, empty_home: Path) -> None:
    (code / "sub").mkdir()
    (code / "sub" / "again").symlink_to("..")
    code_error(dry_run(fc_config(tmp_path, code)), empty_home, "symlink sub/again loops back to")


def test_codedir_self_referencing_symlink(tmp_path: Path, code: Path, empty_home: Path) -> None:
    (code / "me").symlink_to("me")
    code_error(
        dry_run(fc_config(tmp_path, code)),
        empty_home,
        "cannot read me (Too many levels of symbolic links)",
    )


def test_codedir_dangling_symlink(tmp_path: Path, code: Path, empty_home: Path) -> None:
    (code / "gone").symlink_to("nothing-here")
    code_error(
        dry_run(fc_config(tmp_path, code)),
        empty_home,
        "symlink gone -> nothing-here points to nothing",
    )


def test_codedir_fifo_and_nniignore_fixes_it(tmp_path: Path, code: Path, empty_home: Path) -> None:
    os.mkfifo(code / "pipe")
    code_error(dry_run(fc_config(tmp_path, code)), empty_home, "pipe is a FIFO, not a regular file")
    (code / ".nniignore").write_text("pipe\n")
    past_code_checks(dry_run(fc_config(tmp_path, code)), empty_home)
    assert [f.relative for f in codedir.collect(code)] == [".nniignore", "train.py"]


def test_codedir_nniignore_not_utf8(tmp_path: Path, code: Path, empty_home: Path) -> None:
    (code / ".nniignore").write_bytes(b"\xff\xfe*.pt\n")
    assert_one_error(
        dry_run(fc_config(tmp_path, code)),
        empty_home,
        f"Error: cannot read {code / '.nniignore'}: ",
        "can't decode byte 0xff",
    )


def test_codedir_empty(tmp_path: Path, empty_home: Path) -> None:
    """An empty codeDir uploads nothing; the command may not need files (python3 -c ...)."""
    empty = tmp_path / "empty"
    empty.mkdir()
    assert codedir.collect(empty) == []
    past_code_checks(dry_run(fc_config(tmp_path, empty)), empty_home)


def test_codedir_that_is_a_file(tmp_path: Path, empty_home: Path) -> None:
    file = tmp_path / "code.py"
    file.write_text("")
    cfg = fc_config(tmp_path, file)
    assert_one_error(
        dry_run(cfg), empty_home, f"Error: {cfg}:11:3: trial.codeDir: ", f"not a directory: {file}"
    )
    with pytest.raises(StorageError, match="is not a directory"):
        codedir.collect(file)


def test_codedir_symlink_to_a_directory_elsewhere_is_fine(
    tmp_path: Path, code: Path, empty_home: Path
) -> None:
    link = tmp_path / "code-link"
    link.symlink_to(code)
    past_code_checks(dry_run(fc_config(tmp_path, link)), empty_home)
    assert [f.relative for f in codedir.collect(link)] == ["train.py"]


@contextmanager
def as_nobody() -> Iterator[None]:
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def public_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for p in path.rglob("*"):
            if p.is_dir() and not p.is_symlink():
                p.chmod(0o755)
        shutil.rmtree(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to uid nobody needs root")
@pytest.mark.parametrize(
    "what",
    [
        "file",
        "directory",
    ],
)
def test_codedir_unreadable_entry(
    what: str, public_dir: Path, tmp_path: Path, empty_home: Path
) -> None:
    code = public_dir / "code"
    code.mkdir()
    (code / "train.py").write_text("")
    shutil.copy(SPACE, public_dir / "space.json")
    if what == "file":
        (code / "secret.bin").write_text("x")
        (code / "secret.bin").chmod(0)
        wanted = "cannot read secret.bin (Permission denied)"
    else:
        (code / "private").mkdir()
        (code / "private").chmod(0)
        wanted = "cannot list private/ (Permission denied)"
    cfg = public_dir / "fc.yml"
    cfg.write_text(base_text(F, space=public_dir / "space.json", code=code), encoding="utf-8")
    cfg.chmod(0o644)
    with as_nobody():
        result = dry_run(cfg)
    code_error(result, empty_home, wanted)
