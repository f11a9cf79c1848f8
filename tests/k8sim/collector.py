"""Garbage collection: deletions cascading through ownerReferences, and finalizers.

Why: FrameworkController relies on the garbage collector to delete a Framework's ConfigMap and
Pods (Foreground, Background) or keep them (Orphan); this is that collector, run by the store
after every write that can change what is owned or deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .objects import Obj, clone

if TYPE_CHECKING:
    from .store import Store

FOREGROUND = "foregroundDeletion"


def orphan(store: Store, uid: str) -> None:
    for key in store._owned_keys(uid):
        obj = store._objects[key]
        if owned_by(obj, uid):
            new = clone(obj)
            refs = [r for r in new["metadata"]["ownerReferences"] if r.get("uid") != uid]
            new["metadata"]["ownerReferences"] = refs
            store._commit(key[0], new, obj)


def owned_by(obj: Obj, uid: str) -> bool:
    return any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or [])


def collect(store: Store) -> None:
    """Garbage collection to a fixed point: foreground waits, orphans of gone owners go.

    Only objects being deleted or whose owners are all gone can change, so only those
    (kept in indexes) are visited, in creation order.
    """
    changed = True
    while changed:
        changed = False
        for key in sorted(store._deleting | store._dangling, key=store._seq.__getitem__):
            obj = store._objects.get(key)
            if obj is None:
                continue
            meta = obj["metadata"]
            if store._is_dangling(meta) and not meta.get("deletionTimestamp"):
                store.delete(key[0], key[1], key[2], propagation="Background")
                changed = True
                continue
            if not meta.get("deletionTimestamp"):
                continue
            finalizers = meta.get("finalizers") or []
            if FOREGROUND in finalizers:
                deps = [(k, store._objects[k]) for k in store._owned_keys(meta["uid"])]
                for dep_key, dep in deps:
                    if not dep["metadata"].get("deletionTimestamp"):
                        has_deps = bool(store._owned.get(dep["metadata"]["uid"]))
                        store.delete(
                            *dep_key, propagation="Foreground" if has_deps else "Background"
                        )
                        changed = True
                if not deps:
                    new = clone(obj)
                    new["metadata"]["finalizers"] = [f for f in finalizers if f != FOREGROUND]
                    store._commit(key[0], new, obj)
                    changed = True
                    obj = new
                    finalizers = new["metadata"]["finalizers"]
            if not finalizers and not is_graceful(
                key[0], obj, obj["metadata"].get("deletionGracePeriodSeconds")
            ):
                store._remove(key)
                changed = True


def is_graceful(plural: str, obj: Obj, grace: int | None) -> bool:
    """Pods bound to a node wait for the kubelet to stop their containers."""
    if plural != "pods" or not (obj.get("spec") or {}).get("nodeName"):
        return False
    if grace == 0:
        return False
    return (obj.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def grace_seconds(pod: Obj, grace: int | None) -> int:
    if grace is not None:
        return grace
    return int((pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
