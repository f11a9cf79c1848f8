"""Which files of `trial.codeDir` go to the share: `.nniignore` decides, NNI's limits apply.

NNI checked 2000 files / 300 MB after `.nniignore` and then copied everything anyway; here the
checked list is exactly what is uploaded. Patterns follow gitignore (via `pathspec`), and as in
git an ignored directory is not entered, so `!data/keep` cannot re-include a file under an
ignored `data/` (write `data/*` then `!data/keep`). Symlinks are uploaded as the files they
point to, and only when they point inside codeDir: pods get plain files, never links. Each file
is recorded as the inode opened here, which is what `CodeFile.open` lets uploads read.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from pathlib import Path

import pathspec

from nnifc.errors import ConfigError, Problem, StorageError
from nnifc.storage.base import CodeFile

IGNORE_FILE = ".nniignore"
MAX_FILES = 2000
MAX_BYTES = 300 * 2**20
SPECIAL = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def collect(
    code_dir: Path, *, max_files: int = MAX_FILES, max_bytes: int = MAX_BYTES
) -> list[CodeFile]:
    """The regular files to upload, sorted by relative path; StorageError says what to fix."""
    if not code_dir.is_dir():
        raise StorageError(f"codeDir {code_dir} is not a directory")
    walk = _Walk(code_dir)
    walk.directory(code_dir, "", frozenset({os.path.realpath(code_dir)}))
    files = sorted(walk.files, key=lambda f: f.relative)
    _check_limits(code_dir, files, max_files, max_bytes)
    return files


class _Walk:
    def __init__(self, code_dir: Path) -> None:
        self.code_dir = code_dir
        self.root = Path(os.path.realpath(code_dir))
        self.spec = _ignore_spec(code_dir)
        self.files: list[CodeFile] = []

    def fix(self, what: str) -> str:
        return f"codeDir {self.code_dir}: {what}: remove it or add it to {self.ignore_file}"

    @property
    def ignore_file(self) -> Path:
        return self.code_dir / IGNORE_FILE

    def directory(self, path: Path, prefix: str, ancestors: frozenset[str]) -> None:
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            raise StorageError(
                self.fix(f"cannot list {prefix.rstrip('/') or '.'}/ ({e.strerror})")
            ) from e
        for entry in entries:
            self.entry(Path(entry.path), prefix + entry.name, ancestors)

    def entry(self, path: Path, relative: str, ancestors: frozenset[str]) -> None:
        try:
            own = path.lstat()
            link = stat.S_ISLNK(own.st_mode)
            st = _stat_or_none(path) if link else own  # None: a dangling link
        except OSError as e:
            raise StorageError(self.fix(f"cannot read {relative} ({e.strerror})")) from e
        is_dir = st is not None and stat.S_ISDIR(st.st_mode)
        if self.spec.match_file(relative + "/" if is_dir else relative):
            return
        source = self.check_link(path, relative, st is None) if link else path
        assert st is not None
        if is_dir:
            real = os.path.realpath(path)
            if real in ancestors:
                raise StorageError(self.fix(f"symlink {relative} loops back to {real}"))
            self.directory(path, relative + "/", ancestors | {real})
            return
        kind = SPECIAL.get(stat.S_IFMT(st.st_mode))
        if kind is not None:
            raise StorageError(self.fix(f"{relative} is {kind}, not a regular file"))
        self.files.append(self.checked(source, relative))

    def checked(self, source: Path, relative: str) -> CodeFile:
        """The file as opened (without waiting on a FIFO swapped in): the inode uploads must read."""
        try:
            fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            raise StorageError(self.fix(f"cannot read {relative} ({e.strerror})")) from e
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StorageError(self.fix(f"{relative} is {_kind(st)}, not a regular file"))
        mode = stat.S_IMODE(st.st_mode)
        return CodeFile(source, relative, st.st_size, mode, st.st_dev, st.st_ino)

    def check_link(self, path: Path, relative: str, dangling: bool) -> Path:
        """Links are uploaded as what they point to, so that must exist inside codeDir."""
        target = Path(os.path.realpath(path))
        if not target.is_relative_to(self.root):
            where = f"points outside it ({target})"
        elif dangling:
            where = "points to nothing"
        else:
            return target
        raise StorageError(self.fix(f"symlink {relative} -> {os.readlink(path)} {where}"))


def _kind(st: os.stat_result) -> str:
    return SPECIAL.get(stat.S_IFMT(st.st_mode)) or (
        "a directory" if stat.S_ISDIR(st.st_mode) else "not a file"
    )


def _stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def _ignore_spec(code_dir: Path) -> pathspec.GitIgnoreSpec:
    """The patterns; a FIFO is refused, not opened for reading (that waits for a writer)."""
    path = code_dir / IGNORE_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return pathspec.GitIgnoreSpec.from_lines([])
    except OSError as e:
        raise StorageError(f"cannot read {path}: {e.strerror}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            message = (
                f"{_kind(st)}, not a file: {IGNORE_FILE} must be a text file of gitignore patterns"
            )
            raise ConfigError([Problem(path, 0, 0, "", message)])
        with os.fdopen(os.dup(fd), "rb") as f:
            lines = f.read().decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise StorageError(f"cannot read {path}: {e}") from e
    finally:
        os.close(fd)
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _check_limits(code_dir: Path, files: list[CodeFile], max_files: int, max_bytes: int) -> None:
    total = sum(f.size for f in files)
    if len(files) > max_files:
        have, limit, by = f"has {_files(len(files))}", f"limit {max_files}", "files"
    elif total > max_bytes:
        have, limit, by = f"holds {_mb(total)}", f"limit {_mb(max_bytes)}", "bytes"
    else:
        return
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for f in files:
        top = f.relative.split("/", 1)[0] + ("/" if "/" in f.relative else "")
        counts[top] += 1
        sizes[top] += f.size
    biggest = (counts if by == "files" else sizes).most_common(3)
    listed = ", ".join(
        f"{name} ({_files(counts[name])}, {_mb(sizes[name])})" for name, _ in biggest
    )
    raise StorageError(
        f"codeDir {code_dir} {have} after {IGNORE_FILE} ({limit}): add patterns to "
        f"{code_dir / IGNORE_FILE}, e.g. {biggest[0][0]}, or raise the limit; biggest: {listed}"
    )


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"
