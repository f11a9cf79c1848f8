"""Local state is its user's alone: 0700 directories and 0600 files under $NNIFC_HOME.

Databases, parameters and trial logs can hold secrets (a token a trial prints), and the umask
most systems default to (022) would make them readable by every local user. Modes are given
when a path is created and set again with chmod, since a umask can take bits away from them.
Paths that already exist keep their mode: they may not be ours to change.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

DIR_MODE = 0o700
FILE_MODE = 0o600
# A local trial's wrapper runs with this umask, so what it writes (log, exit code, parameters)
# is private; it gives the user's own umask back to their command (NNIFC_UMASK), whose files sit
# in the trial's 0700 directory anyway.
TRIAL_UMASK = 0o077


def user_umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def make_dirs(path: Path) -> None:
    """`path` and its missing parents, each made 0700."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:  # made by someone else meanwhile: keep its mode
            continue
        os.chmod(directory, DIR_MODE)


def create(path: Path) -> None:
    """An empty 0600 file at `path` unless one is there (SQLite gives -wal and -shm its mode)."""
    os.close(_open(path, os.O_WRONLY))


def open_append(path: Path) -> IO[bytes]:
    """`path` for appending (a log), made 0600 if it is new."""
    return os.fdopen(_open(path, os.O_WRONLY | os.O_APPEND), "ab")


def write_text(path: Path, text: str) -> None:
    """Replace the content of `path` with `text`, a new file made 0600."""
    with os.fdopen(_open(path, os.O_WRONLY | os.O_TRUNC), "w", encoding="utf-8") as f:
        f.write(text)


def _open(path: Path, flags: int) -> int:
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        return os.open(path, flags | os.O_CLOEXEC)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd
