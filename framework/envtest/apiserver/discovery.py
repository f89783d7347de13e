"""Discovery documents in the legacy (non-aggregated) format, cached per catalog revision.

`/api`, `/api/v1`, `/apis`, `/apis/{group}` and `/apis/{group}/{version}` as kube-apiserver
serves them. Clients asking for aggregated discovery (apidiscovery.k8s.io/v2) get this legacy
JSON with Content-Type application/json, which client-go and kubectl take as "fall back".
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

from framework.envtest.apiserver.catalog import Catalog
from framework.resources import ResourceInfo

KUBE_VERSION = {
    "major": "1",
    "minor": "37",
    "emulationMajor": "1",
    "emulationMinor": "37",
    "gitVersion": "v1.37.0-kubeloop",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_VERSION = re.compile(r"v(\d+)(?:(alpha|beta)(\d+))?")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key putting kube's preferred version first: GA > beta > alpha, higher first."""
    match = _VERSION.fullmatch(version)
    if match is None:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), version)


def _resource_entries(info: ResourceInfo) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {
        "name": info.plural,
        "singularName": info.singular,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": list(info.verbs),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    digest = hashlib.sha256(f"{info.gvk}/{info.plural}".encode()).digest()
    entry["storageVersionHash"] = digest[:8].hex()
    entries = [entry]
    for sub in sorted(info.subresources):
        entries.append(
            {
                "name": f"{info.plural}/{sub}",
                "singularName": "",
                "namespaced": info.namespaced,
                "kind": "Scale" if sub == "scale" else info.kind,
                "verbs": ["get", "patch", "update"],
            }
        )
    return entries


class Discovery:
    """Encoded discovery documents, rebuilt when the catalog changes."""

    def __init__(self, catalog: Catalog, server_address: str = "") -> None:
        self._catalog = catalog
        self._revision = -1
        self._docs: dict[str, bytes] = {}
        self.server_address = server_address

    def document(self, path: str) -> bytes | None:
        """The JSON for a discovery path ("/api", "/apis/apps/v1", ...), None if unknown."""
        if self._revision != self._catalog.revision:
            self._docs = self._build()
            self._revision = self._catalog.revision
        return self._docs.get(path.rstrip("/"))

    def groups(self) -> dict[str, list[str]]:
        """Group -> versions, preferred first."""
        groups = self._catalog.registry.group_versions()
        return {g: sorted(vs, key=version_priority) for g, vs in groups.items()}

    def _build(self) -> dict[str, bytes]:
        docs: dict[str, Any] = {
            "/api": {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": self.server_address}
                ],
            }
        }
        group_list = []
        for group, versions in self.groups().items():
            for version in versions:
                group_version = f"{group}/{version}" if group else version
                path = f"/apis/{group_version}" if group else f"/api/{version}"
                resources = self._catalog.registry.in_group_version(group, version)
                docs[path] = {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": group_version,
                    "resources": [
                        e
                        for info in sorted(resources, key=lambda i: i.plural)
                        for e in _resource_entries(info)
                    ],
                }
            if not group:
                continue
            entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
            api_group = {"name": group, "versions": entries, "preferredVersion": entries[0]}
            docs[f"/apis/{group}"] = {"kind": "APIGroup", "apiVersion": "v1", **api_group}
            group_list.append(api_group)
        docs["/apis"] = {"kind": "APIGroupList", "apiVersion": "v1", "groups": group_list}
        docs["/version"] = KUBE_VERSION
        return {path: orjson.dumps(doc) for path, doc in docs.items()}
