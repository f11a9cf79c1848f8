"""Version and discovery documents (/version, /api, /apis, APIResourceLists).

Why: clients probe these before anything else (kubectl, the dynamic client, a launcher's
"is FrameworkController installed?" check), and the official client's pydantic models reject
a partial VersionInfo; so they are served complete and consistent with what the double serves.
"""

from __future__ import annotations

from typing import Any

from .resources import FC_GROUP, FC_VERSION, RESOURCES

Obj = dict[str, Any]

VERSION: Obj = {
    "major": "1",
    "minor": "30",
    "emulationMajor": "1",
    "emulationMinor": "30",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "29",
    "gitVersion": "v1.30.0-k8sim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-04-17T00:00:00Z",
    "goVersion": "go1.22.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_EXTRA_GROUPS = {
    "apiextensions.k8s.io": [("customresourcedefinitions", "CustomResourceDefinition", False)],
    "authorization.k8s.io": [("selfsubjectaccessreviews", "SelfSubjectAccessReview", False)],
}


def _api_resource(
    plural: str, kind: str, namespaced: bool, verbs: list[str], short: list[str]
) -> Obj:
    singular = plural[:-1] if plural.endswith("s") else plural
    entry: Obj = {
        "name": plural,
        "singularName": "" if "/" in plural else singular,
        "namespaced": namespaced,
        "kind": kind,
        "verbs": verbs,
    }
    if short:
        entry["shortNames"] = short
    return entry


def api_versions(address: str) -> Obj:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def _group(name: str, version: str) -> Obj:
    gv = {"groupVersion": f"{name}/{version}", "version": version}
    return {"name": name, "versions": [gv], "preferredVersion": gv}


def api_groups(crd_installed: bool) -> Obj:
    names = ([FC_GROUP] if crd_installed else []) + list(_EXTRA_GROUPS)
    groups = [_group(n, FC_VERSION if n == FC_GROUP else "v1") for n in names]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(name: str, crd_installed: bool) -> Obj | None:
    if name == FC_GROUP and crd_installed:
        return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, FC_VERSION)}
    if name in _EXTRA_GROUPS:
        return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, "v1")}
    return None


def resource_list(group: str, version: str, crd_installed: bool) -> Obj | None:
    resources: list[Obj] = []
    if group == "" and version == "v1":
        for r in RESOURCES.values():
            if r.core:
                resources.append(
                    _api_resource(r.plural, r.kind, True, list(r.verbs), list(r.short_names))
                )
        resources.append(_api_resource("pods/log", "Pod", True, ["get"], []))
        resources.append(_api_resource("namespaces", "Namespace", False, ["get", "list"], ["ns"]))
    elif group == FC_GROUP and version == FC_VERSION and crd_installed:
        fw = RESOURCES["frameworks"]
        resources.append(_api_resource(fw.plural, fw.kind, True, list(fw.verbs), []))
    elif group in _EXTRA_GROUPS and version == "v1":
        for plural, kind, namespaced in _EXTRA_GROUPS[group]:
            verbs = ["create"] if group == "authorization.k8s.io" else ["get", "list"]
            resources.append(_api_resource(plural, kind, namespaced, verbs, []))
    else:
        return None
    gv = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }
