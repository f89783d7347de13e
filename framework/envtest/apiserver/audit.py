"""Request audit: which client made which kind of request, to check RBAC roles against.

The server records each distinct (user agent, verb, group, resource, subresource, namespace) it
served on an /api or /apis resource path after authentication; verbs are named as kube's
authorizer names them (get, list, watch, create, update, patch, delete, deletecollection).
`AuditSet.allowed_by(role)` answers which records a Role or ClusterRole does *not* allow, so a
test can assert that a controller's generated RBAC covers every request it made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, order=True)
class AuditRecord:
    """One kind of request: `namespace` is "" for cluster-scoped or all-namespace requests."""

    user_agent: str
    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""

    @property
    def combined_resource(self) -> str:
        """ "resource/subresource" as RBAC rules name it (just "resource" without one)."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def request_verb(method: str, named: bool, watch: bool) -> str:
    """The authorizer's verb for an HTTP method on a named object or a collection."""
    if method in ("GET", "HEAD"):
        if watch:
            return "watch"
        return "get" if named else "list"
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def _matches(values: Any, wanted: str) -> bool:
    return isinstance(values, list) and ("*" in values or wanted in values)


def _resource_matches(resources: Any, record: AuditRecord) -> bool:
    if not isinstance(resources, list):
        return False
    if "*" in resources or record.combined_resource in resources:
        return True
    return bool(record.subresource) and f"*/{record.subresource}" in resources


def rule_allows(rule: dict[str, Any], record: AuditRecord) -> bool:
    """Whether one PolicyRule allows the request kind, as RBAC decides it. Rules with
    `resourceNames` allow only requests for those names, which records do not keep: such
    rules allow no record."""
    return (
        not rule.get("resourceNames")
        and _matches(rule.get("verbs"), record.verb)
        and _matches(rule.get("apiGroups"), record.group)
        and _resource_matches(rule.get("resources"), record)
    )


class AuditSet(frozenset[AuditRecord]):
    """A frozen set of `AuditRecord`s with the RBAC check."""

    def allowed_by(self, role: dict[str, Any]) -> list[AuditRecord]:
        """The records the Role or ClusterRole `role` does NOT allow (sorted; empty if the
        role allows every one)."""
        rules = [r for r in role.get("rules") or [] if isinstance(r, dict)]
        return sorted(r for r in self if not any(rule_allows(rule, r) for rule in rules))

    def of_user_agent(self, prefix: str) -> AuditSet:
        """The records of clients whose user agent starts with `prefix`."""
        return AuditSet(r for r in self if r.user_agent.startswith(prefix))


class AuditLog:
    """The distinct requests served so far."""

    def __init__(self) -> None:
        self._records: set[AuditRecord] = set()

    def record(self, record: AuditRecord) -> None:
        self._records.add(record)

    @property
    def records(self) -> AuditSet:
        return AuditSet(self._records)
