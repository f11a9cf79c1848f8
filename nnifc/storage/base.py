"""The storage interface: a file share the launcher writes and every trial pod mounts.

Paths are POSIX paths relative to the share's root (the NFS export, the Azure File share);
the layout under it is NNI's: `nni/<exp>/code/`, `nni/<exp>/<trial>/parameter.cfg`,
`nni/<exp>/<trial>/output/<role>_<index>/`. The launcher never mounts anything: it talks to the
share with a userspace client, and pods get a volume that mounts the same root.
"""

from __future__ import annotations

import errno
import io
import os
import posixpath
import stat
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from nnifc.errors import StorageError
from nnifc.experiment import Model


@dataclass(frozen=True)
class CodeFile:
    """One regular file of the trial code as `collect` checked it, and where it goes under code/.

    Uploads read it with `open()`, never by path: what is read is the file that was checked.
    """

    source: Path  # no link as its last part (a link inside codeDir is its target)
    relative: str  # POSIX path inside codeDir
    size: int
    mode: int  # permission bits, so executables stay executable
    dev: int  # st_dev and st_ino of the file checked
    ino: int

    def open(self) -> io.BufferedReader:
        """The file's checked `size` bytes; StorageError if it is no longer the file checked.

        A link (a replaced file) is not followed, and the file opened must be the inode that was
        checked, so a directory swapped for a link is caught too. A file that grew or shrank is
        refused, also while it is read: half a file is no better than another file.
        """
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a FIFO: no wait
        try:
            fd = os.open(self.source, flags)
        except OSError as e:
            raise self.changed(_unopened(e)) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (self.dev, self.ino):
                raise self.changed("it was replaced by another file")
            if st.st_size != self.size:
                raise self.changed(_resized(self.size, st.st_size))
            return io.BufferedReader(_Checked(fd, self))
        except BaseException:
            os.close(fd)
            raise

    def changed(self, why: str) -> StorageError:
        return StorageError(
            f"cannot upload {self.source}: {why} after codeDir was checked; "
            "run again once codeDir stops changing"
        )


class _Checked(io.RawIOBase):
    """Reads of one open CodeFile that end at its checked size, and only if the file ends there."""

    def __init__(self, fd: int, file: CodeFile) -> None:
        self.fd, self.file, self.position = fd, file, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self.file.size - self.position)
        count = os.readv(self.fd, [memoryview(buffer)[:want]]) if want else 0
        if want and not count:
            raise self.file.changed(_resized(self.file.size, os.fstat(self.fd).st_size))
        self.position += count
        if self.position == self.file.size and os.pread(self.fd, 1, self.file.size):
            raise self.file.changed(_resized(self.file.size, os.fstat(self.fd).st_size))
        return count

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
        super().close()


def _unopened(e: OSError) -> str:
    if e.errno == errno.ELOOP:
        return "it was replaced by a symbolic link"
    if e.errno in (errno.ENOENT, errno.ENOTDIR):
        return "it was removed"
    return f"it cannot be opened ({e.strerror})"


def _resized(checked: int, now: int) -> str:
    if now == checked:
        return "it changed while it was read"
    return f"it {'grew' if now > checked else 'shrank'} from {checked} to {now} bytes"


class FileReader:
    """`read(offset, size)` of one file read again and again (a running task's output).

    This one reads through `Storage.read`; a storage may keep something open between reads,
    and `close` releases it.
    """

    def __init__(self, storage: Storage[Any], path: str) -> None:
        self.storage, self.path = storage, path

    def read(self, offset: int, size: int) -> bytes:
        return self.storage.read(self.path, offset, size)

    def close(self) -> None:
        """Release what reading kept (nothing here)."""


class StorageOptions(Model):
    """A storage's own blocks of `frameworkcontrollerConfig` (beside `storage: <kind>`).

    The loader adds these fields to the frameworkcontrollerConfig model of an experiment that
    names this storage, so its keys are checked, located and suggested like every other key.
    """

    required: ClassVar[str]  # "an nfs block with server and path is required"
    present: ClassVar[str]  # "an nfs block is set"
    # NNI v2's flat `trainingService.storage` keys -> where each goes under frameworkcontrollerConfig
    v2_keys: ClassVar[dict[str, tuple[str, ...]]]
    v2_required: ClassVar[tuple[str, ...]]


OptionsT = TypeVar("OptionsT", bound=StorageOptions)


class Storage(ABC, Generic[OptionsT]):
    kind: ClassVar[str]  # the `frameworkcontrollerConfig.storage` value
    Options: ClassVar[type[StorageOptions]]
    makes_secrets: ClassVar[bool] = False  # whether `secrets` returns any (pods need them)

    def __init__(self, options: OptionsT) -> None:
        self.options = options

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

    def close(self) -> None:
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
