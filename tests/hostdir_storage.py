"""A storage that exists only in the tests: a directory of this machine, mounted into pods as a
hostPath volume. It proves a storage is one file plus one registry line (issue 18)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from nnifc.errors import StorageError
from nnifc.experiment import Model
from nnifc.storage import CodeFile, Storage, StorageOptions
from nnifc.storage.base import tree_path


class HostDir(Model):
    path: str


class HostDirOptions(StorageOptions):
    required: ClassVar[str] = "a hostDir block with path is required"
    present: ClassVar[str] = "a hostDir block is set"
    v2_keys: ClassVar[dict[str, tuple[str, ...]]] = {"hostPath": ("hostDir", "path")}
    v2_required: ClassVar[tuple[str, ...]] = ("hostPath",)

    host_dir: HostDir


class HostDirStorage(Storage[HostDirOptions]):
    kind = "hostDir"
    Options = HostDirOptions

    def __init__(self, options: HostDirOptions) -> None:
        super().__init__(options)
        self.root = Path(options.host_dir.path)

    def check(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"{self.root} is not a writable directory")

    def upload(self, files: Sequence[CodeFile], dest: str) -> None:
        for file in files:
            target = self.root / dest / file.relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with file.open() as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
            target.chmod(file.mode)

    def write(self, path: str, data: bytes) -> None:
        (self.root / path).parent.mkdir(parents=True, exist_ok=True)
        (self.root / path).write_bytes(data)

    def read(self, path: str, offset: int, size: int) -> bytes:
        try:
            with open(self.root / path, "rb") as f:
                f.seek(offset)
                return f.read(size)
        except FileNotFoundError:
            return b""

    def listdir(self, path: str) -> list[str]:
        found = self.root / path
        return sorted(os.listdir(found)) if found.is_dir() else []

    def remove_tree(self, path: str) -> int:
        target = self.root / tree_path(path)
        if not target.exists():
            return 0
        count = sum(len(files) for _, _, files in os.walk(target))
        shutil.rmtree(target)
        return count

    def volume(self, name: str, experiment_id: str) -> dict[str, Any]:
        return {"name": name, "hostPath": {"path": str(self.root), "type": "Directory"}}
