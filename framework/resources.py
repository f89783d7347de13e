"""The resource registry: which kinds exist, under which plural, scope and subresources.

A `ResourceRegistry` is keyed by `GroupVersionKind` and can also be searched by
(group, version, plural). It is never searched by plural alone: two groups may serve the same
plural. Custom resources come and go (`register` / `unregister`), so the registry is mutable;
`ResourceInfo` entries are immutable values. `BUILTIN_RESOURCES` lists the built-in kinds that
the local control plane serves and the runtime client knows without discovery.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

STANDARD_VERBS: tuple[str, ...] = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)


@dataclass(frozen=True, slots=True)
class GroupVersionKind:
    """A kind in one group-version; the core group is the empty string."""

    group: str
    version: str
    kind: str

    @property
    def api_version(self) -> str:
        """The `apiVersion` field: "v1" for the core group, "group/version" otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @classmethod
    def from_api_version(cls, api_version: str, kind: str) -> GroupVersionKind:
        """Split an `apiVersion` ("v1" or "apps/v1") and pair it with `kind`."""
        group, _, version = api_version.rpartition("/")
        return cls(group, version, kind)

    def __str__(self) -> str:
        return f"{self.api_version}, Kind={self.kind}"


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """How one kind is served: its REST name, scope, subresources and discovery data."""

    gvk: GroupVersionKind
    plural: str
    singular: str
    namespaced: bool
    subresources: frozenset[str] = frozenset()
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = STANDARD_VERBS
    list_kind: str = ""

    def __post_init__(self) -> None:
        if not self.list_kind:
            object.__setattr__(self, "list_kind", f"{self.gvk.kind}List")

    @property
    def group(self) -> str:
        return self.gvk.group

    @property
    def version(self) -> str:
        return self.gvk.version

    @property
    def kind(self) -> str:
        return self.gvk.kind

    @property
    def has_status(self) -> bool:
        """Whether status is written only through the `/status` subresource."""
        return "status" in self.subresources

    @property
    def group_resource(self) -> str:
        """ "plural" or "plural.group": how kube names the resource in messages."""
        return f"{self.plural}.{self.gvk.group}" if self.gvk.group else self.plural


def _builtin(
    api_version: str,
    kind: str,
    plural: str,
    *,
    namespaced: bool = True,
    status: bool = False,
    short_names: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
) -> ResourceInfo:
    return ResourceInfo(
        gvk=GroupVersionKind.from_api_version(api_version, kind),
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        subresources=frozenset({"status"}) if status else frozenset(),
        short_names=short_names,
        categories=categories,
    )


BUILTIN_RESOURCES: tuple[ResourceInfo, ...] = (
    _builtin("v1", "Namespace", "namespaces", namespaced=False, short_names=("ns",)),
    _builtin("v1", "Node", "nodes", namespaced=False, status=True, short_names=("no",)),
    _builtin("v1", "Pod", "pods", status=True, short_names=("po",), categories=("all",)),
    _builtin("v1", "Service", "services", short_names=("svc",), categories=("all",)),
    _builtin("v1", "ConfigMap", "configmaps", short_names=("cm",)),
    _builtin("v1", "Secret", "secrets"),
    _builtin("v1", "ServiceAccount", "serviceaccounts", short_names=("sa",)),
    _builtin("v1", "Event", "events", short_names=("ev",)),
    _builtin("events.k8s.io/v1", "Event", "events", short_names=("ev",)),
    _builtin(
        "apps/v1",
        "Deployment",
        "deployments",
        status=True,
        short_names=("deploy",),
        categories=("all",),
    ),
    _builtin(
        "apps/v1",
        "ReplicaSet",
        "replicasets",
        status=True,
        short_names=("rs",),
        categories=("all",),
    ),
    _builtin(
        "apps/v1",
        "StatefulSet",
        "statefulsets",
        status=True,
        short_names=("sts",),
        categories=("all",),
    ),
    _builtin("batch/v1", "Job", "jobs", status=True, categories=("all",)),
    _builtin("coordination.k8s.io/v1", "Lease", "leases"),
    _builtin(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        namespaced=False,
        status=True,
        short_names=("crd", "crds"),
        categories=("api-extensions",),
    ),
)


@dataclass
class ResourceRegistry:
    """Mutable set of `ResourceInfo`, one per GVK, searchable by GVK or (group, version, plural).

    `revision` grows on every change so that callers can cache documents derived from it.
    """

    _by_gvk: dict[GroupVersionKind, ResourceInfo] = field(default_factory=dict)
    _by_gvr: dict[tuple[str, str, str], ResourceInfo] = field(default_factory=dict)
    revision: int = 0

    @classmethod
    def with_builtins(cls) -> ResourceRegistry:
        registry = cls()
        for info in BUILTIN_RESOURCES:
            registry.register(info)
        return registry

    def register(self, info: ResourceInfo) -> None:
        """Add or replace the entry for `info.gvk`.

        Raises ValueError if another kind already uses the same (group, version, plural).
        """
        key = (info.group, info.version, info.plural)
        other = self._by_gvr.get(key)
        if other is not None and other.gvk != info.gvk:
            raise ValueError(f"{info.plural} in {info.gvk.api_version} is already {other.kind}")
        old = self._by_gvk.get(info.gvk)
        if old is not None:
            self._by_gvr.pop((old.group, old.version, old.plural), None)
        self._by_gvk[info.gvk] = info
        self._by_gvr[key] = info
        self.revision += 1

    def unregister(self, gvk: GroupVersionKind) -> ResourceInfo | None:
        """Remove and return the entry for `gvk` (None if there was none)."""
        info = self._by_gvk.pop(gvk, None)
        if info is not None:
            del self._by_gvr[(info.group, info.version, info.plural)]
            self.revision += 1
        return info

    def get(self, gvk: GroupVersionKind) -> ResourceInfo | None:
        return self._by_gvk.get(gvk)

    def by_resource(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        return self._by_gvr.get((group, version, plural))

    def __iter__(self) -> Iterator[ResourceInfo]:
        return iter(list(self._by_gvk.values()))

    def __len__(self) -> int:
        return len(self._by_gvk)

    def __contains__(self, gvk: object) -> bool:
        return gvk in self._by_gvk

    def group_versions(self) -> dict[str, list[str]]:
        """Group name -> the versions served in it, in registration order."""
        groups: dict[str, list[str]] = {}
        for info in self._by_gvk.values():
            versions = groups.setdefault(info.group, [])
            if info.version not in versions:
                versions.append(info.version)
        return groups

    def in_group_version(self, group: str, version: str) -> list[ResourceInfo]:
        return [i for i in self._by_gvk.values() if i.group == group and i.version == version]

    def register_all(self, infos: Iterable[ResourceInfo]) -> None:
        for info in infos:
            self.register(info)
