"""The REST verbs on namespaced resources: create, get, list, update, patch, delete(collection).

Why: kept apart from the HTTP plumbing so each verb reads like the apiserver's own handler
(decode, admit, validate, store, encode) and answers with the codes and bodies a real server
uses: 201 on create, 409/410/422 Status objects, list metadata.resourceVersion, pagination.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from .errors import ApiError
from .patches import json_patch, merge_patch
from .resources import RESOURCES, Resource, unknown_fields
from .selectors import field_matcher, label_matcher
from .store import Store

Obj = dict[str, Any]


@dataclass
class Target:
    resource: Resource
    namespace: str | None
    name: str | None


@dataclass
class Reply:
    code: int
    body: Obj
    warnings: tuple[str, ...] = ()


def _strip_core(item: Obj, resource: Resource) -> Obj:
    """A list item; core kinds drop kind and apiVersion (`item` is stored: it is not modified)."""
    if resource.core:
        return {k: v for k, v in item.items() if k not in ("kind", "apiVersion")}
    return item


def matcher(resource: Resource, query: dict[str, str]) -> Any:
    labels = label_matcher(query.get("labelSelector"))
    fields = field_matcher(query.get("fieldSelector"), resource.field_selectors)
    return lambda obj: labels(obj) and fields(obj)


def _field_validation(body: Obj, resource: Resource, query: dict[str, str]) -> tuple[str, ...]:
    """Strict field validation answers 400 on unknown fields; Warn turns them into warnings."""
    mode = query.get("fieldValidation", "Warn" if resource.plural == "frameworks" else "Ignore")
    if resource.plural != "frameworks" or mode == "Ignore":
        return ()
    unknown = unknown_fields(body)
    messages = tuple(f'unknown field "{path}"' for path in unknown)
    if unknown and mode == "Strict":
        raise ApiError(400, "strict decoding error: " + ", ".join(messages))
    return messages


def create(store: Store, target: Target, body: Any, query: dict[str, str]) -> Reply:
    resource, namespace = target.resource, target.namespace or "default"
    if not isinstance(body, dict):
        raise ApiError(400, "the body of the request was in an unknown format")
    meta = body.get("metadata") or {}
    if meta.get("namespace") not in (None, "", namespace):
        raise ApiError(
            400,
            "the namespace of the provided object does not match the namespace sent on the request",
        )
    if body.get("kind") not in (None, resource.kind) or body.get("apiVersion") not in (
        None,
        resource.api_version,
    ):
        raise ApiError(
            400,
            f"the API version in the data ({body.get('apiVersion')}) does not match the expected API version ({resource.api_version})",
        )
    warnings = _field_validation(body, resource, query)
    if query.get("dryRun") == "All":
        return Reply(201, body, warnings)
    return Reply(201, store.create(resource.plural, namespace, body), warnings)


def get(store: Store, target: Target) -> Reply:
    assert target.name is not None
    return Reply(200, store.get(target.resource.plural, target.namespace or "", target.name))


def list_(store: Store, target: Target, query: dict[str, str]) -> Reply:
    resource = target.resource
    items, rv = store.select(
        resource.plural, target.namespace, matcher(resource, query), copy=False
    )
    meta: Obj = {"resourceVersion": str(rv)}
    token = query.get("continue")
    if token:
        try:
            start, rv = json.loads(base64.b64decode(token))
        except ValueError as exc:
            raise ApiError(400, "continue key is not valid") from exc
        items = [
            i for i in items if (i["metadata"]["namespace"], i["metadata"]["name"]) > tuple(start)
        ]
        meta["resourceVersion"] = str(rv)
    limit = int(query.get("limit") or 0)
    if limit and len(items) > limit:
        last = items[limit - 1]["metadata"]
        key = [last["namespace"], last["name"]]
        meta["continue"] = base64.b64encode(json.dumps([key, rv]).encode()).decode()
        meta["remainingItemCount"] = len(items) - limit
        items = items[:limit]
    return Reply(
        200,
        {
            "kind": resource.kind + "List",
            "apiVersion": resource.api_version,
            "metadata": meta,
            "items": [_strip_core(i, resource) for i in items],
        },
    )


def replace(store: Store, target: Target, body: Any, query: dict[str, str]) -> Reply:
    resource, namespace, name = target.resource, target.namespace or "", target.name
    assert name is not None
    if not isinstance(body, dict):
        raise ApiError(400, "the body of the request was in an unknown format")
    rv = (body.get("metadata") or {}).get("resourceVersion")
    if not rv and not resource.core:
        raise ApiError(
            422,
            f'{resource.kind}.{resource.group} "{name}" is invalid: metadata.resourceVersion: '
            "Invalid value: 0x0: must be specified for an update",
        )
    warnings = _field_validation(body, resource, query)
    updated = store.update(
        resource.plural, namespace, name, lambda _: dict(body), expect_rv=rv or None
    )
    return Reply(200, updated, warnings)


def patch(store: Store, target: Target, raw: bytes, content_type: str) -> Reply:
    resource, namespace, name = target.resource, target.namespace or "", target.name
    assert name is not None
    kind = content_type.split(";")[0].strip()
    if kind == "application/apply-patch+yaml":
        raise ApiError(
            415,
            f"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json{', application/strategic-merge-patch+json' if resource.core else ''}",
            reason="UnsupportedMediaType",
        )
    if kind == "application/strategic-merge-patch+json" and not resource.core:
        raise ApiError(
            415,
            "strategic merge patch is not supported for custom resources",
            reason="UnsupportedMediaType",
        )
    if kind not in (
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
    ):
        raise ApiError(
            415, f"unsupported patch content type {kind!r}", reason="UnsupportedMediaType"
        )
    try:
        body = json.loads(raw or b"null")
    except ValueError as exc:
        raise ApiError(400, f"error decoding patch: {exc}") from exc
    expect: str | None = None
    if kind == "application/json-patch+json":

        def change(current: Obj) -> Obj:
            result: Obj = json_patch(current, body)
            return result
    else:
        if not isinstance(body, dict):
            raise ApiError(400, "merge patch body must be a JSON object")
        expect = (body.get("metadata") or {}).get("resourceVersion")

        def change(current: Obj) -> Obj:
            result: Obj = merge_patch(current, body)
            return result

    return Reply(200, store.update(resource.plural, namespace, name, change, expect_rv=expect))


def delete_options(body: Any, query: dict[str, str]) -> tuple[str | None, int | None, Obj | None]:
    options = body if isinstance(body, dict) else {}
    policy = options.get("propagationPolicy") or query.get("propagationPolicy")
    if options.get("orphanDependents") is True or query.get("orphanDependents") == "true":
        policy = policy or "Orphan"
    grace = options.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
    if policy not in (None, "Foreground", "Background", "Orphan"):
        raise ApiError(400, f"unsupported propagationPolicy {policy!r}")
    return policy, None if grace is None else int(grace), options.get("preconditions")


def delete(store: Store, target: Target, body: Any, query: dict[str, str]) -> Reply:
    resource, namespace, name = target.resource, target.namespace or "", target.name
    assert name is not None
    policy, grace, pre = delete_options(body, query)
    obj, gone = store.delete(
        resource.plural, namespace, name, propagation=policy, grace=grace, preconditions=pre
    )
    # Like the apiserver: 202 only for a pending delete that explicitly set orphanDependents=false.
    options = body if isinstance(body, dict) else {}
    code = (
        202
        if not gone
        and (options.get("orphanDependents") is False or query.get("orphanDependents") == "false")
        else 200
    )
    if resource.plural in ("frameworks", "pods"):
        return Reply(code, obj)
    return Reply(
        code,
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": name,
                "group": resource.group,
                "kind": resource.plural,
                "uid": obj["metadata"]["uid"],
            },
        },
    )


def delete_collection(store: Store, target: Target, body: Any, query: dict[str, str]) -> Reply:
    resource = target.resource
    policy, grace, _ = delete_options(body, query)
    items, _rv = store.select(
        resource.plural, target.namespace, matcher(resource, query), copy=False
    )
    for item in items:
        meta = item["metadata"]
        try:
            store.delete(
                resource.plural, meta["namespace"], meta["name"], propagation=policy, grace=grace
            )
        except ApiError as exc:
            if exc.code != 404:
                raise
    if not resource.core:
        return Reply(
            200,
            {
                "kind": resource.kind + "List",
                "apiVersion": resource.api_version,
                "metadata": {},
                "items": items,
            },
        )
    return Reply(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})


def resource_for(group: str, version: str, plural: str) -> Resource | None:
    resource = RESOURCES.get(plural)
    if resource is None or resource.group != group or resource.version != version:
        return None
    return resource
