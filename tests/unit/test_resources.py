"""The resource registry: GVKs, the built-in table, lookups by GVK and by (group, version,
plural), register/unregister."""

from __future__ import annotations

import pytest

from framework.resources import (
    BUILTIN_RESOURCES,
    GroupVersionKind,
    ResourceInfo,
    ResourceRegistry,
)


def test_api_version() -> None:
    assert GroupVersionKind("", "v1", "Pod").api_version == "v1"
    assert GroupVersionKind("apps", "v1", "Deployment").api_version == "apps/v1"
    assert GroupVersionKind.from_api_version("apps/v1", "Deployment") == GroupVersionKind(
        "apps", "v1", "Deployment"
    )
    assert GroupVersionKind.from_api_version("v1", "Pod").group == ""


def test_builtin_table() -> None:
    registry = ResourceRegistry.with_builtins()
    pod = registry.get(GroupVersionKind("", "v1", "Pod"))
    assert pod is not None
    assert (pod.plural, pod.namespaced, pod.has_status, pod.list_kind) == (
        "pods",
        True,
        True,
        "PodList",
    )
    namespace = registry.by_resource("", "v1", "namespaces")
    assert namespace is not None
    assert not namespace.namespaced
    crd = registry.by_resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    assert crd is not None
    assert crd.short_names == ("crd", "crds")
    status_kinds = {i.kind for i in BUILTIN_RESOURCES if i.has_status}
    assert {"Node", "Pod", "Deployment", "ReplicaSet", "StatefulSet", "Job"} <= status_kinds
    assert "ConfigMap" not in status_kinds
    events = [i for i in BUILTIN_RESOURCES if i.plural == "events"]
    assert {i.group for i in events} == {"", "events.k8s.io"}


def test_same_plural_in_two_groups_is_fine() -> None:
    registry = ResourceRegistry()
    a = ResourceInfo(GroupVersionKind("a.io", "v1", "Thing"), "things", "thing", True)
    b = ResourceInfo(GroupVersionKind("b.io", "v1", "Thing"), "things", "thing", False)
    registry.register_all([a, b])
    assert registry.by_resource("a.io", "v1", "things") is a
    assert registry.by_resource("b.io", "v1", "things") is b
    assert len(registry) == 2


def test_register_unregister_and_revision() -> None:
    registry = ResourceRegistry()
    gvk = GroupVersionKind("x.io", "v1", "Widget")
    info = ResourceInfo(gvk, "widgets", "widget", True, subresources=frozenset({"status"}))
    start = registry.revision
    registry.register(info)
    assert gvk in registry
    assert registry.revision > start
    assert registry.group_versions() == {"x.io": ["v1"]}
    renamed = ResourceInfo(gvk, "widgetz", "widget", True)
    registry.register(renamed)
    assert registry.by_resource("x.io", "v1", "widgets") is None
    assert registry.by_resource("x.io", "v1", "widgetz") is renamed
    assert registry.unregister(gvk) is renamed
    assert registry.unregister(gvk) is None
    assert registry.by_resource("x.io", "v1", "widgetz") is None
    assert list(registry) == []


def test_plural_clash_within_a_group_version_is_refused() -> None:
    registry = ResourceRegistry()
    registry.register(ResourceInfo(GroupVersionKind("x.io", "v1", "A"), "things", "a", True))
    with pytest.raises(ValueError, match="already"):
        registry.register(ResourceInfo(GroupVersionKind("x.io", "v1", "B"), "things", "b", True))


def test_info_defaults() -> None:
    info = ResourceInfo(GroupVersionKind("x.io", "v1", "Widget"), "widgets", "widget", True)
    assert info.list_kind == "WidgetList"
    assert info.group_resource == "widgets.x.io"
    assert "watch" in info.verbs
