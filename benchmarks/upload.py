"""Time code uploads: NfsStorage against a local nfs-ganesha (with `cp -r` to the export as
reference) and AzureFileStorage against the Azure Files stand-in (real SDK, SharedKey signing).

Two trees: a codeDir at NNI's file limit (2000 files, 50 MB in 20 directories) and one 100 MB
file. The servers are started here on free 127.0.0.1 ports, so figures measure the clients and
the protocols, not a network. Needs nfs-ganesha installed:

    .venv/bin/python benchmarks/upload.py
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.ganesha

from nnifc.codedir import collect
from nnifc.storage.azure_options import AzureOptions
from nnifc.storage.azurefile import UPLOAD_THREADS, AzureFileStorage
from nnifc.storage.nfs import PORT_ENV, NfsOptions, NfsStorage
from tests.azurestandin.fixture import start_standin
from tests.ganesha import start_ganesha

MB = 2**20


def many_files(root: Path, count: int = 2000, total: int = 50 * MB) -> None:
    rng = random.Random(0)
    weights = [rng.expovariate(1) for _ in range(count)]
    scale = total / sum(weights)
    sizes = [int(w * scale) for w in weights]
    sizes[0] += total - sum(sizes)
    for i, size in enumerate(sizes):
        path = root / f"pkg{i % 20:02}" / f"mod{i:04}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))


def one_file(root: Path, size: int = 100 * MB) -> None:
    root.mkdir(parents=True)
    (root / "weights.bin").write_bytes(random.Random(1).randbytes(size))


def line(name: str, files: int, size: int, seconds: float) -> None:
    rate = size / MB / seconds
    print(f"{name:<34} {files:>5} files {size / MB:7.1f} MB {seconds:7.2f} s {rate:8.1f} MB/s")


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        trees = {"2000 files / 50 MB": base / "many", "1 file / 100 MB": base / "one"}
        many_files(trees["2000 files / 50 MB"])
        one_file(trees["1 file / 100 MB"])
        server = start_ganesha(base / "ganesha")
        try:
            os.environ[PORT_ENV] = str(server.port)
            nfs = {"server": server.server, "path": server.path}
            config = NfsOptions.model_validate({"nfs": nfs})
            storage = NfsStorage(config)
            storage.check()
            print(f"nfs-ganesha on 127.0.0.1:{server.port}, export {server.path}")
            for i, (name, tree) in enumerate(trees.items()):
                files = collect(tree)
                size = sum(f.size for f in files)
                start = time.perf_counter()
                storage.upload(files, f"nni/bench{i}/code")
                line(f"NfsStorage.upload {name}", len(files), size, time.perf_counter() - start)
                start = time.perf_counter()
                subprocess.run(
                    ["cp", "-r", str(tree), str(server.local_dir / f"cp{i}")], check=True
                )
                line(
                    f"cp -r to the export dir {name}", len(files), size, time.perf_counter() - start
                )
            storage.close()
        finally:
            server.stop()
        azure(trees)


def azure(trees: dict[str, Path]) -> None:
    standin = start_standin()
    try:
        os.environ.update(standin.env(public_hosts=True))
        os.environ["AZURE_TOKEN_CREDENTIALS"] = "EnvironmentCredential"
        standin.set_secret("storage-key", standin.account_key)
        config = AzureOptions.model_validate(
            {
                "keyVault": {"vaultName": "benchvault", "name": "storage-key"},
                "azureStorage": {"accountName": standin.account_name, "azureShare": "bench"},
            }
        )
        storage = AzureFileStorage(config)
        storage.check()
        print(f"Azure Files stand-in (https through its proxy), {UPLOAD_THREADS} upload threads")
        for i, (name, tree) in enumerate(trees.items()):
            files = collect(tree)
            size = sum(f.size for f in files)
            start = time.perf_counter()
            storage.upload(files, f"nni/bench{i}/code")
            line(f"AzureFileStorage.upload {name}", len(files), size, time.perf_counter() - start)
        storage.close()
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
