"""A real NFSv4 server for tests: Debian's nfs-ganesha on 127.0.0.1, no rpcbind, no root mount.

The launcher talks NFS from userspace, so tests run it against a real server exporting a tmp
directory and check results on disk (`local_dir`), the ground truth. `start_ganesha` is the
plain function (the upload benchmark uses it); `nfs_server` is the session fixture over it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

INSTALL = "apt-get install nfs-ganesha nfs-ganesha-vfs"
VFS_FSAL = Path("/usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so")
PSEUDO = "/export"

CONFIG = """\
NFS_CORE_PARAM {{
    Protocols = 4;
    NFS_Port = {port};
    Bind_addr = 127.0.0.1;
    Enable_NLM = false;
    Enable_RQUOTA = false;
}}
NFSV4 {{ Graceless = true; RecoveryBackend = fs; RecoveryRoot = {recovery}; }}
EXPORT {{
    Export_Id = 1;
    Path = {export};
    Pseudo = {pseudo};
    Protocols = 4;
    Transports = TCP;
    Access_Type = RW;
    Squash = None;
    SecType = sys;
    FSAL {{ Name = VFS; }}
}}
LOG {{ Default_Log_Level = EVENT; }}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Ganesha:
    """One ganesha.nfsd serving `local_dir` as `server:path` on `port`; stop() and start() again."""

    workdir: Path
    port: int
    server: str = "127.0.0.1"
    path: str = PSEUDO
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def local_dir(self) -> Path:
        return self.workdir / "export"

    @property
    def log(self) -> Path:
        return self.workdir / "ganesha.log"

    def start(self, timeout: float = 10) -> None:
        if self.process is not None:
            return
        binary = shutil.which("ganesha.nfsd") or "/usr/bin/ganesha.nfsd"
        if not Path(binary).exists() or not VFS_FSAL.exists():
            raise RuntimeError(f"nfs-ganesha is not installed: run `{INSTALL}`")
        self.local_dir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "recovery").mkdir(exist_ok=True)
        conf = self.workdir / "ganesha.conf"
        conf.write_text(
            CONFIG.format(
                port=self.port,
                recovery=self.workdir / "recovery",
                export=self.local_dir,
                pseudo=self.path,
            )
        )
        command = [binary, "-F", "-f", str(conf), "-L", str(self.log)]
        command += ["-p", str(self.workdir / "ganesha.pid")]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while not _listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
                raise RuntimeError(f"ganesha.nfsd did not listen on {self.port}:\n{tail}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Kill the server (SIGKILL: a clean exit takes 2-6 s) and wait until the port is free."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None
        deadline = time.monotonic() + 10
        while _listening(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)


def start_ganesha(workdir: Path, port: int | None = None) -> Ganesha:
    """A running server exporting `workdir/export`; the caller stops it."""
    server = Ganesha(workdir=workdir, port=port or free_port())
    server.start()
    return server


@pytest.fixture(scope="session")
def nfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ganesha]:
    """One ganesha for the session, with NNIFC_NFS_PORT set so NfsStorage finds it."""
    try:
        server = start_ganesha(tmp_path_factory.mktemp("ganesha"))
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NNIFC_NFS_PORT", str(server.port))
        try:
            yield server
        finally:
            server.stop()
