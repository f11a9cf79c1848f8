"""codedir.collect: .nniignore patterns, symlinks, special and unreadable files, NNI's limits."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from nnifc.codedir import collect
from nnifc.errors import StorageError


def make(root: Path, files: Mapping[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def names(code_dir: Path) -> list[str]:
    return [f.relative for f in collect(code_dir)]


def test_no_nniignore_takes_everything_sorted_with_sizes_and_modes(tmp_path: Path) -> None:
    make(tmp_path, {"main.py": "print(1)\n", "b/z.txt": "zz", "a.sh": "", ".git/HEAD": "ref"})
    (tmp_path / "a.sh").chmod(0o755)
    files = collect(tmp_path)
    assert [f.relative for f in files] == [".git/HEAD", "a.sh", "b/z.txt", "main.py"]
    by_name = {f.relative: f for f in files}
    assert by_name["a.sh"].mode == 0o755
    assert by_name["main.py"].mode == 0o644
    assert by_name["b/z.txt"].size == 2
    assert by_name["main.py"].source == tmp_path / "main.py"


def test_nniignore_gitignore_patterns(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            ".nniignore": "\n".join(
                [
                    "# comments and blank lines are skipped",
                    "",
                    "*.pyc",
                    "/build/",  # anchored: only the top-level build directory
                    "logs/",  # any directory named logs
                    "data/*",
                    "!data/keep.csv",  # negation inside a directory that is not itself ignored
                    "**/tmp/**",
                    "\\#hash.txt",
                ]
            ),
            "main.py": "",
            "m.pyc": "",
            "pkg/m.pyc": "",
            "pkg/m.py": "",
            "build/out.o": "",
            "pkg/build/keep.py": "",
            "logs/run.log": "",
            "pkg/logs/x.log": "",
            "logs.txt": "",
            "data/big.csv": "",
            "data/keep.csv": "",
            "a/tmp/b/c.txt": "",
            "#hash.txt": "",
        },
    )
    assert names(tmp_path) == [
        ".nniignore",
        "data/keep.csv",
        "logs.txt",
        "main.py",
        "pkg/build/keep.py",
        "pkg/m.py",
    ]


def test_a_file_under_an_ignored_directory_cannot_be_re_included(tmp_path: Path) -> None:
    make(tmp_path, {".nniignore": "data/\n!data/keep.csv\n", "data/keep.csv": "", "x.py": ""})
    assert names(tmp_path) == [".nniignore", "x.py"]


def test_nniignore_can_ignore_itself_and_dot_git(tmp_path: Path) -> None:
    make(tmp_path, {".nniignore": ".nniignore\n.git/\n", ".git/HEAD": "", "x.py": ""})
    assert names(tmp_path) == ["x.py"]


def test_link_inside_is_uploaded_as_the_file_it_points_to(tmp_path: Path) -> None:
    make(tmp_path, {"real/conf.yml": "a: 1\n", "run.sh": "#!/bin/sh\n"})
    (tmp_path / "run.sh").chmod(0o750)
    (tmp_path / "conf.yml").symlink_to("real/conf.yml")
    (tmp_path / "go").symlink_to(tmp_path / "run.sh")  # absolute, still inside
    (tmp_path / "alias").symlink_to("real", target_is_directory=True)
    files = {f.relative: f for f in collect(tmp_path)}
    assert sorted(files) == ["alias/conf.yml", "conf.yml", "go", "real/conf.yml", "run.sh"]
    assert files["conf.yml"].size == 5
    assert files["go"].mode == 0o750
    assert files["alias/conf.yml"].source.read_text() == "a: 1\n"


def test_each_file_is_recorded_as_the_inode_an_upload_must_read(tmp_path: Path) -> None:
    """Uploads open `source` without following a link and insist on the same (dev, ino)."""
    make(tmp_path, {"real/conf.yml": "a: 1\n"})
    (tmp_path / "conf.yml").symlink_to("real/conf.yml")
    files = {f.relative: f for f in collect(tmp_path)}
    target = (tmp_path / "real" / "conf.yml").stat()
    for name in ("conf.yml", "real/conf.yml"):
        assert files[name].source == tmp_path / "real" / "conf.yml"  # a link's is its target
        assert (files[name].dev, files[name].ino) == (target.st_dev, target.st_ino)
        with files[name].open() as f:
            assert f.read() == b"a: 1\n"


def test_link_escaping_code_dir_is_refused_with_link_and_target(tmp_path: Path) -> None:
    code = make(tmp_path / "code", {"main.py": ""})
    outside = make(tmp_path / "secret", {"key": "k"})
    (code / "key").symlink_to(outside / "key")
    with pytest.raises(StorageError) as e:
        collect(code)
    assert str(e.value) == (
        f"codeDir {code}: symlink key -> {outside / 'key'} points outside it "
        f"({outside / 'key'}): remove it or add it to {code / '.nniignore'}"
    )


def test_directory_link_escaping_is_refused_unless_ignored(tmp_path: Path) -> None:
    code = make(tmp_path / "code", {"main.py": ""})
    (code / "data").symlink_to("../data", target_is_directory=True)
    (tmp_path / "data").mkdir()
    with pytest.raises(StorageError, match=r"symlink data -> \.\./data points outside it"):
        collect(code)
    (code / ".nniignore").write_text("data/\n")
    assert names(code) == [".nniignore", "main.py"]


def test_dangling_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "gone").symlink_to("nowhere")
    with pytest.raises(StorageError, match=r"symlink gone -> nowhere points to nothing"):
        collect(tmp_path)


def test_link_loop_is_refused_not_followed_forever(tmp_path: Path) -> None:
    make(tmp_path, {"pkg/a.py": ""})
    (tmp_path / "pkg" / "again").symlink_to("..", target_is_directory=True)
    with pytest.raises(StorageError, match=r"symlink pkg/again loops back to "):
        collect(tmp_path)


def test_fifo_and_socket_are_refused(tmp_path: Path) -> None:
    make(tmp_path, {"main.py": ""})
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(StorageError) as e:
        collect(tmp_path)
    assert str(e.value) == (
        f"codeDir {tmp_path}: pipe is a FIFO, not a regular file: "
        f"remove it or add it to {tmp_path / '.nniignore'}"
    )
    (tmp_path / "pipe").unlink()
    short = Path(tempfile.mkdtemp(dir="/tmp"))  # AF_UNIX paths are limited to 108 bytes
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(str(short / "sock"))
            with pytest.raises(StorageError, match=r": sock is a socket, not a regular file"):
                collect(short)
    finally:
        shutil.rmtree(short)


@contextmanager
def as_nobody() -> Iterator[None]:
    """Root reads every file, so an unreadable one needs another effective uid for a while."""
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to uid nobody needs root")
def test_unreadable_file_is_refused() -> None:
    code = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's tmp_path is closed to other users
    try:
        code.chmod(0o755)
        make(code, {"ok.py": "", "secret.bin": "x"})
        (code / "secret.bin").chmod(0)
        with as_nobody(), pytest.raises(StorageError) as e:
            collect(code)
    finally:
        shutil.rmtree(code)
    assert str(e.value) == (
        f"codeDir {code}: cannot read secret.bin (Permission denied): "
        f"remove it or add it to {code / '.nniignore'}"
    )


def test_file_limit_message_names_the_biggest_directories(tmp_path: Path) -> None:
    make(tmp_path, {f"data/{i}.csv": "" for i in range(8)} | {"a.py": "", "src/m.py": "x" * 2048})
    assert len(collect(tmp_path, max_files=10)) == 10
    with pytest.raises(StorageError) as e:
        collect(tmp_path, max_files=9)
    assert str(e.value) == (
        f"codeDir {tmp_path} has 10 files after .nniignore (limit 9): add patterns to "
        f"{tmp_path / '.nniignore'}, e.g. data/, or raise the limit; "
        "biggest: data/ (8 files, 0.0 MB), a.py (1 file, 0.0 MB), src/ (1 file, 0.0 MB)"
    )
    (tmp_path / ".nniignore").write_text("data/\n")
    assert len(collect(tmp_path, max_files=9)) == 3


def test_size_limit_message_names_the_biggest_entries(tmp_path: Path) -> None:
    make(
        tmp_path, {"model.pt": bytes(3 * 2**20), "ckpt/a": bytes(2**20), "ckpt/b": b"1", "m.py": ""}
    )
    with pytest.raises(StorageError) as e:
        collect(tmp_path, max_bytes=3 * 2**20)
    assert str(e.value) == (
        f"codeDir {tmp_path} holds 4.0 MB after .nniignore (limit 3.0 MB): add patterns to "
        f"{tmp_path / '.nniignore'}, e.g. model.pt, or raise the limit; "
        "biggest: model.pt (1 file, 3.0 MB), ckpt/ (2 files, 1.0 MB), m.py (1 file, 0.0 MB)"
    )


def test_default_limits_are_nnis(tmp_path: Path) -> None:
    make(tmp_path, {f"d/{i}": "" for i in range(2001)})
    with pytest.raises(StorageError, match=r"has 2001 files after \.nniignore \(limit 2000\)"):
        collect(tmp_path)
    assert len(collect(tmp_path, max_files=2001)) == 2001


def test_code_dir_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"is not a directory"):
        collect(tmp_path / "missing")
