"""Owner references: controller-runtime's rules on dicts and KubeObjects, scope from a resource
registry or from metadata.namespace, and the owner label/annotation pattern."""

from __future__ import annotations

from typing import Any

import pytest

from framework.models import KubeObject, ObjectMeta, OwnerReference
from framework.ownership import (
    OWNER_ANNOTATION,
    OWNER_UID_LABEL,
    AlreadyOwnedError,
    OwnershipError,
    get_controller_of,
    is_controlled_by,
    owner_annotations,
    owner_from_child,
    owner_labels,
    set_controller_reference,
    set_owner_reference,
)
from framework.resources import GroupVersionKind, ResourceInfo, ResourceRegistry


def obj(
    kind: str,
    name: str,
    namespace: str | None = "default",
    uid: str | None = None,
    api_version: str = "example.com/v1",
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": uid or f"uid-{name}"}
    if namespace is not None:
        meta["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


def test_controller_reference_on_a_dict() -> None:
    owner, child = obj("Workspace", "w"), obj("ConfigMap", "c", api_version="v1")
    set_controller_reference(owner, child)
    assert child["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "example.com/v1",
            "kind": "Workspace",
            "name": "w",
            "uid": "uid-w",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert is_controlled_by(child, owner)
    controller = get_controller_of(child)
    assert controller is not None
    assert controller.name == "w"


def test_controller_reference_on_kube_objects() -> None:
    owner = KubeObject(
        api_version="example.com/v1",
        kind="Workspace",
        metadata=ObjectMeta(name="w", namespace="ns", uid="u1"),
    )
    child = KubeObject(api_version="v1", kind="Secret", metadata=ObjectMeta(namespace="ns"))
    set_controller_reference(owner, child)
    assert child.metadata.owner_references == [
        OwnerReference(
            api_version="example.com/v1",
            kind="Workspace",
            name="w",
            uid="u1",
            controller=True,
            block_owner_deletion=True,
        )
    ]
    assert is_controlled_by(child, owner)


def test_another_controller_is_refused_and_named() -> None:
    child = obj("ConfigMap", "c")
    set_controller_reference(obj("Workspace", "first"), child)
    with pytest.raises(AlreadyOwnedError, match="first") as raised:
        set_controller_reference(obj("Workspace", "second"), child)
    assert raised.value.existing.name == "first"
    assert len(child["metadata"]["ownerReferences"]) == 1
    assert not is_controlled_by(child, obj("Workspace", "second"))


def test_same_controller_again_replaces_its_reference() -> None:
    """Same group, kind and name (another version, a new uid) is the same owner: replaced."""
    child = obj("ConfigMap", "c")
    set_controller_reference(obj("Workspace", "w", uid="old"), child)
    set_controller_reference(obj("Workspace", "w", uid="new", api_version="example.com/v2"), child)
    refs = child["metadata"]["ownerReferences"]
    assert [(r["apiVersion"], r["uid"]) for r in refs] == [("example.com/v2", "new")]


def test_owner_references_are_kept_beside_the_controller() -> None:
    child = obj("ConfigMap", "c")
    set_owner_reference(obj("Team", "t"), child)
    set_controller_reference(obj("Workspace", "w"), child)
    set_owner_reference(obj("Project", "p"), child)
    refs = child["metadata"]["ownerReferences"]
    assert [(r["kind"], r.get("controller")) for r in refs] == [
        ("Team", None),
        ("Workspace", True),
        ("Project", None),
    ]
    assert "blockOwnerDeletion" not in refs[0]


def test_owner_reference_demotes_the_same_controller() -> None:
    owner, child = obj("Workspace", "w"), obj("ConfigMap", "c")
    set_controller_reference(owner, child)
    set_owner_reference(owner, child)
    assert get_controller_of(child) is None
    assert len(child["metadata"]["ownerReferences"]) == 1


@pytest.mark.parametrize("setter", [set_controller_reference, set_owner_reference])
def test_cross_namespace_is_refused(setter: Any) -> None:
    child = obj("ConfigMap", "c", namespace="b")
    with pytest.raises(OwnershipError, match="cross-namespace"):
        setter(obj("Workspace", "w", namespace="a"), child)
    assert "ownerReferences" not in child["metadata"]


@pytest.mark.parametrize("setter", [set_controller_reference, set_owner_reference])
def test_namespaced_owner_of_a_cluster_scoped_object_is_refused(setter: Any) -> None:
    with pytest.raises(OwnershipError, match="cluster-scoped"):
        setter(obj("Workspace", "w", namespace="a"), obj("NodeClaim", "n", namespace=None))


def test_cluster_scoped_owner_may_own_anything() -> None:
    owner = obj("Cluster", "c", namespace=None)
    namespaced, cluster_scoped = obj("ConfigMap", "x", namespace="a"), obj("Node", "n", None)
    set_controller_reference(owner, namespaced)
    set_controller_reference(owner, cluster_scoped)
    assert is_controlled_by(namespaced, owner)
    assert is_controlled_by(cluster_scoped, owner)


def test_scope_comes_from_the_registry_when_it_knows_the_kind() -> None:
    """A namespaced child not yet given a namespace: the registry knows it is namespaced, so
    the rule is the namespace one, not the cluster-scope one."""
    resources = ResourceRegistry.with_builtins()
    resources.register(
        ResourceInfo(
            gvk=GroupVersionKind("example.com", "v1", "Workspace"),
            plural="workspaces",
            singular="workspace",
            namespaced=True,
        )
    )
    owner = obj("Workspace", "w", namespace="a")
    child = obj("ConfigMap", "c", namespace=None, api_version="v1")
    with pytest.raises(OwnershipError, match="cross-namespace"):
        set_controller_reference(owner, child, resources=resources)
    with pytest.raises(OwnershipError, match="cluster-scoped"):
        set_controller_reference(owner, child)
    # A kind the registry does not know falls back to metadata.namespace.
    unknown_child = obj("Gadget", "g", namespace="a")
    set_controller_reference(owner, unknown_child, resources=resources)
    assert is_controlled_by(unknown_child, owner)


def test_an_owner_must_be_stored() -> None:
    owner = obj("Workspace", "w")
    del owner["metadata"]["uid"]
    with pytest.raises(OwnershipError, match="uid"):
        set_controller_reference(owner, obj("ConfigMap", "c"))


def test_is_controlled_by_compares_uids() -> None:
    child = obj("ConfigMap", "c")
    set_controller_reference(obj("Workspace", "w", uid="1"), child)
    assert not is_controlled_by(child, obj("Workspace", "w", uid="2"))
    assert not is_controlled_by(obj("ConfigMap", "free"), obj("Workspace", "w", uid="1"))


def test_owner_label_and_annotation_round_trip() -> None:
    owner = obj("Workspace", "w", namespace="team-a", uid="0f6b1c8e-4b7f-4c3a-9d36-bb3c2c1d2e3f")
    child = obj("NodeClaim", "n", namespace=None)
    child["metadata"]["labels"] = owner_labels(owner)
    child["metadata"]["annotations"] = owner_annotations(owner)
    assert child["metadata"]["labels"] == {OWNER_UID_LABEL: "0f6b1c8e-4b7f-4c3a-9d36-bb3c2c1d2e3f"}
    assert child["metadata"]["annotations"] == {OWNER_ANNOTATION: "team-a/w"}
    assert owner_from_child(child) == ("team-a", "w")


def test_owner_from_child_without_annotation_or_cluster_scoped_owner() -> None:
    assert owner_from_child(obj("NodeClaim", "n", namespace=None)) is None
    child = obj("NodeClaim", "n", namespace=None)
    child["metadata"]["annotations"] = owner_annotations(obj("Cluster", "c", namespace=None))
    assert owner_from_child(child) == ("", "c")


def test_owner_label_refuses_values_a_label_cannot_hold() -> None:
    with pytest.raises(OwnershipError, match="63"):
        owner_labels(obj("Workspace", "w", uid="x" * 64))
    assert owner_labels(obj("Workspace", "w", uid="x" * 63)) == {OWNER_UID_LABEL: "x" * 63}
