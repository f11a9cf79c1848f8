"""Endpoints beside plain CRUD: the CRD, namespaces, SelfSubjectAccessReview, pod logs.

Why: each has its own wire format (read-only CRD, implicit namespaces, an authorization review
answered from the deny set, `text/plain` logs with their 400 "waiting to start") and keeping
them apart keeps the request router in apiserver.py short. `classify` is the apiserver's
RequestInfo: the verb/resource/namespace/name recorded for every request.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from . import verbs
from .errors import ApiError
from .resources import CRD_NAME
from .streams import follow_log, read_log

if TYPE_CHECKING:
    from .apiserver import _Handler

Obj = dict[str, Any]


def crd(handler: _Handler, rest: list[str], info: dict[str, str]) -> None:
    handler._info.update(verb="get" if rest else "list", resource="customresourcedefinitions")
    api = handler.server.api
    if handler.command != "GET":
        raise ApiError(
            405,
            "the k8sim double serves CustomResourceDefinitions read-only",
            reason="MethodNotAllowed",
        )
    crds = [api.crd] if api.faults.crd_installed else []
    if not rest:
        return handler._send(
            200,
            {
                "kind": "CustomResourceDefinitionList",
                "apiVersion": "apiextensions.k8s.io/v1",
                "metadata": {"resourceVersion": str(api.store.rv)},
                "items": crds,
            },
        )
    if rest == [CRD_NAME] and crds:
        return handler._send(200, crds[0])
    raise ApiError(
        404,
        f'customresourcedefinitions.apiextensions.k8s.io "{rest[0]}" not found',
        details={
            "name": rest[0],
            "group": "apiextensions.k8s.io",
            "kind": "customresourcedefinitions",
        },
    )


def namespace(handler: _Handler, name: str | None, info: dict[str, str]) -> None:
    handler._info.update(verb="get" if name else "list", resource="namespaces", name=name or "")
    api = handler.server.api
    if handler.command != "GET":
        raise ApiError(
            405, "namespaces are implicit in the k8sim double", reason="MethodNotAllowed"
        )

    def ns(n: str) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": n,
                "uid": f"ns-{n}",
                "resourceVersion": "1",
                "creationTimestamp": "2024-01-01T00:00:00Z",
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }

    if name is None:
        names = sorted(api.namespaces or {"default"})
        return handler._send(
            200,
            {
                "kind": "NamespaceList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(api.store.rv)},
                "items": [ns(n) for n in names],
            },
        )
    api.ensure_namespace(name)
    return handler._send(200, ns(name))


def access_review(handler: _Handler, raw: bytes, info: dict[str, str]) -> None:
    handler._info.update(verb="create", resource="selfsubjectaccessreviews")
    body = json.loads(raw or b"{}")
    attrs = (body.get("spec") or {}).get("resourceAttributes") or {}
    denied = handler.server.api.faults.is_denied(
        attrs.get("verb", ""),
        attrs.get("group", ""),
        attrs.get("resource", ""),
        attrs.get("subresource", ""),
        attrs.get("namespace", ""),
    )
    status: Obj = {"allowed": not denied}
    if denied:
        status.update(denied=True, reason="denied by the k8sim deny set")
    else:
        status["reason"] = "allowed by k8sim"
    body.update(kind="SelfSubjectAccessReview", apiVersion="authorization.k8s.io/v1", status=status)
    body.setdefault("metadata", {})["creationTimestamp"] = None
    handler._send(201, body)


def pod_log(handler: _Handler, target: verbs.Target, query: dict[str, str]) -> None:
    api = handler.server.api
    assert target.name is not None
    pod = api.store.get("pods", target.namespace or "", target.name)
    spec = pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    all_names = names + [c["name"] for c in spec.get("initContainers") or []]
    container = query.get("container") or ""
    if not container:
        if len(names) != 1:
            raise ApiError(
                400,
                f"a container name must be specified for pod {target.name}, choose one of: [{' '.join(names)}]",
            )
        container = names[0]
    if container not in all_names:
        raise ApiError(400, f"container {container} is not valid for pod {target.name}")
    path, _finished = api.logs.log_file(pod, container) if api.logs else (None, False)
    if path is None:
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        reason = next(
            (
                s.get("state", {}).get("waiting", {}).get("reason")
                for s in statuses
                if s.get("name") == container
            ),
            None,
        )
        raise ApiError(
            400,
            f'container "{container}" in pod "{target.name}" is waiting to start: {reason or "ContainerCreating"}',
        )
    tail = int(query["tailLines"]) if query.get("tailLines") else None
    if query.get("follow") in ("true", "1"):
        return follow_log(handler._stream("text/plain"), api, pod, container, path, tail)
    return handler._send(200, read_log(path, tail))


def classify(method: str, path: str, query: dict[str, str]) -> dict[str, str]:
    """verb/resource/subresource/namespace/name of a request, as the apiserver's RequestInfo."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        rest = parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        rest = parts[3:]
    else:
        return {"verb": method.lower(), "resource": ""}
    watching = rest[:1] == ["watch"] or query.get("watch") in ("true", "1", "True")
    rest = rest[1:] if rest[:1] == ["watch"] else rest
    namespace = ""
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    elif rest[:1] == ["namespaces"]:
        return {
            "verb": verb_of(method, rest),
            "resource": "namespaces",
            "name": rest[1] if len(rest) > 1 else "",
        }
    verb = "watch" if watching and method == "GET" else verb_of(method, rest)
    return {
        "verb": verb,
        "resource": rest[0] if rest else "",
        "name": rest[1] if len(rest) > 1 else "",
        "subresource": rest[2] if len(rest) > 2 else "",
        "namespace": namespace,
    }


def verb_of(method: str, rest: list[str]) -> str:
    if rest[:1] == ["watch"]:
        return "watch"
    named = len(rest) >= 2
    return {
        "GET": "get" if named else "list",
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if named else "deletecollection",
    }.get(method, method.lower())
