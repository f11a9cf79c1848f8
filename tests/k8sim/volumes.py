"""Pod volumes as local directories, and the shell prologue that bind-mounts them.

Why: trial commands use absolute paths (`/tmp/mount/nni/...`) from the pod spec. Running each
container in a private mount namespace with its volumes bind-mounted at their `mountPath`s
lets the real command see exactly the paths it would see in a pod, while several simulated
pods share a `mountPath` without touching the host.
"""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .store import Store

Obj = dict[str, Any]


class MountError(Exception):
    """A volume that cannot be set up; the pod stays Pending (FailedMount), as on a node."""


@dataclass
class VolumeSources:
    """Where simulated network storage lives on this machine; tests fill these mappings."""

    nfs_exports: dict[tuple[str, str], Path] = field(default_factory=dict)
    azure_shares: dict[str, Path] = field(default_factory=dict)
    pvc_dirs: dict[str, Path] = field(default_factory=dict)


def _nfs(sources: VolumeSources, server: str, path: str) -> Path:
    norm = "/" + path.strip("/")
    for (srv, export), local in list(sources.nfs_exports.items()):
        base = "/" + export.strip("/")
        if srv != server:
            continue
        if norm == base or base == "/" or norm.startswith(base + "/"):
            rest = norm[len(base) :].lstrip("/") if base != "/" else norm.lstrip("/")
            return Path(local) / rest if rest else Path(local)
    raise MountError(
        f"mount failed: exit status 32: mount.nfs: access denied by server while mounting {server}:{path}"
    )


def _write_items(target: Path, data: dict[str, bytes], items: list[Obj] | None) -> None:
    target.mkdir(parents=True, exist_ok=True)
    chosen = (
        {str(i["key"]): str(i.get("path", i["key"])) for i in items}
        if items
        else {k: k for k in data}
    )
    for key, rel in chosen.items():
        if key in data:
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data[key])


def resolve(store: Store, sources: VolumeSources, pod: Obj, pod_dir: Path) -> dict[str, Path]:
    """Map every volume of the pod to a local directory; raises MountError like kubelet."""
    namespace = pod["metadata"]["namespace"]
    out: dict[str, Path] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = volume["name"]
        prefix = f'MountVolume.SetUp failed for volume "{name}" : '
        if "nfs" in volume:
            out[name] = _nfs(
                sources, volume["nfs"].get("server", ""), volume["nfs"].get("path", "/")
            )
            if not out[name].is_dir():
                raise MountError(prefix + f"mount failed: {volume['nfs']} is not a directory")
        elif "emptyDir" in volume:
            out[name] = pod_dir / "volumes" / name
            out[name].mkdir(parents=True, exist_ok=True)
        elif "hostPath" in volume:
            out[name] = Path(volume["hostPath"]["path"])
            if volume["hostPath"].get("type") in ("DirectoryOrCreate",):
                out[name].mkdir(parents=True, exist_ok=True)
            if not out[name].exists():
                raise MountError(prefix + f"hostPath type check failed: {out[name]} does not exist")
        elif "secret" in volume or "configMap" in volume:
            plural, spec = (
                ("secrets", volume["secret"])
                if "secret" in volume
                else ("configmaps", volume["configMap"])
            )
            obj_name = spec.get("secretName") or spec.get("name", "")
            obj = store.find(plural, namespace, obj_name)
            if obj is None and not spec.get("optional"):
                what = "secret" if plural == "secrets" else "configmap"
                raise MountError(prefix + f'{what} "{obj_name}" not found')
            data: dict[str, bytes] = {}
            if obj is not None and plural == "secrets":
                data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
            elif obj is not None:
                data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
            out[name] = pod_dir / "volumes" / name
            _write_items(out[name], data, spec.get("items"))
        elif "azureFile" in volume:
            spec = volume["azureFile"]
            if store.find("secrets", namespace, spec.get("secretName", "")) is None:
                raise MountError(
                    prefix + f"Couldn't get secret {namespace}/{spec.get('secretName')}"
                )
            share = sources.azure_shares.get(spec.get("shareName", ""))
            if share is None:
                raise MountError(
                    prefix
                    + f"mount error(2): No such file or directory (share {spec.get('shareName')!r})"
                )
            out[name] = Path(share)
        elif "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"].get("claimName", "")
            if claim not in sources.pvc_dirs:
                raise MountError(f'persistentvolumeclaim "{claim}" not found')
            out[name] = Path(sources.pvc_dirs[claim])
        else:
            kinds = sorted(set(volume) - {"name"})
            raise MountError(prefix + f"k8sim does not simulate volume type {kinds}")
    return out


def mount_prologue(container: Obj, volumes: dict[str, Path]) -> tuple[str, list[str]]:
    """Shell lines that bind-mount the container's volumeMounts, plus the mounted paths."""
    lines = []
    paths = []
    for mount in container.get("volumeMounts") or []:
        source = volumes.get(mount["name"])
        if source is None:
            raise MountError(f'volumeMount "{mount["name"]}" refers to no volume of the pod')
        if mount.get("subPath"):
            source = source / mount["subPath"]
            if not source.exists():
                source.mkdir(parents=True, exist_ok=True)
        src, dst = shlex.quote(str(source)), shlex.quote(mount["mountPath"])
        make = (
            f"mkdir -p {dst}" if source.is_dir() else f'mkdir -p "$(dirname {dst})" && touch {dst}'
        )
        lines.append(f"{make} && mount --bind {src} {dst}")
        if mount.get("readOnly"):
            lines.append(f"mount -o remount,bind,ro {dst}")
        paths.append(mount["mountPath"])
    return " && ".join(lines), paths


def mounts(container: Obj, volumes: dict[str, Path]) -> list[tuple[PurePosixPath, Path]]:
    """(mountPath, local directory) of each volumeMount, as `mount_prologue` would bind them."""
    out = []
    for mount in container.get("volumeMounts") or []:
        source = volumes[mount["name"]]
        if mount.get("subPath"):
            source = source / mount["subPath"]
        out.append((PurePosixPath(mount["mountPath"]), source))
    return out
