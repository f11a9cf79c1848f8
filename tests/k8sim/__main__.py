"""`python -m tests.k8sim`: serve a simulated cluster in the foreground for manual use.

Why: poking the double with kubectl or the launcher's CLI by hand is the quickest way to see
what a test sees, and a benchmark needs the cluster in its own process so the launcher's CPU
can be measured alone. Prints the kubeconfig path; Ctrl-C or SIGTERM stops it and kills every
process. `--fast SECONDS` runs no container processes (see fast.py); `--report FILE` writes the
request log and each Framework's completion time as JSON when it stops.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from .fixture import KubeCluster, start_cluster


def report(cluster: KubeCluster) -> dict[str, Any]:
    """Every request answered (time is when it arrived) and when each Framework completed."""
    return {
        "requests": [
            {
                "time": r.time,
                "duration": r.duration,
                "method": r.method,
                "verb": r.verb,
                "resource": r.resource,
                "subresource": r.subresource,
                "namespace": r.namespace,
                "name": r.name,
                "status": r.status,
            }
            for r in cluster.requests
        ],
        "completed": [
            {"namespace": ns, "name": name, "time": at}
            for (ns, name), at in sorted(cluster.completions().items(), key=lambda i: i[1])
        ],
        "errors": list(cluster.simulator.errors),
    }


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


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
    parser.add_argument(
        "--fast",
        type=float,
        metavar="SECONDS",
        help="containers start no process and exit 0 after SECONDS, writing what a trial would",
    )
    parser.add_argument(
        "--report", type=Path, metavar="FILE", help="write the request log here (JSON) on exit"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _stop)
    workdir = Path(tempfile.mkdtemp(prefix="k8sim-"))
    cluster = start_cluster(workdir, fast_seconds=args.fast)
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
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if args.report is not None:
            temp = args.report.with_name(args.report.name + ".tmp")
            temp.write_text(json.dumps(report(cluster)))
            temp.replace(args.report)
        cluster.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
