"""RBAC declarations: validation, the @rbac decorator, framework permissions, and the merged,
deterministic ClusterRole."""

from typing import Any

import pytest
import yaml

from framework.rbac import (
    Permission,
    build_cluster_role,
    declared_permissions,
    framework_permissions,
    rbac,
    role_to_yaml,
)
from framework.resources import GroupVersionKind, ResourceInfo

WIDGETS = ResourceInfo(
    gvk=GroupVersionKind("test.kubeloop.dev", "v1", "Widget"),
    plural="widgets",
    singular="widget",
    namespaced=True,
    subresources=frozenset({"status"}),
)


def rules(permissions: list[Permission]) -> list[dict[str, Any]]:
    role = build_cluster_role("manager-role", permissions)
    out: list[dict[str, Any]] = role["rules"]
    return out


def test_permission_sorts_and_deduplicates() -> None:
    permission = Permission("apps", ("statefulsets", "deployments", "deployments"), ("list", "get"))
    assert permission.resources == ("deployments", "statefulsets")
    assert permission.verbs == ("get", "list")
    assert permission == Permission("apps", ("statefulsets", "deployments"), ("get", "list"))


@pytest.mark.parametrize(
    ("group", "resources", "verbs"),
    [
        ("*", ("pods",), ("get",)),
        ("", ("*",), ("get",)),
        ("", ("pods/*",), ("get",)),
        ("", ("pods",), ("*",)),
        ("", ("pods",), ("get", "*")),
    ],
)
def test_wildcards_are_refused(
    group: str, resources: tuple[str, ...], verbs: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError, match="wildcards are not allowed"):
        Permission(group, resources, verbs)


@pytest.mark.parametrize(
    ("group", "resources", "verbs", "message"),
    [
        ("", ("pods",), ("fetch",), "invalid verbs"),
        ("", ("Pods",), ("get",), "invalid resources"),
        ("", ("pods/",), ("get",), "invalid resources"),
        ("Apps", ("deployments",), ("get",), "invalid API group"),
        ("", (), ("get",), "resources must not be empty"),
        ("", ("pods",), (), "verbs must not be empty"),
    ],
)
def test_invalid_permissions(
    group: str, resources: tuple[str, ...], verbs: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Permission(group, resources, verbs)


def test_bare_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="tuple of strings"):
        Permission("", "pods", ("get",))  # type: ignore[arg-type]


def test_special_verbs_and_subresources_are_accepted() -> None:
    assert Permission("", ("serviceaccounts",), ("impersonate",)).verbs == ("impersonate",)
    assert Permission("", ("pods/log", "pods/exec"), ("get",)).resources == (
        "pods/exec",
        "pods/log",
    )


def test_rbac_decorator_stacks_and_is_inherited() -> None:
    @rbac("", ("pods",), ("get", "list", "watch"))
    @rbac("apps", ("deployments",), ("create",))
    class Base:
        pass

    @rbac("batch", ("jobs",), ("delete",))
    class Child(Base):
        pass

    class Unrelated:
        pass

    assert declared_permissions(Base) == (
        Permission("apps", ("deployments",), ("create",)),
        Permission("", ("pods",), ("get", "list", "watch")),
    )
    assert declared_permissions(Child) == (
        *declared_permissions(Base),
        Permission("batch", ("jobs",), ("delete",)),
    )
    assert declared_permissions(Unrelated) == ()


def test_rbac_decorator_validates_at_declaration() -> None:
    with pytest.raises(ValueError, match="wildcards"):
        rbac("", ("pods",), ("*",))


def test_framework_permissions() -> None:
    assert framework_permissions(WIDGETS) == [
        Permission("test.kubeloop.dev", ("widgets",), ("get", "list", "patch", "watch")),
        Permission("test.kubeloop.dev", ("widgets/status",), ("get", "patch", "update")),
        Permission("test.kubeloop.dev", ("widgets/finalizers",), ("update",)),
        Permission("events.k8s.io", ("events",), ("create", "patch")),
    ]


def test_resources_with_the_same_verbs_share_a_rule() -> None:
    assert rules(
        [
            Permission("apps", ("statefulsets",), ("get", "list")),
            Permission("apps", ("deployments",), ("list", "get")),
            Permission("apps", ("replicasets",), ("get",)),
        ]
    ) == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments", "statefulsets"],
            "verbs": ["get", "list"],
        },
        {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get"]},
    ]


def test_verbs_are_combined_per_resource_before_grouping() -> None:
    assert rules(
        [
            Permission("", ("pods",), ("get",)),
            Permission("", ("pods",), ("watch", "list")),
            Permission("", ("configmaps",), ("get", "list", "watch")),
        ]
    ) == [
        {"apiGroups": [""], "resources": ["configmaps", "pods"], "verbs": ["get", "list", "watch"]}
    ]


def test_groups_are_never_merged_and_rules_are_sorted() -> None:
    merged = rules(
        [
            Permission("test.kubeloop.dev", ("widgets",), ("get",)),
            Permission("", ("secrets",), ("get",)),
            Permission("apps", ("deployments",), ("get",)),
            Permission("", ("events",), ("create",)),
        ]
    )
    assert [(r["apiGroups"], r["resources"]) for r in merged] == [
        ([""], ["events"]),
        ([""], ["secrets"]),
        (["apps"], ["deployments"]),
        (["test.kubeloop.dev"], ["widgets"]),
    ]


def test_role_is_independent_of_declaration_order() -> None:
    permissions = [
        *framework_permissions(WIDGETS),
        Permission("", ("pods",), ("get", "list", "watch")),
        Permission("apps", ("deployments",), ("create", "delete", "get")),
        Permission("test.kubeloop.dev", ("widgets",), ("update",)),
    ]
    role = build_cluster_role("manager-role", permissions)
    assert build_cluster_role("manager-role", permissions[::-1]) == role
    assert build_cluster_role("manager-role", permissions * 2) == role
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    wanted = {
        (p.group, resource, verb)
        for p in permissions
        for resource in p.resources
        for verb in p.verbs
    }
    assert granted == wanted, "exactly the union: nothing lost, nothing added"
    assert "*" not in str(role)


def test_cluster_role_document_and_yaml() -> None:
    role = build_cluster_role(
        "manager-role",
        [
            Permission("", ("pods",), ("get",)),
            Permission("events.k8s.io", ("events",), ("create",)),
        ],
        labels={"app.kubernetes.io/name": "kubeloop"},
    )
    text = role_to_yaml(role)
    assert yaml.safe_load(text) == role
    assert text == (
        "---\n"
        "apiVersion: rbac.authorization.k8s.io/v1\n"
        "kind: ClusterRole\n"
        "metadata:\n"
        "  labels:\n"
        "    app.kubernetes.io/name: kubeloop\n"
        "  name: manager-role\n"
        "rules:\n"
        "- apiGroups:\n"
        "  - ''\n"
        "  resources:\n"
        "  - pods\n"
        "  verbs:\n"
        "  - get\n"
        "- apiGroups:\n"
        "  - events.k8s.io\n"
        "  resources:\n"
        "  - events\n"
        "  verbs:\n"
        "  - create\n"
    )


def test_empty_role_has_no_rules() -> None:
    role = build_cluster_role("empty", [])
    assert role["rules"] == []
    assert role["metadata"] == {"name": "empty"}
