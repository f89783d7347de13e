"""OpenAPI v3 documents: enough for kubectl's feature probes and `kubectl explain`.

`/openapi/v3` lists one document per served group-version (`api/v1`, `apis/apps/v1`, each CRD
group-version) holding each kind's schema (a CRD's own schema; an open object for built-ins)
and PATCH operation. The PATCH operations list the `fieldValidation` and `dryRun` query
parameters (kubectl checks there whether the server supports them, else it validates on the
client against /openapi/v2) and the patch bodies served: JSON, merge and apply patches, plus
strategic merge patches for built-in kinds only (so kubectl sends merge patches for custom
resources, strategic ones for built-ins). `/openapi/v2` is deliberately absent (404): client-go
parses v2 as protobuf.

Built-in kinds' schemas are open placeholders and so carry no `x-kubernetes-group-version-kind`:
kubectl computes strategic patches from the schema marked with the kind when there is one (and
fails on a placeholder: no field is declared), else from the patch tags compiled into it, which
are k8s.io/api's own.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from framework.envtest.apiserver.catalog import Catalog, ServedResource

_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
)
_STRATEGIC = "application/strategic-merge-patch+json"


def _query(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": "string", "uniqueItems": True},
    }


_PATCH_PARAMETERS = [
    _query("dryRun", "When present, indicates that modifications should not be persisted."),
    _query("fieldManager", "A name associated with the actor or entity making these changes."),
    _query("fieldValidation", "Ignore, Warn or Strict handling of unknown or duplicate fields."),
    {
        "name": "force",
        "in": "query",
        "description": "Force is going to force Apply requests.",
        "schema": {"type": "boolean", "uniqueItems": True},
    },
]


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "version": version, "kind": kind}


def _patch_path(
    gvk: dict[str, str], schema_ref: str, operation_id: str, patch_types: tuple[str, ...]
) -> dict[str, Any]:
    return {
        "patch": {
            "operationId": operation_id,
            "parameters": _PATCH_PARAMETERS,
            "requestBody": {
                "content": {t: {"schema": {"type": "object"}} for t in patch_types},
                "required": True,
            },
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": {"$ref": schema_ref}}},
                }
            },
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
        },
        "parameters": [
            {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
    }


def _document(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.37.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _schema_name(served: ServedResource) -> str:
    info = served.info
    group = ".".join(reversed(info.group.split("."))) if info.group else "io.k8s.api.core"
    return f"{group}.{info.version}.{info.kind}"


def _gv_document(resources: list[ServedResource]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for served in resources:
        info = served.info
        name = _schema_name(served)
        gvk = _gvk(info.group, info.version, info.kind)
        schema: dict[str, Any] = dict(served.openapi or {"type": "object"})
        if served.custom:
            schema["x-kubernetes-group-version-kind"] = [gvk]
        schemas[name] = schema
        prefix = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
        scope = "/namespaces/{namespace}" if info.namespaced else ""
        path = f"{prefix}{scope}/{info.plural}/{{name}}"
        operation = f"patch{info.group.split('.')[0].title()}{info.version.title()}{info.kind}"
        patch_types = _PATCH_TYPES if served.custom else (*_PATCH_TYPES, _STRATEGIC)
        paths[path] = _patch_path(gvk, f"#/components/schemas/{name}", operation, patch_types)
    return _document(paths, schemas)


class OpenApi:
    """Encoded OpenAPI v3 documents keyed by group-version path, rebuilt on catalog changes."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._revision = -1
        self._docs: dict[str, bytes] = {}
        self._index = b""

    def _refresh(self) -> None:
        if self._revision == self._catalog.revision:
            return
        by_gv: dict[str, list[ServedResource]] = {}
        for served in self._catalog.all():
            info = served.info
            gv = f"apis/{info.group}/{info.version}" if info.group else f"api/{info.version}"
            by_gv.setdefault(gv, []).append(served)
        docs = {gv: orjson.dumps(_gv_document(rs)) for gv, rs in sorted(by_gv.items())}
        index = {
            gv: {
                "serverRelativeURL": f"/openapi/v3/{gv}?hash={hashlib.sha512(doc).hexdigest()[:32]}"
            }
            for gv, doc in docs.items()
        }
        self._docs = docs
        self._index = orjson.dumps({"paths": index})
        self._revision = self._catalog.revision

    def index(self) -> bytes:
        self._refresh()
        return self._index

    def document(self, group_version: str) -> bytes | None:
        self._refresh()
        return self._docs.get(group_version)
