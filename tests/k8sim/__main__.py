"""`python -m tests.k8sim`: serve a simulated cluster in the foreground for manual use.

Why: poking the double with kubectl or the launcher's CLI by hand is the quickest way to see
what a test sees. Prints the kubeconfig path; Ctrl-C stops it and kills every process.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from .fixture import start_cluster


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.k8sim", description=__doc__)
    parser.add_argument(
        "--nfs",
        action="append",
        default=[],
        metavar="SERVER:PATH=DIR",
        help="map an NFS export to a local directory",
    )
    parser.add_argument(
        "--azure",
        action="append",
        default=[],
        metavar="SHARE=DIR",
        help="map an Azure file share to a local directory",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="k8sim-"))
    cluster = start_cluster(workdir)
    for item in args.nfs:
        remote, local = item.split("=", 1)
        server, path = remote.split(":", 1)
        cluster.nfs_exports[(server, path)] = Path(local)
    for item in args.azure:
        share, local = item.split("=", 1)
        cluster.azure_shares[share] = Path(local)
    print(f"k8sim serving {cluster.url}")
    print(f"export KUBECONFIG={cluster.kubeconfig}", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
