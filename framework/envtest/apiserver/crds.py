"""CustomResourceDefinitions: validate on write, serve each served version, report conditions.

`validate_crd` runs before a CRD is stored (422 on bad names, versions, schemas or printer
columns). `CrdController.sync` runs right after a CRD is stored: it registers every served
version in the catalog (or reports NamesAccepted=False on a conflict) and writes the
NamesAccepted and Established conditions, acceptedNames and storedVersions into the CRD's
status. `CrdController.removed` stops serving a deleted CRD and deletes all of its objects.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from framework.envtest.apiserver import jsonpath
from framework.envtest.apiserver.catalog import Catalog, ServedResource
from framework.envtest.apiserver.errors import Cause
from framework.envtest.apiserver.metadata import timestamp
from framework.envtest.apiserver.schema import CompiledSchema, SchemaError
from framework.envtest.apiserver.storage import Storage
from framework.envtest.apiserver.tables import columns_from_crd_version
from framework.envtest.apiserver.watch import StoredObject
from framework.resources import GroupVersionKind, ResourceInfo

CRD_RESOURCE = "customresourcedefinitions.apiextensions.k8s.io"


def _invalid(field: str, message: str) -> Cause:
    return Cause("FieldValueInvalid", message, field)


def _required(field: str) -> Cause:
    return Cause("FieldValueRequired", "Required value", field)


def _names(crd: dict[str, Any]) -> dict[str, Any]:
    names = crd.get("spec", {}).get("names", {})
    return names if isinstance(names, dict) else {}


def default_crd(crd: dict[str, Any]) -> None:
    """Fill what kube-apiserver defaults: singular, listKind, conversion strategy. Only `crd`
    itself is modified: `spec` and `spec.names` are replaced by defaulted copies (they may be
    shared with a stored object)."""
    spec = crd.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec = crd["spec"] = dict(spec)
    names = spec.get("names")
    if isinstance(names, dict) and isinstance(names.get("kind"), str):
        names = spec["names"] = dict(names)
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
    spec.setdefault("conversion", {"strategy": "None"})


def _validate_version(index: int, version: Any) -> list[Cause]:
    path = f"spec.versions[{index}]"
    if not isinstance(version, dict) or not isinstance(version.get("name"), str):
        return [_required(f"{path}.name")]
    schema = (
        version.get("schema", {}).get("openAPIV3Schema")
        if isinstance(version.get("schema"), dict)
        else None
    )
    causes: list[Cause] = []
    if not isinstance(schema, dict):
        causes.append(
            Cause(
                "FieldValueRequired",
                "Required value: schemas are required",
                f"{path}.schema.openAPIV3Schema",
            )
        )
    else:
        try:
            CompiledSchema.compile(schema)
        except SchemaError as error:
            causes.append(_invalid(f"{path}.schema.openAPIV3Schema", f"Invalid value: {error}"))
    for column_index, column in enumerate(version.get("additionalPrinterColumns") or []):
        field = f"{path}.additionalPrinterColumns[{column_index}].jsonPath"
        expr = column.get("jsonPath") if isinstance(column, dict) else None
        if not isinstance(expr, str):
            causes.append(_required(field))
            continue
        try:
            jsonpath.compile(expr)
        except jsonpath.JsonPathError as error:
            causes.append(_invalid(field, f"Invalid value: {expr!r}: {error}"))
    return causes


def validate_crd(crd: dict[str, Any]) -> list[Cause]:
    """Why this CRD cannot be stored (empty if it can)."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return [_required("spec")]
    causes: list[Cause] = []
    group = spec.get("group")
    names = _names(crd)
    plural, kind = names.get("plural"), names.get("kind")
    if not isinstance(group, str) or "." not in group:
        causes.append(
            _invalid("spec.group", "Invalid value: should be a domain with at least one dot")
        )
    if not isinstance(plural, str) or not plural:
        causes.append(_required("spec.names.plural"))
    if not isinstance(kind, str) or not kind:
        causes.append(_required("spec.names.kind"))
    if isinstance(plural, str) and isinstance(group, str):
        name = crd.get("metadata", {}).get("name")
        if name != f"{plural}.{group}":
            causes.append(
                _invalid(
                    "metadata.name",
                    f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
                )
            )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            Cause(
                "FieldValueNotSupported",
                'Unsupported value: supported values: "Cluster", "Namespaced"',
                "spec.scope",
            )
        )
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        return [
            *causes,
            _invalid(
                "spec.versions",
                "Invalid value: must have exactly one version marked as storage version",
            ),
        ]
    for index, version in enumerate(versions):
        causes += _validate_version(index, version)
    storage = [v for v in versions if isinstance(v, dict) and v.get("storage")]
    if len(storage) != 1:
        causes.append(
            _invalid(
                "spec.versions",
                "Invalid value: must have exactly one version marked as storage version",
            )
        )
    return causes


def served_resources(crd: dict[str, Any]) -> list[ServedResource]:
    """One `ServedResource` per served version of a valid CRD."""
    spec = crd["spec"]
    names = spec["names"]
    out: list[ServedResource] = []
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        info = ResourceInfo(
            gvk=GroupVersionKind(spec["group"], version["name"], names["kind"]),
            plural=names["plural"],
            singular=names.get("singular") or names["kind"].lower(),
            namespaced=spec["scope"] == "Namespaced",
            subresources=frozenset(k for k in ("status", "scale") if k in subresources),
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            list_kind=names.get("listKind") or names["kind"] + "List",
        )
        out.append(
            ServedResource(
                info,
                columns=tuple(columns_from_crd_version(version)),
                schema=CompiledSchema.compile(version["schema"]["openAPIV3Schema"]),
                openapi=version["schema"]["openAPIV3Schema"],
                crd=crd["metadata"]["name"],
            )
        )
    return out


def _condition(kind: str, ok: bool, reason: str, message: str, now: str) -> dict[str, str]:
    return {
        "type": kind,
        "status": "True" if ok else "False",
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def _merge_conditions(old: list[Any], new: list[dict[str, str]]) -> list[dict[str, str]]:
    """New conditions, keeping each one's lastTransitionTime when its status did not change."""
    previous = {c.get("type"): c for c in old if isinstance(c, dict)}
    merged = []
    for condition in new:
        before = previous.get(condition["type"])
        if before is not None and before.get("status") == condition["status"]:
            condition = {**condition, "lastTransitionTime": before.get("lastTransitionTime", "")}
        merged.append(condition)
    return merged


class CrdController:
    """Keeps the catalog and CRD statuses in step with the stored CRDs."""

    def __init__(self, catalog: Catalog, storage: Storage, now: Callable[[], datetime]) -> None:
        self._catalog = catalog
        self._storage = storage
        self._now = now

    def _conflict(self, crd: dict[str, Any], resources: list[ServedResource]) -> str:
        name = crd["metadata"]["name"]
        for served in resources:
            existing = self._catalog.lookup(
                served.info.group, served.info.version, served.info.plural
            )
            if existing is not None and existing.crd != name:
                return f'"{served.info.plural}" is already in use'
            for other in self._catalog.all():
                if other.crd != name and other.info.gvk == served.info.gvk:
                    return f'"{served.info.kind}" is already in use'
        return ""

    def sync(self, stored: StoredObject) -> None:
        """Serve the CRD's versions and write its status conditions."""
        crd = stored.obj
        name = crd["metadata"]["name"]
        resources = served_resources(crd)
        conflict = self._conflict(crd, resources)
        if not conflict:
            for old in self._catalog.by_crd(name):
                self._catalog.remove(old.info.gvk)
            for served in resources:
                self._catalog.add(served)
        now = timestamp(self._now())
        status = dict(crd.get("status") or {})
        accepted = not conflict
        conditions = [
            _condition(
                "NamesAccepted",
                accepted,
                "NoConflicts" if accepted else "NameConflict",
                "no conflicts found" if accepted else conflict,
                now,
            ),
            _condition(
                "Established",
                accepted,
                "InitialNamesAccepted" if accepted else "NotAccepted",
                "the initial names have been accepted"
                if accepted
                else "not all names are accepted",
                now,
            ),
        ]
        status["conditions"] = _merge_conditions(status.get("conditions") or [], conditions)
        if accepted:
            status["acceptedNames"] = dict(crd["spec"]["names"])
        storage_version = next(v["name"] for v in crd["spec"]["versions"] if v.get("storage"))
        stored_versions = list(status.get("storedVersions") or [])
        if storage_version not in stored_versions:
            stored_versions.append(storage_version)
        status["storedVersions"] = stored_versions
        if status != crd.get("status"):
            self._storage.update(
                CRD_RESOURCE, {**crd, "metadata": dict(crd["metadata"]), "status": status}
            )

    def removed(self, crd: dict[str, Any]) -> None:
        """Stop serving a deleted CRD and delete its objects (stored under the CRD's name)."""
        name = crd["metadata"]["name"]
        for resource in self._catalog.by_crd(name):
            self._catalog.remove(resource.info.gvk)
        self._storage.drop(name)
