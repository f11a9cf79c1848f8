"""Storage.remove_tree against real peers: nfs-ganesha and the Azure stand-in.

Why: `nnifc delete --storage` removes an experiment's directory from the share. On disk (the
export, the share's directory) it must be gone entirely while whatever links inside it point
to stays as it was, and a slip (the root, a file, a link, a missing path) must remove nothing
else. Trees are written on disk, as pods write them, and checked on disk afterwards.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nfs_rs
import pytest

from nnifc.errors import StorageError
from nnifc.storage.azure_options import AzureOptions
from nnifc.storage.azurefile import AzureFileStorage
from nnifc.storage.base import Storage
from nnifc.storage.nfs import NfsOptions, NfsStorage

if TYPE_CHECKING:
    from tests.azurestandin import AzureStandin
    from tests.azurestandin.wire import Reply, Request
    from tests.ganesha import Ganesha

pytest_plugins = ["tests.ganesha", "tests.azurestandin.fixture"]

SHARE = "nnishare"
MANY = 60  # files in one directory: several listing pages at the page sizes set below
BAD_PATHS = ("", ".", "./", "/", "/nni", "../nni", "nni/..", "nni/./..", "nni/../nni")


def build_experiment(root: Path, outside: Path, keep: Path) -> int:
    """An experiment's directory as trials leave it; returns how many non-directories it has.

    Links point out of it: to a directory and a file elsewhere on the machine (absolute), to a
    sibling directory on the share (relative) and to nothing.
    """
    files = {
        "code/main.py": b"import pkg\n",
        "code/pkg/mod.py": b"x = 1\n",
        "Ab12C/parameter.cfg": b'{"parameter_id": 0}',
        "Ab12C/output/worker_0/stdout": b"epoch 1\n",
        "Ab12C/output/worker_0/exitcode": b"0",
        "Ab12C/output/worker_0/nni_version": b"3.0",
        "Ab12C/output/worker_0/ckpt/epoch1/model.bin": os.urandom(100_000),
        "Xy34Z/parameter.cfg": b'{"parameter_id": 1}',
        **{f"Xy34Z/output/ps_0/many/{i:03}.log": b"log" for i in range(MANY)},
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "Xy34Z/output/ps_0/empty/deeper").mkdir(parents=True)
    links = {
        "Ab12C/output/worker_0/data": outside,
        "Ab12C/output/worker_0/best": outside / "keep.txt",
        "Ab12C/up": Path(os.path.relpath(keep, root / "Ab12C")),
        "Xy34Z/gone": Path("nothing-here"),
    }
    for name, target in links.items():
        (root / name).symlink_to(target)
    return len(files) + len(links)


def make_outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "keep.txt").write_bytes(b"precious")
    (outside / "sub" / "inner.txt").write_bytes(b"also precious")
    return outside


def snapshot(root: Path) -> dict[str, bytes | str | None]:
    """Every path under `root`: a file's bytes, a link's target (not followed), None for a dir."""
    found: dict[str, bytes | str | None] = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory, name)
            found[path.relative_to(root).as_posix()] = (
                os.readlink(path)
                if path.is_symlink()
                else None
                if path.is_dir()
                else path.read_bytes()
            )
    return found


def removes_one_experiment(storage: Storage[Any], share: Path, base: str, tmp_path: Path) -> None:
    """The shared check: exp1 goes; exp10 (a name exp1 prefixes), keep/ and outside/ stay."""
    outside, keep = make_outside(tmp_path), share / base / "keep"
    keep.mkdir(parents=True)
    (keep / "k.txt").write_bytes(b"sibling")
    count = build_experiment(share / base / "exp1", outside, keep)
    build_experiment(share / base / "exp10", outside, keep)
    before = {"outside": snapshot(outside), base: snapshot(share / base)}

    assert storage.remove_tree(f"{base}/exp1") == count

    assert not os.path.lexists(share / base / "exp1")
    assert sorted(os.listdir(share / base)) == ["exp10", "keep"]
    after = {"outside": snapshot(outside), base: snapshot(share / base)}
    assert after == {
        "outside": before["outside"],
        base: {k: v for k, v in before[base].items() if k.split("/")[0] != "exp1"},
    }
    assert storage.remove_tree(f"{base}/exp1") == 0  # idempotent
    assert storage.remove_tree(f"{base}/./exp1/") == 0


def refuses_non_directories(storage: Storage[Any], share: Path, base: str, not_a_dir: str) -> None:
    """A file, a link (to a directory) and the root are refused; a missing path is 0."""
    (share / base / "dir").mkdir(parents=True)
    (share / base / "dir/inside").write_bytes(b"in")
    (share / base / "file").write_bytes(b"data")
    (share / base / "link").symlink_to(share / base / "dir")
    before, top = snapshot(share / base), sorted(os.listdir(share))
    for path in (f"{base}/file", f"{base}/link"):
        with pytest.raises(StorageError) as e:
            storage.remove_tree(path)
        assert path in str(e.value)
        assert not_a_dir in str(e.value)
    for path in BAD_PATHS:
        with pytest.raises(StorageError, match=r"^cannot remove .*(inside the share|root)"):
            storage.remove_tree(path)
    assert storage.remove_tree(f"{base}/nothing") == 0
    assert storage.remove_tree("nobody/made/this") == 0
    assert snapshot(share / base) == before
    assert sorted(os.listdir(share)) == top


# -- NFS ------------------------------------------------------------------------------------


@pytest.fixture
def nfs(nfs_server: Ganesha) -> Iterator[NfsStorage]:
    nfs = {"server": nfs_server.server, "path": nfs_server.path}
    storage = NfsStorage(NfsOptions.model_validate({"nfs": nfs}))
    storage.operation_timeout = 3
    storage.backoff = 0.1
    storage.readdir_buffer = 1024  # a few entries per READDIR: directories take several pages
    yield storage
    storage.close()


@pytest.fixture
def export(nfs_server: Ganesha) -> Path:
    return nfs_server.local_dir


@pytest.fixture
def base() -> str:
    """A directory of this test's own: the server (and what it caches) lasts the session."""
    return f"rt-{uuid.uuid4().hex[:8]}"


def test_nfs_removes_the_tree_and_nothing_its_links_point_to(
    nfs: NfsStorage, export: Path, base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages: list[int] = []
    real_page = nfs_rs.Client.scandir_page

    def counted_page(self: nfs_rs.Client, path: Any, position: Any = None) -> Any:
        page = real_page(self, path, position)
        pages.append(len(page.entries))
        return page

    monkeypatch.setattr(nfs_rs.Client, "scandir_page", counted_page)
    removes_one_experiment(nfs, export, base, tmp_path)
    assert max(pages) < MANY  # the big directory was never held whole


def test_nfs_refuses_files_links_and_the_root(nfs: NfsStorage, export: Path, base: str) -> None:
    refuses_non_directories(nfs, export, base, "not a directory; nothing was removed")
    nfs.backoff = 5.0  # a retry, as if the refusal were transient, would wait this long first
    start = time.monotonic()
    with pytest.raises(StorageError) as e:
        nfs.remove_tree(f"{base}/link/inside")
    assert time.monotonic() - start < nfs.backoff
    assert str(e.value).startswith(f"NFS remove 127.0.0.1:/export/{base}/link/inside failed: ")
    assert (export / base / "dir/inside").read_bytes() == b"in"


def test_nfs_paths_written_before_are_written_again_after_removal(
    nfs: NfsStorage, export: Path, base: str
) -> None:
    nfs.write(f"{base}/exp3/t1/parameter.cfg", b"1")
    nfs.write(f"{base}/exp3/t2/parameter.cfg", b"2")  # known to exist now: no mkdir next time
    assert nfs.remove_tree(f"{base}/exp3") == 2
    assert not (export / base / "exp3").exists()
    nfs.write(f"{base}/exp3/t1/parameter.cfg", b"again")  # its directories are made again
    assert (export / base / "exp3/t1/parameter.cfg").read_bytes() == b"again"


def test_nfs_removal_goes_on_after_a_server_restart(
    nfs: NfsStorage,
    nfs_server: Ganesha,
    export: Path,
    base: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for i in range(120):
        path = export / f"{base}/exp4/t{i % 3}/output/f{i:03}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    real_remove = nfs_rs.Client.remove
    calls = 0

    def remove_after_a_restart(self: nfs_rs.Client, path: Any, *, missing_ok: bool = False) -> None:
        nonlocal calls
        calls += 1
        if calls == 50:
            nfs_server.stop()
            nfs_server.start()
        real_remove(self, path, missing_ok=missing_ok)

    monkeypatch.setattr(nfs_rs.Client, "remove", remove_after_a_restart)
    nfs.write(f"{base}/connected", b"")  # a connection to lose
    generation = nfs._generation
    assert nfs.remove_tree(f"{base}/exp4") == 120
    assert nfs._generation > generation  # the restart was noticed and a new connection made
    assert not (export / base / "exp4").exists()


# -- Azure Files ----------------------------------------------------------------------------


@pytest.fixture
def azure(
    azure_standin: AzureStandin, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AzureFileStorage]:
    for key, value in azure_standin.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    # a loopback vault is only honoured from the environment (issue 17)
    monkeypatch.setenv("NNIFC_KEYVAULT_ENDPOINT", azure_standin.vault_url)
    azure_standin.set_secret("storage-key", azure_standin.account_key)
    config = AzureOptions.model_validate(
        {
            "keyVault": {"vaultName": "nnivault", "name": "storage-key"},
            "azureStorage": {
                "accountName": azure_standin.account_name,
                "azureShare": SHARE,
                "endpoint": azure_standin.file_endpoint,
            },
        }
    )
    storage = AzureFileStorage(config)
    storage.list_page = 7  # directories take several listing pages
    storage.check()  # creates the share
    yield storage
    storage.close()


def test_azure_removes_the_tree_and_nothing_its_links_point_to(
    azure: AzureFileStorage, azure_standin: AzureStandin, tmp_path: Path
) -> None:
    removes_one_experiment(azure, azure_standin.share_dir(SHARE), "nni", tmp_path)
    deletes = [r for r in azure_standin.requests("files") if r.method == "DELETE"]
    assert deletes and all(r.status == 202 for r in deletes)


def test_azure_refuses_files_links_and_the_root(
    azure: AzureFileStorage, azure_standin: AzureStandin
) -> None:
    share = azure_standin.share_dir(SHARE)
    refuses_non_directories(azure, share, "nni/exp2", "it is a file, not a directory")
    assert azure.remove_tree("nni/exp2/link/inside") == 0  # nothing is below a link
    assert (share / "nni/exp2/dir/inside").read_bytes() == b"in"


def test_azure_removal_retries_throttling(
    azure: AzureFileStorage, azure_standin: AzureStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    share = azure_standin.share_dir(SHARE)
    for i in range(30):
        path = share / f"nni/exp5/t{i % 2}/output/f{i:02}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    real_handle = azure_standin.files.handle
    deletes = 0

    def throttle_some_deletes(req: Request, below_account: str) -> Reply:
        nonlocal deletes
        if req.method == "DELETE":
            deletes += 1
            if deletes in (5, 20):
                azure_standin.throttle_next(1, status=429, retry_after=0)
        return real_handle(req, below_account)

    monkeypatch.setattr(azure_standin.files, "handle", throttle_some_deletes)
    assert azure.remove_tree("nni/exp5") == 30
    assert [r.status for r in azure_standin.requests("files")].count(429) == 2
    assert not (share / "nni/exp5").exists()


def test_azure_failure_names_the_path_and_the_cause(
    azure: AzureFileStorage, azure_standin: AzureStandin
) -> None:
    share = azure_standin.share_dir(SHARE)
    (share / "nni/exp6/t1").mkdir(parents=True)
    (share / "nni/exp6/t1/stdout").write_bytes(b"x")
    azure_standin.rotate_account_key()  # every request is refused from now on
    with pytest.raises(StorageError) as e:
        azure.remove_tree("nni/exp6")
    assert "remove nni/exp6" in str(e.value)
    assert "AuthenticationFailed" in str(e.value)
    assert (share / "nni/exp6/t1/stdout").exists()
