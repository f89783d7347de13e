"""What the API server serves right now: built-in kinds plus the versions of established CRDs.

A `ServedResource` pairs a `ResourceInfo` with what the server needs per version: the storage
key shared by every version of the kind, the compiled schema (custom resources), the printer
columns, and the CRD that serves it. `Catalog` wraps a `ResourceRegistry` and is looked up by
(group, version, plural) per request; `revision` changes whenever the set changes, so
discovery and OpenAPI documents can be cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from framework.envtest.apiserver.conversion import AS_WRITTEN, EVENTS_V1, Converter
from framework.envtest.apiserver.schema import CompiledSchema
from framework.envtest.apiserver.tables import DEFAULT_COLUMNS, PrinterColumn
from framework.envtest.apiserver.watch import StoredObject
from framework.resources import BUILTIN_RESOURCES, GroupVersionKind, ResourceInfo, ResourceRegistry


@dataclass(frozen=True, slots=True)
class ServedResource:
    """One served group-version-resource and how to validate and print its objects."""

    info: ResourceInfo
    columns: tuple[PrinterColumn, ...] = tuple(DEFAULT_COLUMNS)
    schema: CompiledSchema | None = None
    openapi: dict[str, Any] | None = None
    crd: str = ""
    converter: Converter = AS_WRITTEN
    stored_as: str = ""

    @property
    def key(self) -> str:
        """The storage key, shared by all versions of the kind (`stored_as` if given)."""
        return self.stored_as or self.info.group_resource

    @property
    def api_version(self) -> str:
        return self.info.gvk.api_version

    def present(self, stored: StoredObject) -> tuple[dict[str, Any], bytes]:
        """The stored object and its JSON as served by this resource."""
        return self.converter.present(stored, self.info.gvk.api_version)

    @property
    def custom(self) -> bool:
        return bool(self.crd)


class Catalog:
    """The served resources, keyed by GVK; searchable by (group, version, plural)."""

    def __init__(self) -> None:
        self.registry = ResourceRegistry()
        self._served: dict[GroupVersionKind, ServedResource] = {}
        for info in BUILTIN_RESOURCES:
            if info.group_resource == "events.events.k8s.io":
                self.add(ServedResource(info, converter=EVENTS_V1, stored_as="events"))
            else:
                self.add(ServedResource(info))

    @property
    def revision(self) -> int:
        return self.registry.revision

    def add(self, served: ServedResource) -> None:
        self.registry.register(served.info)
        self._served[served.info.gvk] = served

    def remove(self, gvk: GroupVersionKind) -> None:
        self.registry.unregister(gvk)
        self._served.pop(gvk, None)

    def lookup(self, group: str, version: str, plural: str) -> ServedResource | None:
        info = self.registry.by_resource(group, version, plural)
        return None if info is None else self._served[info.gvk]

    def get(self, gvk: GroupVersionKind) -> ServedResource | None:
        return self._served.get(gvk)

    def by_crd(self, crd: str) -> list[ServedResource]:
        return [s for s in self._served.values() if s.crd == crd]

    def all(self) -> list[ServedResource]:
        return list(self._served.values())
