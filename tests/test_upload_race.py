"""Uploads send what `collect` checked, or refuse: files changed between the check and the copy.

Why: `collect` checks codeDir (regular files, no link leading out of it, NNI's size limits), and
the upload runs later. A file replaced by a link to an outside file in between must not put that
file on the share, and a file that grew or shrank must not be half uploaded. The storages are a
real nfs-ganesha and the Azure stand-in; the share's directory on disk is the ground truth. A
`.nniignore` that is a FIFO must be refused, not read forever.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from nnifc.codedir import collect
from nnifc.errors import ConfigError, StorageError
from nnifc.storage.azure_options import AzureOptions
from nnifc.storage.azurefile import AzureFileStorage
from nnifc.storage.base import Storage
from nnifc.storage.nfs import NfsOptions, NfsStorage

if TYPE_CHECKING:
    from tests.azurestandin import AzureStandin
    from tests.ganesha import Ganesha

pytest_plugins = ["tests.ganesha", "tests.azurestandin.fixture"]

SHARE = "nnishare"
SECRET = b"the outside file: never on the share\n"


@pytest.fixture
def nfs(nfs_server: Ganesha) -> Iterator[tuple[Storage[Any], Path]]:
    config = {"nfs": {"server": nfs_server.server, "path": nfs_server.path}}
    storage = NfsStorage(NfsOptions.model_validate(config))
    storage.backoff = 0.1
    yield storage, nfs_server.local_dir
    storage.close()


@pytest.fixture
def azure(
    azure_standin: AzureStandin, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Storage[Any], Path]]:
    for key, value in azure_standin.env(public_hosts=True).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    azure_standin.set_secret("storage-key", azure_standin.account_key)
    config = AzureOptions.model_validate(
        {
            # a vault of its own: the SDK caches each vault's challenge (tenant) per process
            "keyVault": {"vaultName": f"race{uuid.uuid4().hex[:8]}", "name": "storage-key"},
            "azureStorage": {"accountName": azure_standin.account_name, "azureShare": SHARE},
        }
    )
    storage = AzureFileStorage(config)
    storage.check()  # creates the share
    yield storage, azure_standin.share_dir(SHARE)
    storage.close()


@pytest.fixture(params=["nfs", "azure"])
def share(request: pytest.FixtureRequest) -> tuple[Storage[Any], Path]:
    storage_and_root: tuple[Storage[Any], Path] = request.getfixturevalue(request.param)
    return storage_and_root


def code_and_outside(tmp_path: Path) -> tuple[Path, Path]:
    code, outside = tmp_path / "code", tmp_path / "outside"
    (code / "pkg").mkdir(parents=True)
    outside.mkdir()
    (code / "main.py").write_text("print('main')\n")
    (code / "pkg" / "model.py").write_text("MODEL = 1\n")
    (outside / "model.py").write_bytes(SECRET)
    (outside / "main.py").write_bytes(SECRET)
    return code, outside


def leaked(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and SECRET in p.read_bytes()]


def upload_after(
    change: Callable[[Path, Path], None],
    tmp_path: Path,
    share: tuple[Storage[Any], Path],
    dest: str,
) -> StorageError:
    storage, root = share
    code, outside = code_and_outside(tmp_path)
    files = collect(code)
    change(code, outside)
    with pytest.raises(StorageError) as e:
        storage.upload(files, dest)
    assert not leaked(root)
    return e.value


def test_file_swapped_for_a_link_leading_out_is_refused(
    share: tuple[Storage[Any], Path], tmp_path: Path
) -> None:
    def swap(code: Path, outside: Path) -> None:
        (code / "main.py").unlink()
        (code / "main.py").symlink_to(outside / "main.py")

    error = upload_after(swap, tmp_path, share, "nni/race-link/code")
    assert str(error) == (
        f"cannot upload {code_path(tmp_path, 'main.py')}: it was replaced by a symbolic link "
        "after codeDir was checked; run again once codeDir stops changing"
    )


def test_directory_swapped_for_a_link_leading_out_is_refused(
    share: tuple[Storage[Any], Path], tmp_path: Path
) -> None:
    def swap(code: Path, outside: Path) -> None:
        (code / "pkg").rename(tmp_path / "pkg.moved")
        (code / "pkg").symlink_to(outside, target_is_directory=True)

    error = upload_after(swap, tmp_path, share, "nni/race-dir/code")
    assert str(error) == (
        f"cannot upload {code_path(tmp_path, 'pkg/model.py')}: it was replaced by another file "
        "after codeDir was checked; run again once codeDir stops changing"
    )


def test_file_that_grew_is_refused_not_cut(
    share: tuple[Storage[Any], Path], tmp_path: Path
) -> None:
    def grow(code: Path, outside: Path) -> None:
        with (code / "main.py").open("ab") as f:
            f.write(SECRET)

    error = upload_after(grow, tmp_path, share, "nni/race-grew/code")
    assert str(error) == (
        f"cannot upload {code_path(tmp_path, 'main.py')}: it grew from 14 to 51 bytes "
        "after codeDir was checked; run again once codeDir stops changing"
    )


def test_file_that_shrank_is_refused(share: tuple[Storage[Any], Path], tmp_path: Path) -> None:
    def shrink(code: Path, outside: Path) -> None:
        (code / "main.py").write_text("x")

    error = upload_after(shrink, tmp_path, share, "nni/race-shrank/code")
    assert "main.py: it shrank from 14 to 1 bytes after codeDir was checked" in str(error)


def test_file_growing_while_it_is_read_is_refused(tmp_path: Path) -> None:
    code, _ = code_and_outside(tmp_path)
    (file,) = [f for f in collect(code) if f.relative == "main.py"]
    with file.open() as reader:
        assert reader.read(5) == b"print"
        with (code / "main.py").open("ab") as f:
            f.write(b"more")
        with pytest.raises(
            StorageError, match=r"main\.py: it grew from 14 to 18 bytes after codeDir"
        ):
            reader.read()


def test_unchanged_files_still_upload(share: tuple[Storage[Any], Path], tmp_path: Path) -> None:
    storage, root = share
    code, _ = code_and_outside(tmp_path)
    (code / "alias.py").symlink_to("main.py")  # a link inside: uploaded as its target's bytes
    storage.upload(collect(code), "nni/race-none/code")
    assert (root / "nni/race-none/code/alias.py").read_text() == "print('main')\n"
    assert (root / "nni/race-none/code/pkg/model.py").read_text() == "MODEL = 1\n"


def code_path(tmp_path: Path, relative: str) -> Path:
    return tmp_path / "code" / relative


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_nniignore_that_is_not_a_file_is_refused_quickly(tmp_path: Path, kind: str) -> None:
    """In a child process: reading a FIFO blocks until a writer comes, which would hang pytest."""
    (tmp_path / "main.py").write_text("")
    ignore = tmp_path / ".nniignore"
    if kind == "fifo":
        os.mkfifo(ignore)
    else:
        ignore.mkdir()
    probe = (
        "import sys; from pathlib import Path; from nnifc.codedir import collect\n"
        "from nnifc.errors import ConfigError\n"
        "try:\n    collect(Path(sys.argv[1]))\n"
        "except ConfigError as e:\n    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, timeout=20
    )
    what = "a FIFO" if kind == "fifo" else "a directory"
    assert done.stdout == (
        f"{ignore}: {what}, not a file: .nniignore must be a text file of gitignore patterns\n"
    ), done.stderr
    with pytest.raises(ConfigError):  # and here, now that it is known not to hang
        collect(tmp_path)
