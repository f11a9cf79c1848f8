"""The Storage contract, one suite run against every storage and its real peer.

Why: the launcher uses a storage only through `Storage`; whatever it relies on (b"" for a file a
pod has not written yet, short reads only at the end, refusals as StorageError naming the path,
remove_tree's count and refusals) must hold for NFS (nfs-ganesha) and Azure Files (the
stand-in) alike. The share's directory on this machine is the ground truth and the pods' side:
tests write, append and chmod there as a pod would, and check there what the launcher did.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from nnifc.codedir import collect
from nnifc.errors import StorageError
from nnifc.metrics import CHUNK, OutputTail
from nnifc.storage.base import FileReader, Storage
from tests.storages import azure_storage, nfs_storage

if TYPE_CHECKING:
    from tests.azurestandin import AzureStandin

pytest_plugins = ["tests.ganesha", "tests.azurestandin.fixture"]

AnyStorage = Storage[Any]

# NFS keeps POSIX modes (upload chmods each file). Azure Files over REST has none: the pods'
# azureFile volume gives every file the mount's file_mode, so there an executable bit is lost.
KEEPS_MODES = {"nfs": True, "azureStorage": False}
SHARE_DIR = pytest.StashKey[Path]()
BIG = 64 * 2**20 + 123  # bytes; not a whole number of chunks
LINE = 4096  # bytes per line of the big file, newline included
NOBODY = 65534
BAD_PATHS = ("", ".", "/", "/nni", "../nni", "nni/..", "nni/./..", "nni/../nni")


@pytest.fixture(params=["nfs", "azureStorage"])
def storage(request: pytest.FixtureRequest) -> Iterator[AnyStorage]:
    """A storage against its peer; `share` is where its files are on this machine."""
    built: AnyStorage
    if request.param == "nfs":
        built, request.node.stash[SHARE_DIR] = nfs_storage(request.getfixturevalue("nfs_server"))
    else:
        standin: AzureStandin = request.getfixturevalue("azure_standin")
        monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
        built, request.node.stash[SHARE_DIR] = azure_storage(standin, monkeypatch)
    yield built
    built.close()


@pytest.fixture
def share(storage: AnyStorage, request: pytest.FixtureRequest) -> Path:
    path: Path = request.node.stash[SHARE_DIR]
    return path


@pytest.fixture
def exp() -> str:
    """This test's experiment directory: the NFS server, and what it holds, lasts the session."""
    return f"nni/c{uuid.uuid4().hex[:8]}"


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def modes(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in root.rglob("*")
        if p.is_file()
    }


def test_check_proves_the_share_writable_and_leaves_nothing(
    storage: AnyStorage, share: Path
) -> None:
    storage.check()
    storage.check()
    assert (share / "nni").is_dir()
    assert not [name for name in storage.listdir("nni") if "probe" in name]


def test_upload_copies_a_nested_code_tree(
    storage: AnyStorage, share: Path, exp: str, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    (code / "pkg" / "deep" / "er").mkdir(parents=True)
    (code / "main.py").write_text("import pkg\n")
    (code / "run.sh").write_text("#!/bin/sh\nexec python3 main.py\n")
    (code / "run.sh").chmod(0o755)
    (code / "empty").write_bytes(b"")
    (code / "pkg" / "__init__.py").write_text("")
    (code / "pkg" / "odd names").mkdir()
    (code / "pkg" / "odd names" / "a b%20#?ü;=.txt").write_text("odd\n")
    (code / "pkg" / "deep" / "er" / "data.bin").write_bytes(os.urandom(300_000))
    (code / ".nniignore").write_text("*.log\n")
    (code / "x.log").write_text("not uploaded")

    storage.upload(collect(code), f"{exp}/code")

    uploaded = share / exp / "code"
    expected = tree(code)
    del expected["x.log"]
    assert tree(uploaded) == expected
    assert storage.listdir(f"{exp}/code") == sorted(
        [".nniignore", "empty", "main.py", "pkg", "run.sh"]
    )
    assert storage.listdir(f"{exp}/code/pkg/deep") == ["er"]
    assert storage.listdir(f"{exp}/code/pkg/odd names") == ["a b%20#?ü;=.txt"]
    assert storage.read(f"{exp}/code/pkg/odd names/a b%20#?ü;=.txt", 0, 9) == b"odd\n"
    assert storage.read(f"{exp}/code/run.sh", 0, 100) == (code / "run.sh").read_bytes()
    if KEEPS_MODES[storage.kind]:
        assert modes(uploaded)["run.sh"] == 0o755
        assert modes(uploaded) == {k: v for k, v in modes(code).items() if k != "x.log"}


def test_each_trial_gets_its_directory_and_parameters(
    storage: AnyStorage, share: Path, exp: str
) -> None:
    trials = ["Ab12C", "Xy34Z", "k9PqR"]
    for i, trial in enumerate(trials):
        storage.write(f"{exp}/{trial}/parameter.cfg", b'{"parameter_id": %d, "x": 0.123}' % i)
    storage.write(f"{exp}/Xy34Z/parameter.cfg", b'{"parameter_id": 9}')  # shorter: replaced

    assert storage.listdir(exp) == sorted(trials)
    assert all(storage.listdir(f"{exp}/{trial}") == ["parameter.cfg"] for trial in trials)
    assert (share / exp / "Ab12C/parameter.cfg").read_bytes() == b'{"parameter_id": 0, "x": 0.123}'
    assert (share / exp / "Xy34Z/parameter.cfg").read_bytes() == b'{"parameter_id": 9}'
    assert storage.read(f"{exp}/Xy34Z/parameter.cfg", 0, 1 << 20) == b'{"parameter_id": 9}'


@pytest.mark.parametrize("through", ["read", "reader"])
def test_output_is_read_as_it_grows(
    storage: AnyStorage, share: Path, exp: str, through: str
) -> None:
    path = f"{exp}/Ab12C/output/worker_0/stdout"
    reader = storage.reader(path) if through == "reader" else FileReader(storage, path)
    read = reader.read
    try:
        assert read(0, 4096) == b""  # the pod has not started writing
        log = share / path
        log.parent.mkdir(parents=True)
        log.write_bytes(b"line 1\n")  # the pod's side
        assert read(0, 4096) == b"line 1\n"
        assert read(7, 4096) == b""  # nothing new yet
        with log.open("ab") as f:
            f.write(b"line 2\nline 3")
        assert read(7, 4096) == b"line 2\nline 3"
        assert read(7, 4) == b"line"  # less than asked only at the end
        assert read(9, 4096) == b"ne 2\nline 3"
        assert read(20, 4096) == b""  # at the end
        assert read(10**9, 4096) == b""  # past it
    finally:
        reader.close()


def test_missing_paths_are_empty(storage: AnyStorage, exp: str) -> None:
    assert storage.read(f"{exp}/T1/output/worker_0/stdout", 0, 4096) == b""
    assert storage.read("nni/nobody-made-this/parameter.cfg", 5, 4096) == b""
    reader = storage.reader(f"{exp}/T1/output/worker_0/stdout")
    assert reader.read(0, 4096) == b""
    reader.close()
    assert storage.listdir(exp) == []
    assert storage.listdir(f"{exp}/T1/output") == []
    assert storage.remove_tree(exp) == 0
    assert storage.remove_tree(f"{exp}/T1") == 0


def write_big(path: Path) -> str:
    """BIG bytes of LINE-byte random lines, the last one unterminated; their sha256."""
    digest = hashlib.sha256()
    with path.open("wb") as f:
        left = BIG
        while left:
            block = bytearray(os.urandom(min(2**20, left)).replace(b"\n", b" "))
            block[LINE - 1 :: LINE] = b"\n" * len(block[LINE - 1 :: LINE])
            f.write(block)
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


@contextmanager
def peak_traced(limit: int, what: str) -> Iterator[None]:
    """Python's allocations (the stand-in's included) peak under `limit` bytes inside."""
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit, f"{what} held {peak / 2**20:.1f} MiB at once"


def test_large_files_go_up_and_come_back_in_chunks(
    storage: AnyStorage, share: Path, exp: str, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    digest = write_big(code / "big.log")
    with peak_traced(BIG // 2, "the upload"):
        storage.upload(collect(code), f"{exp}/code")
    assert hashlib.sha256((share / exp / "code/big.log").read_bytes()).hexdigest() == digest

    reader = storage.reader(f"{exp}/code/big.log")
    back, reads = hashlib.sha256(), list[tuple[int, int, int]]()

    def read(offset: int, size: int) -> bytes:
        data = reader.read(offset, size)
        reads.append((offset, size, len(data)))
        back.update(data)
        return data

    tail = OutputTail(read)
    with peak_traced(BIG // 8, "reading it back"):
        lines = sum(1 for _ in tail.lines(final=True))
    reader.close()
    assert back.hexdigest() == digest
    assert lines == BIG // LINE + 1
    assert tail.offset == BIG
    assert all(size == CHUNK for _, size, _ in reads)  # the launcher reads in chunks
    offsets = [offset for offset, _, _ in reads]
    assert offsets == [i * CHUNK for i in range(len(reads))]
    assert [got for _, _, got in reads] == [CHUNK] * (BIG // CHUNK) + [BIG % CHUNK]


@contextmanager
def unprivileged() -> Iterator[None]:
    """The launcher as a user who owns nothing on the share: root may read and write anything."""
    if os.geteuid() != 0:
        yield
        return
    os.setresgid(NOBODY, NOBODY, 0)
    os.setresuid(NOBODY, NOBODY, 0)  # the saved uid 0 lets the finally block come back
    try:
        yield
    finally:
        os.setresuid(0, 0, 0)
        os.setresgid(0, 0, 0)


@contextmanager
def refused(
    storage: AnyStorage, share: Path, exp: str, request: pytest.FixtureRequest
) -> Iterator[None]:
    """What each peer can refuse. NFS: modes set on disk as another uid's pod leaves them, the
    launcher then not root. Azure: the account key, as the stand-in models no per-file
    permissions (nor does Azure Files for requests signed with the key)."""
    trial = share / exp / "Ab12C/output/worker_0"
    trial.mkdir(parents=True)
    (trial / "stdout").write_bytes(b"private")
    (share / exp / "hidden").mkdir()
    (share / exp / "hidden/inside").write_bytes(b"x")
    (share / exp / "locked").mkdir()
    (share / exp / "locked/stdout").write_bytes(b"kept")
    if storage.kind == "azureStorage":
        standin: AzureStandin = request.getfixturevalue("azure_standin")
        standin.rotate_account_key()  # every request is refused from now on
        yield
        return
    (trial / "stdout").chmod(0o000)
    (share / exp / "hidden").chmod(0o311)  # may be passed through, not listed
    (share / exp / "locked").chmod(0o555)
    storage.close()  # its next connection is made as the unprivileged user
    with unprivileged():
        yield


def test_refusals_are_storage_errors_naming_the_path(
    storage: AnyStorage, share: Path, exp: str, request: pytest.FixtureRequest
) -> None:
    unreadable = f"{exp}/Ab12C/output/worker_0/stdout"
    calls: dict[str, Callable[[], object]] = {
        "read": lambda: storage.read(unreadable, 0, 4096),
        "reader": lambda: storage.reader(unreadable).read(0, 4096),
        "listdir": lambda: storage.listdir(f"{exp}/hidden"),
        "write": lambda: storage.write(f"{exp}/locked/parameter.cfg", b"{}"),
        "remove_tree": lambda: storage.remove_tree(f"{exp}/locked"),
    }
    named = {
        "read": unreadable,
        "reader": unreadable,
        "listdir": f"{exp}/hidden",
        "write": f"{exp}/locked/parameter.cfg",
        "remove_tree": f"{exp}/locked",
    }
    if storage.kind == "azureStorage":  # a write makes its parents first, one request each
        named["write"] = "create directory nni;"
    with refused(storage, share, exp, request):
        for name, call in calls.items():
            with pytest.raises(StorageError) as e:
                call()
            assert named[name] in str(e.value), name
    assert (share / exp / "locked/stdout").read_bytes() == b"kept"
    assert (share / exp / "Ab12C/output/worker_0/stdout").read_bytes() == b"private"


def test_remove_tree_counts_files_and_refuses_the_root(
    storage: AnyStorage, share: Path, exp: str
) -> None:
    files = {
        "code/main.py": b"import pkg\n",
        "code/pkg/mod.py": b"x = 1\n",
        "Ab12C/parameter.cfg": b"{}",
        "Ab12C/output/worker_0/stdout": b"epoch 1\n",
        "Ab12C/output/worker_0/ckpt/model.bin": os.urandom(50_000),
        **{f"Xy34Z/output/ps_0/{i:02}.log": b"log" for i in range(12)},
    }
    for root in (exp, f"{exp}0"):  # a sibling whose name `exp` prefixes stays
        for name, data in files.items():
            (share / root / name).parent.mkdir(parents=True, exist_ok=True)
            (share / root / name).write_bytes(data)
        (share / root / "Xy34Z/output/empty/deeper").mkdir(parents=True)
    sibling = tree(share / f"{exp}0")

    for path in (*BAD_PATHS, f"{exp}/../.."):
        with pytest.raises(StorageError, match=r"^cannot remove .*(inside the share|root)"):
            storage.remove_tree(path)
    with pytest.raises(StorageError) as e:
        storage.remove_tree(f"{exp}/code/main.py")
    assert f"{exp}/code/main.py" in str(e.value)
    assert "not a directory; nothing was removed" in str(e.value)
    assert tree(share / exp) == files  # nothing was removed

    assert storage.remove_tree(exp) == len(files)
    assert not (share / exp).exists()
    assert tree(share / f"{exp}0") == sibling
    assert storage.remove_tree(exp) == 0  # a second call is harmless
    assert storage.remove_tree(f"{exp}0/") == len(files)
