"""The simulated Karpenter's conventions: instance type and node pool, the launch-failure rule,
the Node it creates, and the keys its events map to."""

from __future__ import annotations

from typing import Any, cast

import pytest

from controllers.simulation.karpenter import (
    DEFAULT_INSTANCE_TYPE,
    NODECLAIM,
    KarpenterActor,
    instance_type,
    launch_fails,
    node_for,
)
from framework.envtest.simulator.engine import ObjectKey, World

JSON = dict[str, Any]


def claim(*requirements: JSON, labels: dict[str, str] | None = None, **spec: Any) -> JSON:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {"name": "ws-0", "uid": "uid-1", "labels": labels or {}},
        "spec": {"requirements": list(requirements), **spec},
    }


def requirement(key: str, *values: str, operator: str = "In") -> JSON:
    return {"key": key, "operator": operator, "values": list(values)}


INSTANCE = "node.kubernetes.io/instance-type"
INITIALIZED = "karpenter.sh/initialized"


def test_instance_type_comes_from_the_requirement_then_the_label_then_the_default() -> None:
    assert instance_type(claim(requirement(INSTANCE, "Standard_NC6", "Standard_NC12"))) == (
        "Standard_NC6"
    )
    assert (
        instance_type(claim(requirement(INSTANCE, "x", operator="NotIn"))) == DEFAULT_INSTANCE_TYPE
    )
    assert instance_type(claim(labels={INSTANCE: "m5.large"})) == "m5.large"
    assert instance_type(claim()) == DEFAULT_INSTANCE_TYPE


@pytest.mark.parametrize(
    ("instance", "fails"),
    [
        ("fail.provision", True),
        ("Standard_FAIL_v2", True),
        ("Standard_NC6", False),
        ("m5.large", False),
    ],
)
def test_launch_failure_convention(instance: str, fails: bool) -> None:
    assert launch_fails(instance) is fails


def test_the_node_carries_labels_taints_provider_id_and_the_claim_as_controller() -> None:
    taints = [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}]
    source = claim(
        requirement(INSTANCE, "Standard_NC12s_v3"),
        requirement("karpenter.sh/nodepool", "kaito"),
        requirement("kubernetes.io/os", "linux", "windows"),
        labels={"kaito.sh/workspace": "ws"},
        taints=taints,
    )
    source["status"] = {"providerID": "simulated:///ws-0"}
    node = node_for(source)
    labels = node["metadata"]["labels"]
    assert labels[INSTANCE] == "Standard_NC12s_v3"
    assert labels["karpenter.sh/nodepool"] == "kaito"
    assert labels["kaito.sh/workspace"] == "ws"
    assert labels["kubernetes.io/hostname"] == "ws-0"
    assert labels["kubernetes.io/os"] == "linux"  # a multi-valued requirement is no label
    assert node["spec"] == {"providerID": "simulated:///ws-0", "taints": taints}
    owner = node["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "NodeClaim",
        "ws-0",
        "uid-1",
        True,
    )


def test_events_map_to_the_claim_itself_or_the_claim_controlling_a_node() -> None:
    actor = KarpenterActor()
    world = cast(World, object())
    node = node_for(claim())
    stranger = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "other"}}
    assert list(actor.keys_for(world, claim())) == [ObjectKey(NODECLAIM, "ws-0")]
    assert list(actor.keys_for(world, node)) == [ObjectKey(NODECLAIM, "ws-0")]
    assert list(actor.keys_for(world, stranger)) == []


def test_updates_map_to_a_claim_until_it_is_at_rest_and_to_it_when_its_node_moves() -> None:
    actor, world = KarpenterActor(), cast(World, object())
    key = ObjectKey(NODECLAIM, "ws-0")

    def with_conditions(obj: JSON, **statuses: str) -> JSON:
        conditions = [{"type": type_, "status": status} for type_, status in statuses.items()]
        return {**obj, "status": {"conditions": conditions}}

    launching = with_conditions(claim(), Launched="Unknown", Ready="Unknown")
    assert list(actor.keys_for_update(world, claim(), launching)) == [key]
    done = with_conditions(claim(), Launched="True", Ready="True")
    failed = with_conditions(claim(), Launched="False", Ready="False")
    assert list(actor.keys_for_update(world, launching, done)) == []
    assert list(actor.keys_for_update(world, launching, failed)) == []
    deleting = {**done, "metadata": {**done["metadata"], "deletionTimestamp": "t"}}
    assert list(actor.keys_for_update(world, done, deleting)) == [key]

    node = node_for(claim())
    ready = with_conditions(node, Ready="True")
    assert list(actor.keys_for_update(world, node, ready)) == [key]
    relabelled = {**ready, "metadata": {**ready["metadata"], "labels": {"other": "x"}}}
    assert list(actor.keys_for_update(world, ready, relabelled)) == []
    initialized = {**ready, "metadata": {**ready["metadata"], "labels": {INITIALIZED: "true"}}}
    assert list(actor.keys_for_update(world, ready, initialized)) == [key]
