"""The storage interface: a file share the launcher writes and every trial pod mounts.

Paths are POSIX paths relative to the share's root (the NFS export, the Azure File share);
the layout under it is NNI's: `nni/<exp>/code/`, `nni/<exp>/<trial>/parameter.cfg`,
`nni/<exp>/<trial>/output/<role>_<index>/`. The launcher never mounts anything: it talks to the
share with a userspace client, and pods get a volume that mounts the same root.
"""

from __future__ import annotations

import posixpath
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from nnifc.errors import StorageError
from nnifc.experiment import FrameworkControllerConfig


@dataclass(frozen=True)
class CodeFile:
    """One regular file of the trial code: where it is here and where it goes under code/."""

    source: Path
    relative: str  # POSIX path inside codeDir
    size: int
    mode: int  # permission bits, so executables stay executable


class FileReader:
    """`read(offset, size)` of one file read again and again (a running task's output).

    This one reads through `Storage.read`; a storage may keep something open between reads,
    and `close` releases it.
    """

    def __init__(self, storage: Storage, path: str) -> None:
        self.storage, self.path = storage, path

    def read(self, offset: int, size: int) -> bytes:
        return self.storage.read(self.path, offset, size)

    def close(self) -> None:
        """Release what reading kept (nothing here)."""


class Storage(ABC):
    kind: ClassVar[str]  # the `frameworkcontrollerConfig.storage` value

    def __init__(self, config: FrameworkControllerConfig) -> None:
        self.config = config

    @abstractmethod
    def check(self) -> None:
        """Reach the share and prove it is writable; raise StorageError saying what to fix."""

    @abstractmethod
    def upload(self, files: Sequence[CodeFile], dest: str) -> None:
        """Copy the trial code to `dest` on the share (once per experiment)."""

    @abstractmethod
    def write(self, path: str, data: bytes) -> None:
        """Create or replace a small file (parameter.cfg), creating parent directories."""

    @abstractmethod
    def read(self, path: str, offset: int, size: int) -> bytes:
        """Up to `size` bytes of `path` from `offset`; b"" when it does not exist (yet)."""

    def reader(self, path: str) -> FileReader:
        """A reader of `path` for repeated reads; close it when done."""
        return FileReader(self, path)

    @abstractmethod
    def listdir(self, path: str) -> list[str]:
        """Names of the entries of directory `path`; [] when it does not exist."""

    @abstractmethod
    def remove_tree(self, path: str) -> int:
        """Delete directory `path` and everything under it; the number of files removed.

        Files are every entry that is not a directory (symbolic links included); directories are
        not counted. A missing `path` returns 0, so a second call is harmless. Symbolic links are
        removed as links and never followed: nothing outside `path` is touched. A `path` that is
        not a directory (a file, a link) raises StorageError and is left alone, as do the share's
        root and paths leaving it (see `tree_path`); a `path` through a link is refused (NFS) or,
        where a link is a file (Azure), names nothing. The walk keeps one directory page and the
        directories still to empty in memory, not the whole tree. Failures raise StorageError
        naming the path and the cause; what was removed before stays removed.
        """

    @abstractmethod
    def volume(self, name: str, experiment_id: str) -> dict[str, Any]:
        """The pod `volumes:` entry named `name` that mounts the share's root."""

    def secrets(self, experiment_id: str) -> list[dict[str, Any]]:
        """Kubernetes Secret bodies the volume needs (none for NFS)."""
        return []

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections."""


def tree_path(path: str) -> str:
    """`path` normalised for `remove_tree`, which must never reach the share's root or leave it.

    "nni/exp/" and "nni/./exp" are "nni/exp"; "", ".", "/x", "a/../.." and "nni/../nni" are
    refused before any I/O, since a slip there would delete every experiment on the share.
    """
    parts = path.split("/")
    if path.startswith("/") or ".." in parts or "\0" in path:
        raise StorageError(f"cannot remove {path!r}: the path must stay inside the share")
    normal = posixpath.normpath(path) if path else "."
    if normal == ".":
        raise StorageError(f"cannot remove {path!r}: that is the share's root")
    return normal
