"""The kinds the double serves, with the server-side validation and defaulting each one gets.

Why: what a real server accepts is the contract the launcher must meet. Frameworks are checked
against the CRD's structural schema (the mirror in research/frameworkcontroller.md section 7),
with unknown fields pruned; core kinds get the name rules and the few required fields that
catch a malformed pod template at create time.
"""

from __future__ import annotations

import base64
import importlib
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import invalid

jsonschema: Any = importlib.import_module("jsonschema")  # untyped; keeps mypy independent of stubs

Obj = dict[str, Any]

FC_GROUP = "frameworkcontroller.microsoft.com"
FC_VERSION = "v1"
CRD_NAME = f"frameworks.{FC_GROUP}"

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)

_RETRY = {
    "type": "object",
    "properties": {
        "maxRetryCount": {"type": "integer", "minimum": -2},
        "fancyRetryPolicy": {"type": "boolean"},
    },
}
_NAME = {"type": "string", "pattern": "^[a-z0-9]{1,63}$"}

# Server-side schema of the Framework CRD; `preserve` marks x-kubernetes-preserve-unknown-fields.
FRAMEWORK_SCHEMA: Obj = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object", "preserve": True, "properties": {"name": _NAME}},
        "spec": {
            "type": "object",
            "properties": {
                "description": {"type": ["string", "null"]},
                "executionType": {"type": "string", "enum": ["Create", "Start", "Stop"]},
                "retryPolicy": _RETRY,
                "taskRoles": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": _NAME,
                            "taskNumber": {"type": "integer", "minimum": 0, "maximum": 10000},
                            "frameworkAttemptCompletionPolicy": {
                                "type": "object",
                                "properties": {
                                    "minFailedTaskCount": {"type": "integer", "minimum": -1},
                                    "minSucceededTaskCount": {"type": "integer", "minimum": -1},
                                },
                            },
                            "task": {
                                "type": "object",
                                "properties": {
                                    "retryPolicy": _RETRY,
                                    "podGracefulDeletionTimeoutSec": {"type": ["integer", "null"]},
                                    "pod": {"type": "object", "preserve": True},
                                },
                            },
                        },
                    },
                },
            },
        },
        "status": {"type": ["object", "null"], "preserve": True},
    },
}


def _strict_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer)
_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_TYPES)
_FRAMEWORK_VALIDATOR = _Validator(FRAMEWORK_SCHEMA)


def prune(value: Any, schema: Obj, path: str = "") -> tuple[Any, list[str]]:
    """Drop fields the structural schema does not declare; return the value and dropped paths."""
    dropped: list[str] = []
    if isinstance(value, dict) and "properties" in schema and not schema.get("preserve"):
        kept: Obj = {}
        for key, item in value.items():
            if key in schema["properties"]:
                kept[key], more = prune(item, schema["properties"][key], f"{path}.{key}")
                dropped += more
            else:
                dropped.append(f"{path}.{key}".lstrip("."))
        return kept, dropped
    if isinstance(value, dict) and "properties" in schema:
        out = dict(value)
        for key, sub in schema["properties"].items():
            if key in out:
                out[key], more = prune(out[key], sub, f"{path}.{key}")
                dropped += more
        return out, dropped
    if isinstance(value, list) and "items" in schema:
        items = []
        for i, item in enumerate(value):
            pruned, more = prune(item, schema["items"], f"{path}[{i}]")
            items.append(pruned)
            dropped += more
        return items, dropped
    return value, dropped


def _json_path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out.lstrip(".")


def _schema_message(error: Any, where: str) -> str:
    value = error.instance
    shown = f'"{value}"' if isinstance(value, str) else repr(value)
    validator = error.validator
    if validator == "pattern":
        return f"Invalid value: {shown}: {where} in body should match '{error.validator_value}'"
    if validator == "maximum":
        return f"Invalid value: {shown}: {where} in body should be less than or equal to {error.validator_value}"
    if validator == "minimum":
        return f"Invalid value: {shown}: {where} in body should be greater than or equal to {error.validator_value}"
    if validator == "enum":
        allowed = ", ".join(f'"{v}"' for v in error.validator_value)
        return f"Unsupported value: {shown}: supported values: {allowed}"
    if validator == "type":
        return f'Invalid value: "{type(value).__name__}": {where} in body must be of type {error.validator_value}'
    return f"Invalid value: {shown}: {error.message}"


def validate_framework(obj: Obj) -> Obj:
    """Prune then validate a Framework; returns the pruned object or raises 422."""
    pruned, _ = prune(obj, FRAMEWORK_SCHEMA)
    name = str((obj.get("metadata") or {}).get("name", ""))
    causes = []
    for error in sorted(_FRAMEWORK_VALIDATOR.iter_errors(pruned), key=lambda e: list(e.path)):
        where = _json_path(error.absolute_path) or "<root>"
        causes.append((where, _schema_message(error, where)))
    if causes:
        raise invalid("Framework", FC_GROUP, name, causes)
    result: Obj = pruned
    return result


def unknown_fields(obj: Obj) -> list[str]:
    return prune(obj, FRAMEWORK_SCHEMA)[1]


def validate_pod(obj: Obj) -> Obj:
    name = str(obj["metadata"].get("name", ""))
    spec = obj.get("spec") or {}
    causes: list[tuple[str, str]] = []
    containers = spec.get("containers") or []
    if not containers:
        causes.append(("spec.containers", "Required value"))
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(group) or []):
            where = f"spec.{group}[{i}]"
            if not container.get("name"):
                causes.append((f"{where}.name", "Required value"))
            elif container["name"] in seen:
                causes.append((f"{where}.name", f'Duplicate value: "{container["name"]}"'))
            seen.add(container.get("name", ""))
            if not container.get("image"):
                causes.append((f"{where}.image", "Required value"))
    if causes:
        raise invalid("Pod", "", name, causes)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", "default")
    for group in ("initContainers", "containers"):
        for container in spec.get(group) or []:
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            container.setdefault("imagePullPolicy", "IfNotPresent")
    obj["spec"] = spec
    obj.setdefault("status", {"phase": "Pending", "qosClass": "BestEffort"})
    return obj


@dataclass(frozen=True)
class Resource:
    """One served kind; `core` kinds live under /api/v1, the others under /apis/group/version."""

    plural: str
    kind: str
    group: str = ""
    version: str = "v1"
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = (
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    )
    status_in_generation: bool = False
    field_selectors: frozenset[str] = field(
        default_factory=lambda: frozenset({"metadata.name", "metadata.namespace"})
    )

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def core(self) -> bool:
        return not self.group

    def validate(self, obj: Obj) -> Obj:
        """Server-side validation and defaulting on create and update."""
        name = str(obj["metadata"].get("name", ""))
        if self.plural == "frameworks":
            obj = validate_framework(obj)
        if not name or len(name) > 253 or not DNS_SUBDOMAIN.match(name):
            message = f'Invalid value: "{name}": {DNS_MESSAGE}'
            raise invalid(self.kind, self.group, name, [("metadata.name", message)])
        if self.plural == "pods":
            obj = validate_pod(obj)
        if self.plural == "secrets" and obj.get("stringData"):
            encoded = {
                k: base64.b64encode(str(v).encode()).decode()
                for k, v in obj.pop("stringData").items()
            }
            obj["data"] = {**(obj.get("data") or {}), **encoded}
            obj.setdefault("type", "Opaque")
        return obj


RESOURCES: dict[str, Resource] = {
    r.plural: r
    for r in (
        Resource("frameworks", "Framework", FC_GROUP, FC_VERSION, status_in_generation=True),
        Resource(
            "pods",
            "Pod",
            short_names=("po",),
            field_selectors=frozenset(
                {"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"}
            ),
        ),
        Resource("configmaps", "ConfigMap", short_names=("cm",)),
        Resource("secrets", "Secret"),
        Resource("serviceaccounts", "ServiceAccount", short_names=("sa",)),
        Resource("events", "Event", short_names=("ev",)),
        # what deploy/ applies besides (tests/test_deploy.py); stored, never acted on
        Resource("services", "Service", short_names=("svc",)),
        Resource("deployments", "Deployment", "apps", short_names=("deploy",)),
        Resource("roles", "Role", "rbac.authorization.k8s.io"),
        Resource("rolebindings", "RoleBinding", "rbac.authorization.k8s.io"),
    )
}


def crd_object(uid: str, created: str) -> Obj:
    """The CustomResourceDefinition FrameworkController installs (section 1 of the notes)."""
    schema = _strip_preserve(FRAMEWORK_SCHEMA)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "uid": uid,
            "resourceVersion": "1",
            "generation": 1,
            "creationTimestamp": created,
        },
        "spec": {
            "group": FC_GROUP,
            "names": {
                "kind": "Framework",
                "listKind": "FrameworkList",
                "plural": "frameworks",
                "singular": "framework",
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": FC_VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
            "conversion": {"strategy": "None"},
        },
        "status": {
            "acceptedNames": {
                "kind": "Framework",
                "listKind": "FrameworkList",
                "plural": "frameworks",
                "singular": "framework",
            },
            "storedVersions": [FC_VERSION],
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": created,
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": created,
                },
            ],
        },
    }


def _strip_preserve(schema: Any) -> Any:
    if isinstance(schema, dict):
        out: Obj = {}
        for key, value in schema.items():
            if key == "preserve":
                out["x-kubernetes-preserve-unknown-fields"] = value
            elif key == "type" and isinstance(value, list):
                out["type"] = next(v for v in value if v != "null")
                out["nullable"] = True
            else:
                out[key] = _strip_preserve(value)
        return out
    return schema
