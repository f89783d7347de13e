"""KubeObject: binding to a kind, camelCase wire form, unknown fields kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from framework.models import KubeObject, ObjectMeta
from framework.resources import GroupVersionKind, ResourceInfo

GADGET = ResourceInfo(
    gvk=GroupVersionKind("example.dev", "v1", "Gadget"),
    plural="gadgets",
    singular="gadget",
    namespaced=True,
)


class Gadget(KubeObject):
    __resource__ = GADGET

    spec: dict[str, Any] = {}


def test_bound_class_fills_type_meta() -> None:
    gadget = Gadget(metadata=ObjectMeta(name="g", namespace="ns"))
    assert (gadget.api_version, gadget.kind) == ("example.dev/v1", "Gadget")
    assert gadget.gvk == GADGET.gvk
    assert Gadget.resource_info() is GADGET


def test_unbound_class_has_no_resource() -> None:
    with pytest.raises(TypeError, match="not bound"):
        KubeObject.resource_info()


def test_wire_form_round_trips_with_camel_case_and_unknown_fields() -> None:
    wire = {
        "apiVersion": "example.dev/v1",
        "kind": "Gadget",
        "metadata": {
            "name": "g",
            "namespace": "ns",
            "resourceVersion": "7",
            "generateName": "g-",
            "creationTimestamp": "2026-01-02T03:04:05Z",
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u", "controller": True}
            ],
            "managedFields": [{"manager": "kubectl"}],
        },
        "spec": {"replicas": 2},
        "status": {"atProvider": {"id": "x"}},
    }
    gadget = Gadget.model_validate(wire)
    assert gadget.metadata.resource_version == "7"
    assert gadget.metadata.creation_timestamp == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert gadget.metadata.owner_references[0].controller is True
    dumped = gadget.to_dict()
    assert dumped["status"] == {"atProvider": {"id": "x"}}
    assert dumped["metadata"]["managedFields"] == [{"manager": "kubectl"}]
    assert dumped["metadata"]["creationTimestamp"] == "2026-01-02T03:04:05Z"
    assert dumped["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u", "controller": True}
    ]
    assert "deletionTimestamp" not in dumped["metadata"]


def test_snake_case_names_are_accepted_too() -> None:
    meta = ObjectMeta(resource_version="3", generate_name="x-")
    assert meta.to_dict() == {
        "resourceVersion": "3",
        "generateName": "x-",
        "labels": {},
        "annotations": {},
        "finalizers": [],
        "ownerReferences": [],
    }
