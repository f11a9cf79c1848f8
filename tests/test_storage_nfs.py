"""NfsStorage against a real nfs-ganesha; the exported directory on disk is the ground truth."""

from __future__ import annotations

import os
import shutil
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from nnifc.codedir import collect
from nnifc.errors import StorageError
from nnifc.storage import STORAGES
from nnifc.storage.nfs import NfsOptions, NfsStorage

if TYPE_CHECKING:
    from tests.ganesha import Ganesha

pytest_plugins = ["tests.ganesha"]  # the nfs_server fixture


def nfs_storage(server: Ganesha, path: str | None = None) -> NfsStorage:
    nfs = {"server": server.server, "path": path or server.path}
    storage = NfsStorage(NfsOptions.model_validate({"nfs": nfs}))
    storage.operation_timeout = 3  # a call on a connection the server dropped hangs this long
    storage.backoff = 0.1
    return storage


@pytest.fixture
def storage(nfs_server: Ganesha) -> Iterator[NfsStorage]:
    storage = nfs_storage(nfs_server)
    yield storage
    storage.close()


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_registered_and_volume(storage: NfsStorage, nfs_server: Ganesha) -> None:
    assert STORAGES["nfs"] is NfsStorage
    assert storage.port == nfs_server.port
    assert storage.volume("nni-vol", "exp12345") == {
        "name": "nni-vol",
        "nfs": {"server": "127.0.0.1", "path": "/export"},
    }
    assert storage.secrets("exp") == []


def test_port_from_environment_must_be_a_port(
    nfs_server: Ganesha, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NNIFC_NFS_PORT", "20x49")
    with pytest.raises(StorageError, match=r"NNIFC_NFS_PORT must be a TCP port \(1-65535\)"):
        nfs_storage(nfs_server)
    monkeypatch.delenv("NNIFC_NFS_PORT")
    assert nfs_storage(nfs_server).port == 2049


def test_check_creates_nni_and_removes_its_probe(storage: NfsStorage, nfs_server: Ganesha) -> None:
    storage.check()
    storage.check()
    assert (nfs_server.local_dir / "nni").is_dir()
    assert not [p for p in (nfs_server.local_dir / "nni").iterdir() if "probe" in p.name]


def test_upload_copies_bytes_and_modes(
    storage: NfsStorage, nfs_server: Ganesha, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    (code / "pkg" / "deep").mkdir(parents=True)
    (code / "main.py").write_text("import pkg\n")
    (code / "run.sh").write_text("#!/bin/sh\n")
    (code / "run.sh").chmod(0o755)
    (code / "private.key").write_bytes(b"k")
    (code / "private.key").chmod(0o600)
    (code / "empty").write_bytes(b"")
    (code / "pkg" / "deep" / "w.bin").write_bytes(os.urandom(20 * 2**20 + 7))  # three chunks
    (code / "link.py").symlink_to("main.py")
    (code / ".nniignore").write_text("*.log\n")
    (code / "x.log").write_text("ignored")
    storage.upload(collect(code), "nni/exp1/code")
    uploaded = tree(nfs_server.local_dir / "nni/exp1/code")
    expected = tree(code)
    del expected["x.log"]
    assert uploaded == expected
    assert not (nfs_server.local_dir / "nni/exp1/code/link.py").is_symlink()
    assert os.listdir(nfs_server.local_dir / "nni/exp1") == ["code"]


def test_upload_again_replaces_the_earlier_copy(
    storage: NfsStorage, nfs_server: Ganesha, tmp_path: Path
) -> None:
    (tmp_path / "a.py").write_text("1")
    (tmp_path / "old.py").write_text("old")
    storage.upload(collect(tmp_path), "nni/exp2/code")
    (tmp_path / "old.py").unlink()
    (tmp_path / "a.py").write_text("2")
    storage.upload(collect(tmp_path), "nni/exp2/code")
    assert tree(nfs_server.local_dir / "nni/exp2/code") == {"a.py": (b"2", 0o644)}
    assert os.listdir(nfs_server.local_dir / "nni/exp2") == ["code"]


def test_write_creates_parents_and_replaces_atomically(
    storage: NfsStorage, nfs_server: Ganesha
) -> None:
    storage.write("nni/exp3/Ab12C/parameter.cfg", b'{"parameter_id": 0}')
    storage.write("nni/exp3/Ab12C/parameter.cfg", b'{"parameter_id": 1}')
    trial = nfs_server.local_dir / "nni/exp3/Ab12C"
    assert os.listdir(trial) == ["parameter.cfg"]  # no temporary file left behind
    assert (trial / "parameter.cfg").read_bytes() == b'{"parameter_id": 1}'
    assert stat.S_IMODE((trial / "parameter.cfg").stat().st_mode) == 0o644
    assert stat.S_IMODE(trial.stat().st_mode) == 0o777  # pods of any uid write outputs here
    assert storage.read("nni/exp3/Ab12C/parameter.cfg", 0, 1 << 20) == b'{"parameter_id": 1}'


def test_write_recreates_directories_removed_behind_its_back(
    storage: NfsStorage, nfs_server: Ganesha
) -> None:
    storage.write("nni/exp4/t1/parameter.cfg", b"1")
    storage.write("nni/exp4/t2/parameter.cfg", b"2")  # its parent is known: one mkdir
    shutil.rmtree(nfs_server.local_dir / "nni/exp4")
    storage.write("nni/exp4/t3/parameter.cfg", b"3")
    assert (nfs_server.local_dir / "nni/exp4/t3/parameter.cfg").read_bytes() == b"3"
    assert stat.S_IMODE((nfs_server.local_dir / "nni/exp4/t3").stat().st_mode) == 0o777


def test_read_missing_is_empty_and_tails_a_growing_file(
    storage: NfsStorage, nfs_server: Ganesha
) -> None:
    assert storage.read("nni/none/trial/output/stdout", 0, 4096) == b""
    log = nfs_server.local_dir / "nni/exp4/t1/output/worker_0/stdout"
    log.parent.mkdir(parents=True)
    log.write_bytes(b"line 1\n")  # written on the server, as a pod would
    offset, seen = 0, b""
    for more in (b"line 2\n", b"", b"line 3\nline 4\n"):
        chunk = storage.read(log.relative_to(nfs_server.local_dir).as_posix(), offset, 4096)
        offset, seen = offset + len(chunk), seen + chunk
        with log.open("ab") as f:
            f.write(more)
    assert seen == b"line 1\nline 2\n"
    assert storage.read("nni/exp4/t1/output/worker_0/stdout", offset, 3) == b"lin"
    assert storage.read("nni/exp4/t1/output/worker_0/stdout", 10**6, 3) == b""


def test_reads_and_writes_proceed_during_an_upload(
    storage: NfsStorage, nfs_server: Ganesha, tmp_path: Path
) -> None:
    for i in range(300):
        (tmp_path / f"m{i:03}.py").write_bytes(os.urandom(2000))
    (tmp_path / "weights.bin").write_bytes(os.urandom(40 * 2**20))
    (nfs_server.local_dir / "nni/exp5").mkdir(parents=True)
    (nfs_server.local_dir / "nni/exp5/metrics").write_bytes(b"0.5\n")
    errors: list[BaseException] = []

    def upload() -> None:
        try:
            storage.upload(collect(tmp_path), "nni/exp5/code")
        except BaseException as e:
            errors.append(e)

    uploader = threading.Thread(target=upload)
    uploader.start()
    during = 0
    while uploader.is_alive():
        assert storage.read("nni/exp5/metrics", 0, 100) == b"0.5\n"
        storage.write(f"nni/exp5/t{during}/parameter.cfg", b"{}")
        during += 1
    uploader.join()
    assert not errors
    assert during >= 3
    assert tree(nfs_server.local_dir / "nni/exp5/code") == tree(tmp_path)


def test_check_says_the_server_is_down(storage: NfsStorage, nfs_server: Ganesha) -> None:
    storage.check()
    nfs_server.stop()
    try:
        start = time.monotonic()
        with pytest.raises(StorageError) as e:
            storage.check()
        assert time.monotonic() - start < 2
    finally:
        nfs_server.start()
    assert str(e.value).startswith(f"NFS server 127.0.0.1:{nfs_server.port} is unreachable (")
    assert str(e.value).endswith(
        f"the server may be down, or a firewall may block TCP port {nfs_server.port}"
    )
    storage.check()


def test_check_says_the_export_is_missing(nfs_server: Ganesha) -> None:
    storage = nfs_storage(nfs_server, "/nosuch")
    with pytest.raises(StorageError) as e:
        storage.check()
    assert str(e.value) == (
        f"NFS server 127.0.0.1:{nfs_server.port} has no export /nosuch: check nfs.path "
        "(the path the server exports over NFSv4)"
    )


def test_calls_reconnect_after_a_server_restart(storage: NfsStorage, nfs_server: Ganesha) -> None:
    storage.write("nni/exp6/a", b"before")
    nfs_server.stop()
    restart = threading.Timer(0.5, nfs_server.start)
    restart.start()
    try:
        storage.write("nni/exp6/b", b"after")  # the old connection is dead: a new one is made
        assert storage.read("nni/exp6/a", 0, 100) == b"before"
    finally:
        restart.join()
    assert (nfs_server.local_dir / "nni/exp6/b").read_bytes() == b"after"


def test_upload_survives_a_server_restart(
    storage: NfsStorage, nfs_server: Ganesha, tmp_path: Path
) -> None:
    for i in range(400):
        (tmp_path / f"m{i:03}.py").write_bytes(os.urandom(5000))
    (tmp_path / "weights.bin").write_bytes(os.urandom(30 * 2**20))
    uploader = threading.Thread(target=storage.upload, args=(collect(tmp_path), "nni/exp9/code"))
    uploader.start()
    time.sleep(0.2)
    assert uploader.is_alive()
    nfs_server.stop()
    nfs_server.start()
    uploader.join()
    assert tree(nfs_server.local_dir / "nni/exp9/code") == tree(tmp_path)
    assert os.listdir(nfs_server.local_dir / "nni/exp9") == ["code"]


def test_calls_fail_clearly_while_the_server_stays_down(
    storage: NfsStorage, nfs_server: Ganesha
) -> None:
    storage.attempts = 2
    storage.write("nni/exp7/a", b"x")
    nfs_server.stop()
    try:
        with pytest.raises(StorageError) as e:
            storage.read("nni/exp7/a", 0, 10)
    finally:
        nfs_server.start()
    assert str(e.value).startswith(
        f"NFS read nni/exp7/a failed: NFS server 127.0.0.1:{nfs_server.port} is unreachable ("
    )
    storage.attempts = 5
    assert storage.read("nni/exp7/a", 0, 10) == b"x"


def test_errors_name_the_path(storage: NfsStorage, nfs_server: Ganesha) -> None:
    storage.write("nni/exp8/file", b"x")
    with pytest.raises(StorageError) as e:
        storage.write("nni/exp8/file/under", b"y")
    assert str(e.value).startswith("NFS write 127.0.0.1:/export/nni/exp8/file/under failed: ")
    for bad in ("../x", "/etc/passwd", "a/../../x", ""):
        with pytest.raises(StorageError, match=r"must be relative to the export and stay inside"):
            storage.read(bad, 0, 1)


def test_a_reader_holds_the_file_open_and_reopens_after_a_server_restart(
    storage: NfsStorage, nfs_server: Ganesha
) -> None:
    path = "nni/exp10/t1/output/worker_0/stdout"
    log = nfs_server.local_dir / path
    reader = storage.reader(path)
    assert reader.read(0, 1 << 20) == b""  # the task has not written yet
    log.parent.mkdir(parents=True)
    log.write_bytes(b"line 1\n")
    assert reader.read(0, 1 << 20) == b"line 1\n"

    client = storage._client
    assert client is not None
    opened: list[str] = []
    real_open = client.open

    def counted_open(path: str, mode: str = "rb") -> Any:
        opened.append(path)
        return real_open(path, mode)

    client.open = counted_open  # type: ignore[method-assign,assignment]
    big = os.urandom(300_000)  # several READs of the held file in one call
    with log.open("ab") as f:
        f.write(big)
    assert reader.read(7, 1 << 20) == big
    assert reader.read(7 + len(big), 1 << 20) == b""
    assert opened == []  # one open for all the looks

    nfs_server.stop()
    nfs_server.start()
    with log.open("ab") as f:
        f.write(b"after the restart\n")
    assert reader.read(7 + len(big), 1 << 20) == b"after the restart\n"
    reader.close()
    assert reader.read(0, 7) == b"line 1\n"  # a closed reader opens the file again
    reader.close()
