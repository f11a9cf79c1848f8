"""NFS through a userspace client (PyPI nfs-rs): no mount, no root, no nfs-common on this machine.

NFSv4.1 first, then v4.0 (v3 would need rpcbind and mountd). The port is 2049 unless
NNIFC_NFS_PORT says otherwise. A server that asks for a retry (NFS4ERR_DELAY and the like, about
2% of reads under load) or an outcome the client is unsure of is retried on the same connection
within 5 to 160 ms; if that keeps failing, or the connection itself failed, the call is retried
on a new connection with backoff, because an nfs-rs client does not recover once its server restarted.
Each retried unit (a small file, an 8 MiB chunk, a rename, one directory page listed or one
entry removed) is idempotent. A read whose data arrived is not failed by an error closing the
file afterwards.

One instance may be used from several threads: a lock serialises the calls (nfs-rs does not
document its client as thread-safe), taken per file or per chunk, so a thread tailing trial
outputs waits for at most one of them while code uploads.
"""

from __future__ import annotations

import errno
import json
import os
import posixpath
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from functools import partial
from pathlib import PurePosixPath
from typing import Annotated, Any, ClassVar, TypeVar

import nfs_rs
from pydantic import AfterValidator

from nnifc.errors import StorageError
from nnifc.experiment import Model, Text
from nnifc.storage.base import CodeFile, FileReader, Storage, StorageOptions, tree_path
from nnifc.storage.held import HeldFile

PORT_ENV = "NNIFC_NFS_PORT"
DEFAULT_PORT = 2049
VERSIONS = ("4.1", "4.0")
CHUNK = 8 * 2**20  # per write call; nfs-rs splits it into negotiated RPCs, 8 in flight
# Pods run as uids unknown here, so what they write into is open to all. `nni/` holds every
# user's experiments and `nni/<exp>/` the trial directories its pods make: both sticky, as /tmp
# is, so only an entry's owner (or the directory's) removes or renames it.
SHARED_DIR_MODE = 0o1777
CODE_DIR_MODE = 0o755  # trial code is only read by the pods
TRIAL_DIR_MODE = 0o777  # pods, whatever uid they run as, write outputs next to parameter.cfg
# Errors no new connection can fix; everything else (drops, timeouts, a restarted server) can.
PERMANENT = (
    nfs_rs.NfsNotFoundError,
    nfs_rs.NfsAlreadyExistsError,
    nfs_rs.NfsPermissionError,
    nfs_rs.NfsIsADirectoryError,
    nfs_rs.NfsNotADirectoryError,
    nfs_rs.NfsInvalidInputError,
    nfs_rs.NfsUnsupportedError,
    nfs_rs.NfsModeError,
)
PERMANENT_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EFBIG,
    errno.ENAMETOOLONG,
    errno.ENOTEMPTY,
}
# A path through a symbolic link: nfs-rs never follows one, and no reconnect changes that.
PERMANENT_CODES = {"NFS4ERR_SYMLINK"}
# Errors the same connection can get past: the server said "later", or the outcome is unknown.
SOFT = (
    nfs_rs.NfsRetryableError,
    nfs_rs.NfsOperationOutcomeError,
    nfs_rs.NfsFileCloseError,
    nfs_rs.NfsPositionUncertainError,
)
SOFT_RETRY_SECONDS = 0.005  # doubling, SOFT_TRIES times
SOFT_TRIES = 6
REFILLS = 20  # times remove_tree empties a directory that something fills again, then gives up

T = TypeVar("T")


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        shown = json.dumps(value)
        raise ValueError(f"must be an absolute path on the NFS server (start with /), got {shown}")
    return value


class Nfs(Model):
    server: Text
    path: Annotated[str, AfterValidator(_absolute)]


class NfsOptions(StorageOptions):
    required: ClassVar[str] = "an nfs block with server and path is required"
    present: ClassVar[str] = "an nfs block is set"
    v2_keys: ClassVar[dict[str, tuple[str, ...]]] = {
        "server": ("nfs", "server"),
        "path": ("nfs", "path"),
    }
    v2_required: ClassVar[tuple[str, ...]] = ("server", "path")

    nfs: Nfs


class NfsStorage(Storage[NfsOptions]):
    kind: ClassVar[str] = "nfs"
    Options = NfsOptions
    connect_timeout: float = 10
    operation_timeout: float = 30  # also how long a call on a dropped connection hangs
    attempts: int = 5
    backoff: float = 0.5  # seconds before the first retry, doubling, at most 8
    readdir_buffer: int | None = None  # bytes per directory page; None: the server's read size

    def __init__(self, options: NfsOptions) -> None:
        super().__init__(options)
        self.server = options.nfs.server
        self.export = options.nfs.path
        self.port = _port()
        self._client: nfs_rs.Client | None = None
        self._lock = threading.Lock()
        self._made: set[str] = set()  # directories this instance made or found: one mkdir each
        self._generation = 0  # of the connection: files held open belong to one

    @property
    def where(self) -> str:
        return f"{self.server}:{self.port}"

    def check(self) -> None:
        probe = f"nni/.nnifc-probe-{uuid.uuid4().hex[:8]}"
        data = b"nnifc write probe\n"
        with self._lock:
            self._drop()
            try:
                client = self._connect()
            except nfs_rs.NfsError as e:
                raise self._connect_error(e) from e
            try:
                client.mkdir("nni", SHARED_DIR_MODE, exist_ok=True)
                _write_new(client, probe, data)
                with client.open(probe, "rb") as f:
                    back = f.read()
                client.unlink(probe)
            except nfs_rs.NfsError as e:
                raise self._error("write probe", probe, e, attempts=1) from e
            self._client = client
        if back != data:
            raise StorageError(f"NFS {self.server}:{self.export}/{probe} read back differently")

    def upload(self, files: Sequence[CodeFile], dest: str) -> None:
        """Fill a staging directory, then rename it to `dest`: `dest` is complete or absent."""
        dest, token = _inside(dest), uuid.uuid4().hex[:8]
        staging = f"{dest}.uploading-{token}"
        parent = posixpath.dirname(dest)
        if parent:  # the experiment's directory, where its pods make theirs
            self._run("mkdir", parent, partial(_mkdirs, path=parent, mode=SHARED_DIR_MODE))
        name = posixpath.basename(dest)
        for left in self.listdir(parent):  # an earlier upload's, cut short by a killed launcher
            if left.startswith((f"{name}.uploading-", f"{name}.replaced-")):
                self.remove_tree(posixpath.join(parent, left))
        dirs = {staging} | {posixpath.dirname(f"{staging}/{f.relative}") for f in files}
        for d in sorted(dirs):
            self._run("mkdir", d, partial(_mkdirs, path=d, mode=CODE_DIR_MODE))
        for f in files:
            self._upload_file(f, f"{staging}/{f.relative}")
        old = f"{dest}.replaced-{token}"
        if self._run("rename", dest, lambda c: _swap(c, staging, dest, old)):
            self.remove_tree(old)

    def _upload_file(self, file: CodeFile, target: str) -> None:
        with file.open() as src:
            offset = 0
            while True:
                data = src.read(CHUNK)
                self._run(
                    "write", target, partial(_write_chunk, path=target, data=data, offset=offset)
                )
                offset += len(data)
                if len(data) < CHUNK:
                    break
        self._run("chmod", target, lambda c: c.chmod(target, file.mode))

    def write(self, path: str, data: bytes) -> None:
        parent, name = posixpath.split(_inside(path))
        temp = posixpath.join(parent, f".{name}.{uuid.uuid4().hex[:8]}.tmp")

        def replace(client: nfs_rs.Client) -> None:
            if parent:
                self._make_dir(client, parent)
            _write_new(client, temp, data)
            client.chmod(temp, 0o644)
            client.rename(temp, path)

        self._run("write", path, replace)

    def _make_dir(self, client: nfs_rs.Client, path: str) -> None:
        """A trial's directory: one mkdir when its parent is known to exist, not one per level."""
        if path in self._made:
            return
        made = posixpath.dirname(path) in self._made
        if made:
            try:
                client.mkdir(path, TRIAL_DIR_MODE, exist_ok=True)
            except nfs_rs.NfsNotFoundError:  # the parent was removed behind our back
                made = False
        if not made:
            self._made.clear()
            _mkdirs(client, path, TRIAL_DIR_MODE)
        self._made.add(path)
        self._made.add(posixpath.dirname(path))

    def read(self, path: str, offset: int, size: int) -> bytes:
        """One GETATTR when nothing is new (most looks at a running trial), else open, read, close.

        The read asks for exactly what the size says is there: nfs-rs allocates what it is asked
        for, and a 1 MiB request for 500 bytes costs more than the RPC.
        """

        def read_at(client: nfs_rs.Client) -> bytes:
            try:
                available = client.stat(path).size - offset
                if available <= 0:
                    return b""
                f = client.open(path, "rb")
            except nfs_rs.NfsNotFoundError:
                return b""
            try:
                return bytes(f.read_at(offset, min(size, available)))
            finally:
                with suppress(nfs_rs.NfsError):  # the data is here; a failed close loses nothing
                    f.close()

        return self._run("read", _inside(path), read_at)

    def reader(self, path: str) -> FileReader:
        return HeldFile(_inside(path), self._run, lambda: self._generation)

    def listdir(self, path: str) -> list[str]:
        def names(client: nfs_rs.Client) -> list[str]:
            try:
                return sorted(PurePosixPath(entry.path).name for entry in client.scandir(path))
            except nfs_rs.NfsNotFoundError:
                return []

        return self._run("list", _inside(path), names)

    def remove_tree(self, path: str) -> int:
        """Depth first, one directory page at a time, each READDIR from the directory's start.

        A listing is never continued after removing what it listed (a cookie may not survive
        that), so the entries left in a directory are listed again until none are; then it is
        removed. Each page and each REMOVE is its own retried unit: other threads wait for one
        of them at most, and a new connection resumes where the last one stopped. nfs-rs looks
        up paths without following links, so a link is only ever the object of a REMOVE.
        """
        root = _inside(tree_path(path))
        kind = self._run("remove", root, partial(_type_of, path=root))
        if kind is None:
            return 0
        if kind != nfs_rs.FileType.DIRECTORY:
            raise StorageError(
                f"NFS remove {self.server}:{self.export}/{root} failed: it is a {kind.value}, "
                "not a directory; nothing was removed"
            )
        where = f"NFS remove {self.server}:{self.export}"
        removed, refills = 0, 0
        pending: list[tuple[str, int | None]] = [(root, None)]  # with the hash of its last page
        while pending:
            directory, last = pending[-1]
            page = self._run("list", directory, partial(_first_page, path=directory))
            if page is None:  # gone already (removed by someone else)
                pending.pop()
            elif not page:
                if self._run("remove", directory, partial(_rmdir, path=directory)):
                    pending.pop()
                    continue
                refills += 1  # something wrote into it after it was listed empty
                if refills > REFILLS:
                    raise StorageError(
                        f"{where}/{directory} failed: it keeps getting new entries "
                        "(is a trial still writing to it?)"
                    )
            elif hash(tuple(page)) == last:  # what was removed is listed again: no progress
                raise StorageError(
                    f"{where}/{page[0][0]} failed: it is listed again after it was removed "
                    "(a name the server cannot look up, or something keeps writing it)"
                )
            else:
                pending[-1] = (directory, hash(tuple(page)))
                for entry, is_directory in page:
                    if is_directory:
                        pending.append((entry, None))
                    else:
                        self._run("remove", entry, partial(_remove_entry, path=entry))
                        removed += 1
        with self._lock:  # written again later, these are made again
            self._made = {d for d in self._made if d != root and not d.startswith(f"{root}/")}
        return removed

    def volume(self, name: str, experiment_id: str) -> dict[str, Any]:
        return {"name": name, "nfs": {"server": self.server, "path": self.export}}

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            self._generation += 1
            if client is not None:
                with suppress(nfs_rs.NfsError):  # a dead connection fails to close
                    client.close()

    def _run(self, what: str, path: str, call: Callable[[nfs_rs.Client], T]) -> T:
        """`call` on the shared connection; transient failures retried (see the module doc).

        A busy server answers "later" (or leaves an outcome unknown) under load: that is retried
        on the same connection after 5, 10, ... 160 ms, and only then counts as a failed
        attempt, which drops the connection and backs off for half a second or more.
        """
        attempt, soft_tries = 1, 0
        while True:
            with self._lock:
                connecting = self._client is None
                try:
                    if self._client is None:
                        self._client = self._connect()
                    connecting = False
                    return call(self._client)
                except nfs_rs.NfsError as e:
                    soft = isinstance(e, SOFT) and soft_tries < SOFT_TRIES
                    if _transient(e) and not soft:
                        self._drop()
                    if not soft and (attempt == self.attempts or not _transient(e)):
                        if connecting:
                            cause = self._connect_error(e)
                            raise StorageError(f"NFS {what} {path} failed: {cause}") from e
                        raise self._error(what, path, e, self.attempts) from e
            if soft:
                time.sleep(SOFT_RETRY_SECONDS * 2**soft_tries)
                soft_tries += 1
            else:
                time.sleep(min(self.backoff * 2 ** (attempt - 1), 8))
                attempt += 1

    def _connect(self) -> nfs_rs.Client:
        host = f"[{self.server}]" if ":" in self.server else self.server
        url = f"nfs://{host}{self.export}"
        error: nfs_rs.NfsError | None = None
        options: dict[str, Any] = {}
        if self.readdir_buffer is not None:
            options["readdir_buffer"] = self.readdir_buffer
        for version in VERSIONS:
            try:
                return nfs_rs.Client.connect(
                    url,
                    versions=[version],
                    nfs_port=self.port,
                    noresvport=os.geteuid() != 0,  # ports < 1024 need root
                    connect_timeout=self.connect_timeout,
                    operation_timeout=self.operation_timeout,
                    **options,
                )
            except nfs_rs.NfsProtocolError as e:  # NFS4ERR_MINOR_VERS_MISMATCH: try an older one
                error = error or e
        assert error is not None
        raise error

    def _drop(self) -> None:
        """Forget the connection without close(): on a dead one, close() waits out the timeout."""
        self._client = None
        self._generation += 1

    def _connect_error(self, e: nfs_rs.NfsError) -> StorageError:
        if isinstance(e, ConnectionError | TimeoutError):
            return StorageError(
                f"NFS server {self.where} is unreachable ({e}): the server may be down, "
                f"or a firewall may block TCP port {self.port}"
            )
        if isinstance(e, nfs_rs.NfsNotFoundError):
            return StorageError(
                f"NFS server {self.where} has no export {self.export}: check nfs.path "
                "(the path the server exports over NFSv4)"
            )
        if isinstance(e, nfs_rs.NfsPermissionError):
            hint = ""
            if os.geteuid() != 0:
                hint = "; if it requires a source port below 1024, add `insecure` to its options"
            return StorageError(
                f"NFS server {self.where} denied access to export {self.export} ({e}){hint}"
            )
        return StorageError(f"cannot connect to NFS server {self.where}{self.export}: {e}")

    def _error(self, what: str, path: str, e: nfs_rs.NfsError, attempts: int) -> StorageError:
        reason = str(e)
        if isinstance(e, nfs_rs.NfsPermissionError):
            reason = f"permission denied; the export must be read-write for uid {os.geteuid()}"
        elif _transient(e):
            tries = f"after {attempts} attempts; " if attempts > 1 else ""
            reason += f" ({tries}the server {self.where} may be down)"
        return StorageError(f"NFS {what} {self.server}:{self.export}/{path} failed: {reason}")


def _port() -> int:
    text = os.environ.get(PORT_ENV, "")
    if not text:
        return DEFAULT_PORT
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise StorageError(f"{PORT_ENV} must be a TCP port (1-65535), got {text!r}")
    return int(text)


def _inside(path: str) -> str:
    """nfs-rs refuses these with a bare ValueError; say it in our terms, before any I/O."""
    if path.startswith("/") or ".." in path.split("/") or "\0" in path or not path.strip("/"):
        raise StorageError(f"NFS path {path!r} must be relative to the export and stay inside it")
    return path


def _transient(e: nfs_rs.NfsError) -> bool:
    if isinstance(e, PERMANENT) or e.code_name in PERMANENT_CODES:
        return False
    return not (isinstance(e, nfs_rs.NfsOSError) and e.errno in PERMANENT_ERRNOS)


def _mkdirs(client: nfs_rs.Client, path: str, mode: int) -> None:
    client.mkdir(path, mode, parents=True, exist_ok=True)


def _write_new(client: nfs_rs.Client, path: str, data: bytes) -> None:
    with client.open(path, "wb") as f:
        f.write(data)


def _write_chunk(client: nfs_rs.Client, path: str, data: bytes, offset: int) -> None:
    """Chunk 0 creates (or truncates) the file, later ones write in place: each is repeatable."""
    if offset == 0:
        _write_new(client, path, data)
        return
    with client.open(path, "r+b") as f:
        f.write_at(data, offset)


def _swap(client: nfs_rs.Client, staging: str, dest: str, old: str) -> bool:
    """Rename staging to dest, moving an earlier dest to `old`; True if `old` needs removing."""
    if not client.exists(staging):  # a retry after the rename went through
        return client.exists(old)
    if client.exists(dest):
        client.rename(dest, old)
    client.rename(staging, dest)
    return client.exists(old)


def _type_of(client: nfs_rs.Client, path: str) -> nfs_rs.FileType | None:
    """The type of `path` itself (a link is a link: LOOKUP does not follow it); None if absent."""
    try:
        return client.stat(path).type
    except nfs_rs.NfsNotFoundError:
        return None


def _first_page(client: nfs_rs.Client, path: str) -> list[tuple[str, bool]] | None:
    """(path, is a directory) of the first entries of `path`, [] if empty, None if absent.

    One READDIR reply's worth (or more, past a reply holding only "." and ".."), so memory
    stays at one page however large the directory is.
    """
    position = nfs_rs.DirectoryCookie()
    try:
        while True:
            page = client.scandir_page(path, position)
            entries = [
                (posixpath.join(path, e.name), e.info.type == nfs_rs.FileType.DIRECTORY)
                for e in page.entries
                if e.name not in (".", "..")
            ]
            if entries or page.eof:
                return entries
            position = page.next
    except nfs_rs.NfsNotFoundError:
        return None


def _remove_entry(client: nfs_rs.Client, path: str) -> None:
    """REMOVE of a file or link (the link itself); already gone is as good (a retried REMOVE)."""
    client.remove(path, missing_ok=True)


def _rmdir(client: nfs_rs.Client, path: str) -> bool:
    """Remove the emptied directory `path`: False if it was written to since it was listed."""
    try:
        client.rmdir(path)
    except nfs_rs.NfsNotFoundError:
        pass
    except nfs_rs.NfsOSError as e:
        if e.errno != errno.ENOTEMPTY:
            raise
        return False
    return True
