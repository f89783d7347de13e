"""RBAC declared in code: what each reconciler may do, rendered as a least-privilege ClusterRole.

A reconciler class states the permissions its own code needs with the `@rbac(...)` decorator
(stackable, one rule per use, inherited by subclasses), as kubebuilder's `+kubebuilder:rbac`
markers do; `framework_permissions(resource)` adds what the framework needs for the reconciler's
primary kind. `build_cluster_role` merges all of them deterministically: verbs are first
combined per (group, resource), then resources that end up with the same verbs in the same
group share one rule; rules are sorted by group, resources, verbs, as in controller-gen's
role.yaml. Wildcards are refused everywhere: `Permission` rejects "*".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml

from framework.resources import STANDARD_VERBS, ResourceInfo

__all__ = [
    "KNOWN_VERBS",
    "Permission",
    "build_cluster_role",
    "declared_permissions",
    "framework_permissions",
    "rbac",
    "role_to_yaml",
]

KNOWN_VERBS: frozenset[str] = frozenset(
    {*STANDARD_VERBS, "approve", "bind", "escalate", "impersonate", "sign", "use"}
)
_GROUP = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$")
_RESOURCE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(/[a-z0-9]+)?$")

_T = TypeVar("_T", bound=type)


@dataclass(frozen=True, slots=True)
class Permission:
    """Allow `verbs` on `resources` ("pods", "pods/status") of API group `group` ("" is core).

    Resources and verbs are stored sorted and de-duplicated, so equal grants compare equal.
    ValueError on a wildcard, an unknown verb, a malformed group or resource, or an empty
    list; TypeError when a bare string is passed where a tuple is expected.
    """

    group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]

    def __post_init__(self) -> None:
        if "*" in self.group or not _GROUP.match(self.group):
            raise ValueError(f"invalid API group {self.group!r} (wildcards are not allowed)")
        for name, values, valid in (
            ("resources", self.resources, _RESOURCE.match),
            ("verbs", self.verbs, KNOWN_VERBS.__contains__),
        ):
            if isinstance(values, str):
                raise TypeError(f"{name} must be a tuple of strings, not the string {values!r}")
            if not values:
                raise ValueError(f"{name} must not be empty")
            bad = sorted(value for value in values if "*" in value or not valid(value))
            if bad:
                raise ValueError(f"invalid {name} {bad} (wildcards are not allowed)")
            object.__setattr__(self, name, tuple(sorted(set(values))))


def rbac(group: str, resources: tuple[str, ...], verbs: tuple[str, ...]) -> Callable[[_T], _T]:
    """Class decorator: the decorated reconciler needs `verbs` on `resources` in `group`
    (validated at once, as `Permission`)."""
    permission = Permission(group, resources, verbs)

    def declare(cls: _T) -> _T:
        own = cls.__dict__.get("__rbac__", ())
        cls.__rbac__ = (*own, permission)  # type: ignore[attr-defined]
        return cls

    return declare


def declared_permissions(cls: type) -> tuple[Permission, ...]:
    """The permissions declared with `@rbac` on `cls` and its base classes (bases first)."""
    return tuple(
        permission
        for klass in reversed(cls.__mro__)
        for permission in klass.__dict__.get("__rbac__", ())
    )


def framework_permissions(resource: ResourceInfo) -> list[Permission]:
    """What the framework needs to reconcile `resource` as a primary kind.

    The kind itself: get/list/watch for the informer and cache, patch for finalizers;
    `<plural>/status` get/update/patch for the status writer; `<plural>/finalizers` update
    (owner references with blockOwnerDeletion); events.k8s.io events create/patch.
    """
    plural = resource.plural
    return [
        Permission(resource.group, (plural,), ("get", "list", "patch", "watch")),
        Permission(resource.group, (f"{plural}/status",), ("get", "patch", "update")),
        Permission(resource.group, (f"{plural}/finalizers",), ("update",)),
        Permission("events.k8s.io", ("events",), ("create", "patch")),
    ]


def build_cluster_role(
    name: str, permissions: Iterable[Permission], labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A rbac.authorization.k8s.io/v1 ClusterRole granting exactly the union of `permissions`,
    with the fewest rules and a deterministic order (see the module docstring)."""
    verbs_of: dict[tuple[str, str], set[str]] = {}
    for permission in permissions:
        for resource in permission.resources:
            verbs_of.setdefault((permission.group, resource), set()).update(permission.verbs)
    resources_of: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for (group, resource), verbs in verbs_of.items():
        resources_of.setdefault((group, tuple(sorted(verbs))), []).append(resource)
    rules = sorted(
        (group, sorted(resources), list(verbs))
        for (group, verbs), resources in resources_of.items()
    )
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = dict(labels)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": metadata,
        "rules": [
            {"apiGroups": [group], "resources": resources, "verbs": verbs}
            for group, resources, verbs in rules
        ],
    }


def role_to_yaml(role: Mapping[str, Any]) -> str:
    """A YAML document (`---` first) with sorted keys, as controller-gen writes role.yaml."""
    return "---\n" + yaml.safe_dump(dict(role), sort_keys=True, default_flow_style=False)
