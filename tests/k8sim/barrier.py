"""The `frameworkbarrier` init container, done by the simulator instead of an image.

Why: distributed trials (PS/worker) learn their peers from the barrier's `injector.sh`; the
real barrier polls the Framework until every task has a pod IP, then writes the script into
the volume mounted at /mnt/frameworkbarrier. Here every pod's IP is 127.0.0.1, so peers
reach each other on localhost through `FB_<ROLE>_PORT`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .store import Store

Obj = dict[str, Any]
BARRIER_DIR = "/mnt/frameworkbarrier"


def injector_script(framework: Obj, pods: dict[str, Obj]) -> str:
    lines = ["#!/bin/bash", 'echo "[BEGIN] Injecting peer addresses (k8sim frameworkbarrier)"']
    name = framework["metadata"]["name"]
    for role in framework["spec"].get("taskRoles") or []:
        upper = role["name"].upper()
        names = [f"{name}-{role['name']}-{i}" for i in range(int(role.get("taskNumber", 0)))]
        ips = [pods[n]["status"]["podIP"] for n in names]
        addresses = [f"{ip}:${{FB_{upper}_PORT}}" for ip in ips]
        lines += [
            f"export FB_{upper}_IPS={','.join(ips)}",
            f'echo "FB_{upper}_IPS=${{FB_{upper}_IPS}}"',
            f"export FB_{upper}_ADDRESSES={','.join(addresses)}",
            f'echo "FB_{upper}_ADDRESSES=${{FB_{upper}_ADDRESSES}}"',
        ]
    lines.append('echo "[END] Injecting peer addresses"')
    return "\n".join(lines) + "\n"


def write_injector(
    store: Store, pod: Obj, container: Obj, volumes: dict[str, Path], log: Path
) -> bool:
    """Write injector.sh once every task of the pod's Framework has a pod with an IP."""
    meta = pod["metadata"]
    fw_name = (meta.get("labels") or {}).get("FC_FRAMEWORK_NAME", "")
    framework = store.find("frameworks", meta["namespace"], fw_name)
    if framework is None:
        return False
    pods = {
        p["metadata"]["name"]: p
        for p in store.select(
            "pods",
            meta["namespace"],
            lambda p: (p["metadata"].get("labels") or {}).get("FC_FRAMEWORK_NAME") == fw_name,
        )[0]
    }
    for role in framework["spec"].get("taskRoles") or []:
        for i in range(int(role.get("taskNumber", 0))):
            peer = pods.get(f"{fw_name}-{role['name']}-{i}")
            if peer is None or not (peer.get("status") or {}).get("podIP"):
                if not log.exists():
                    log.write_text(
                        f"k8sim frameworkbarrier: waiting for all pods of {fw_name} to have an IP\n"
                    )
                return False
    mounts = container.get("volumeMounts") or []
    mount = next(
        (m for m in mounts if m.get("mountPath", "").rstrip("/") == BARRIER_DIR),
        mounts[0] if mounts else None,
    )
    if mount is None or mount["name"] not in volumes:
        with log.open("a") as out:
            out.write(
                f"k8sim frameworkbarrier: no volume mounted at {BARRIER_DIR}; nothing written\n"
            )
        return True
    target = volumes[mount["name"]] / (mount.get("subPath") or "")
    target.mkdir(parents=True, exist_ok=True)
    (target / "framework.json").write_text(json.dumps(framework))
    (target / "injector.sh").write_text(injector_script(framework, pods))
    with log.open("a") as out:
        out.write(
            f"k8sim frameworkbarrier: all pods of {fw_name} are ready; wrote {BARRIER_DIR}/injector.sh\n"
        )
    return True
