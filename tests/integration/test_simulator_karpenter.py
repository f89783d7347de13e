"""The simulated Karpenter on the embedded API server with real informers: the NodeClaim
lifecycle and its Node, the launch-failure convention, deletions in both directions, failure
injection, and an informer's view of the condition order."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry
from test_simulator_support import (
    NODE,
    NODECLAIM,
    POD,
    condition,
    eventually,
    is_true,
    nodeclaim,
    nodeclaim_crd,
    pod,
    simulating,
)

from controllers.simulation.karpenter import KarpenterActor
from framework.envtest.simulator import Actor, FailureInjection, Kubelet
from framework.informer import EventHandler, Informer

JSON = dict[str, Any]
ORDER = ("Launched", "Registered", "Initialized", "Ready")


def true_conditions(claim: JSON) -> tuple[str, ...]:
    return tuple(c for c in ORDER if is_true(claim, c))


async def test_nodeclaim_goes_launched_registered_initialized_ready_with_a_ready_node() -> None:
    async with simulating([KarpenterActor()], crds=[nodeclaim_crd()]) as cluster:
        seen: list[tuple[str, ...]] = []
        informer = Informer(cluster.client, NODECLAIM, registry=CollectorRegistry())
        informer.add_handler(
            EventHandler(
                on_add=lambda obj, _: seen.append(true_conditions(obj)),
                on_update=lambda _, new: seen.append(true_conditions(new)),
            )
        )
        informer.start()
        try:
            await cluster.client.create(nodeclaim("ws-gpu-0", "Standard_NC12s_v3"))
            ready = await eventually(
                lambda: cluster.get(NODECLAIM, "ws-gpu-0"), lambda c: is_true(c, "Ready")
            )

            async def cached() -> JSON | None:
                return informer.store.get("ws-gpu-0")

            await eventually(cached, lambda c: is_true(c, "Ready"))
        finally:
            await informer.stop()

        progression = [state for i, state in enumerate(seen) if i == 0 or state != seen[i - 1]]
        assert progression == [ORDER[:n] for n in range(len(ORDER) + 1)]
        assert ready is not None
        status = ready["status"]
        assert status["nodeName"] == "ws-gpu-0"
        assert status["providerID"] == "simulated:///ws-gpu-0"
        assert status["capacity"]["nvidia.com/gpu"] == "1"
        assert condition(ready, "Launched")["reason"] == "Launched"

        node = await cluster.get(NODE, "ws-gpu-0")
        assert node is not None
        assert is_true(node, "Ready")
        labels = node["metadata"]["labels"]
        assert labels["karpenter.sh/nodepool"] == "kaito"
        assert labels["node.kubernetes.io/instance-type"] == "Standard_NC12s_v3"
        assert labels["karpenter.sh/initialized"] == "true"
        assert node["metadata"]["ownerReferences"][0]["uid"] == ready["metadata"]["uid"]
        assert node["spec"]["taints"] == [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}]
        assert node["status"]["capacity"]["nvidia.com/gpu"] == "1"


async def test_failing_instance_type_is_never_launched() -> None:
    async with simulating([KarpenterActor()], crds=[nodeclaim_crd()]) as cluster:
        await cluster.client.create(nodeclaim("ws-fail-0", "fail.provision"))

        failed = await eventually(
            lambda: cluster.get(NODECLAIM, "ws-fail-0"),
            lambda c: condition(c, "Launched").get("status") == "False",
        )
        launched = condition(failed, "Launched")
        assert launched["reason"] == "LaunchFailed"
        assert launched["message"].startswith("InsufficientCapacityError")
        assert "fail.provision" in launched["message"]
        assert condition(failed, "Ready")["status"] == "False"

        # a later change leaves the claim unlaunched (a failed claim is at rest: the change
        # maps to no reconcile); the claims' events arrive in order, so once a claim created
        # after the change has been reconciled, the change has been seen
        await cluster.client.patch(NODECLAIM, "ws-fail-0", {"metadata": {"labels": {"poke": "1"}}})
        await cluster.client.create(nodeclaim("ws-after-0", "simulated.large"))
        await eventually(
            lambda: cluster.get(NODECLAIM, "ws-after-0"), lambda c: bool(condition(c, "Launched"))
        )
        still = await cluster.get(NODECLAIM, "ws-fail-0")
        assert condition(still, "Launched")["status"] == "False"
        assert condition(still, "Registered")["status"] == "Unknown"
        assert await cluster.get(NODE, "ws-fail-0") is None


async def test_deleting_a_nodeclaim_deletes_its_node_and_the_pods_on_it() -> None:
    actors: list[Actor] = [KarpenterActor(), Kubelet()]
    async with simulating(actors, crds=[nodeclaim_crd()]) as cluster:
        await cluster.client.create(nodeclaim("ws-0", "Standard_NC6"))
        await eventually(lambda: cluster.get(NODECLAIM, "ws-0"), lambda c: is_true(c, "Ready"))
        tolerate = [{"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
        await cluster.client.create(
            pod(
                "inference",
                "example.com/inference:1",
                nodeSelector={"karpenter.sh/nodepool": "kaito"},
                tolerations=tolerate,
            )
        )
        running = await eventually(
            lambda: cluster.get(POD, "inference", "default"), lambda p: is_true(p, "Ready")
        )
        assert running is not None
        assert running["spec"]["nodeName"] == "ws-0"

        await cluster.client.delete(NODECLAIM, "ws-0")

        await eventually(lambda: cluster.get(NODE, "ws-0"), lambda n: n is None)
        await eventually(lambda: cluster.get(POD, "inference", "default"), lambda p: p is None)


async def test_deleting_the_node_of_a_registered_nodeclaim_deletes_the_claim() -> None:
    async with simulating([KarpenterActor()], crds=[nodeclaim_crd()]) as cluster:
        await cluster.client.create(nodeclaim("ws-1", "Standard_NC6"))
        await eventually(lambda: cluster.get(NODECLAIM, "ws-1"), lambda c: is_true(c, "Ready"))

        await cluster.client.delete(NODE, "ws-1")

        await eventually(lambda: cluster.get(NODECLAIM, "ws-1"), lambda c: c is None)


async def test_injected_launch_failure_looks_like_a_capacity_error() -> None:
    failures = FailureInjection({"karpenter": 1.0})
    async with simulating([KarpenterActor()], crds=[nodeclaim_crd()], failures=failures) as cluster:
        await cluster.client.create(nodeclaim("ws-2", "Standard_NC6"))

        failed = await eventually(
            lambda: cluster.get(NODECLAIM, "ws-2"),
            lambda c: condition(c, "Launched").get("status") == "False",
        )
        assert condition(failed, "Launched")["reason"] == "LaunchFailed"
        assert "injected" in condition(failed, "Launched")["message"]
