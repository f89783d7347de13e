"""Simulated Karpenter: NodeClaims (karpenter.sh/v1, cluster-scoped) become Nodes.

A NodeClaim goes through these steps, one per reconcile:
1. Conditions Launched, Registered, Initialized and Ready are set Unknown (reason
   AwaitingReconciliation).
2. After stage `karpenter.launch`: Launched=True, with status.providerID
   (`simulated:///<claim>`), imageID, capacity and allocatable.
3. After `karpenter.register`: a Node named after the claim is created, controlled by the
   claim, with the labels below, the claim's `spec.taints`, `spec.providerID`, and a Ready
   status carrying the claim's capacity; then Registered=True and status.nodeName.
4. After `karpenter.initialize`, once the Node is Ready: the Node is labelled
   `karpenter.sh/initialized=true`; Initialized=True.
5. After `karpenter.ready`: Ready=True.

Launch failure convention: an instance type whose name contains `fail` (case-insensitive),
e.g. `fail.provision`, never launches: at step 2 the claim gets Launched=False and Ready=False,
both with reason LaunchFailed and a message starting "InsufficientCapacityError", and stays so.
A failure injected by the simulator fails the launch the same way.

Deleting a NodeClaim (or marking it for deletion) deletes its Node, and the kubelet then deletes
the Pods bound to it; deleting the Node of a registered NodeClaim deletes the claim, as
Karpenter does.

The instance type is the first value of the claim's `node.kubernetes.io/instance-type`
requirement with operator In, else the claim's label of that name, else `simulated.large`; the
node pool likewise comes from `karpenter.sh/nodepool`. The Node's labels: the claim's labels,
every single-valued In requirement, the instance type and node pool, `kubernetes.io/hostname`,
`kubernetes.io/os=linux`, `kubernetes.io/arch=amd64`, `karpenter.sh/capacity-type=on-demand`
and `karpenter.sh/registered=true`. Capacity: 8 CPUs, 32Gi memory, 110 pods, 100Gi ephemeral
storage, one `nvidia.com/gpu` when the instance type's name contains `gpu` or starts with
`standard_n` (Azure N-series), and any other resource the claim requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from api.external.karpenter import GROUP, INSTANCE_TYPE_LABEL, VERSION
from framework.conditions import ConditionStatus, condition_entry, set_condition_entry
from framework.envtest.simulator.engine import ObjectKey, Stage, World
from framework.envtest.simulator.kubelet import DEFAULT_NODE_CAPACITY, mark_node_ready
from framework.envtest.simulator.objects import (
    NODE,
    condition_true,
    conditions_of,
    controller_key,
    deleting,
    meta,
    timestamp,
)
from framework.errors import NotFound
from framework.informer import IndexFunc
from framework.ownership import set_controller_reference
from framework.resources import GroupVersionKind

__all__ = [
    "DEFAULT_INSTANCE_TYPE",
    "INITIALIZE",
    "LAUNCH",
    "NODECLAIM",
    "READY",
    "REGISTER",
    "KarpenterActor",
    "instance_type",
    "launch_fails",
    "node_for",
]

JSON = dict[str, Any]

NODECLAIM: Final = GroupVersionKind(GROUP, VERSION, "NodeClaim")
NODEPOOL_LABEL: Final = "karpenter.sh/nodepool"
DEFAULT_INSTANCE_TYPE: Final = "simulated.large"
GPU: Final = "nvidia.com/gpu"

LAUNCH = Stage("karpenter.launch", 2.0)
REGISTER = Stage("karpenter.register", 2.0)
INITIALIZE = Stage("karpenter.initialize", 1.0)
READY = Stage("karpenter.ready", 0.5)

_CONDITIONS = ("Launched", "Registered", "Initialized", "Ready")
_INITIALIZED: Final = "karpenter.sh/initialized"


def _requirement(claim: Mapping[str, Any], key: str) -> str | None:
    for requirement in (claim.get("spec") or {}).get("requirements") or []:
        values = requirement.get("values") or []
        if requirement.get("key") == key and requirement.get("operator") == "In" and values:
            return str(values[0])
    return None


def _label_or_requirement(claim: Mapping[str, Any], key: str) -> str | None:
    return _requirement(claim, key) or (meta(claim).get("labels") or {}).get(key)


def instance_type(claim: Mapping[str, Any]) -> str:
    """The instance type a claim asks for (see the module docstring)."""
    return _label_or_requirement(claim, INSTANCE_TYPE_LABEL) or DEFAULT_INSTANCE_TYPE


def launch_fails(instance: str) -> bool:
    """The launch failure convention: the instance type's name contains `fail`."""
    return "fail" in instance.lower()


def _capacity(claim: Mapping[str, Any]) -> dict[str, Any]:
    capacity: dict[str, Any] = dict(DEFAULT_NODE_CAPACITY)
    instance = instance_type(claim).lower()
    if "gpu" in instance or instance.startswith("standard_n"):
        capacity[GPU] = "1"
    requests = ((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}
    for resource, quantity in requests.items():
        capacity.setdefault(resource, quantity)
    return capacity


def _node_labels(claim: Mapping[str, Any], name: str) -> dict[str, str]:
    labels = {
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "karpenter.sh/capacity-type": "on-demand",
        **(meta(claim).get("labels") or {}),
    }
    for requirement in (claim.get("spec") or {}).get("requirements") or []:
        values = requirement.get("values") or []
        if requirement.get("operator") == "In" and len(values) == 1:
            labels[str(requirement.get("key"))] = str(values[0])
    labels[INSTANCE_TYPE_LABEL] = instance_type(claim)
    pool = _label_or_requirement(claim, NODEPOOL_LABEL)
    if pool:
        labels[NODEPOOL_LABEL] = pool
    labels.update({"kubernetes.io/hostname": name, "karpenter.sh/registered": "true"})
    return labels


def _set(
    claim: JSON, type_: str, status: ConditionStatus, reason: str, message: str, now: str
) -> None:
    """Set a condition of the claim (in place); `now` (a `timestamp`) is its
    lastTransitionTime when its status changes."""
    conditions: list[JSON] = claim.setdefault("status", {}).setdefault("conditions", [])
    entry = condition_entry(type_, status, reason, message, meta(claim).get("generation"))
    entry["lastTransitionTime"] = now
    set_condition_entry(conditions, entry)


def node_for(claim: JSON) -> JSON:
    """The Node a claim registers as (see the module docstring), controlled by the claim."""
    name = str(meta(claim)["name"])
    spec: JSON = {"providerID": (claim.get("status") or {}).get("providerID")}
    taints = (claim.get("spec") or {}).get("taints")
    if taints:
        spec["taints"] = taints
    node: JSON = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": _node_labels(claim, name)},
        "spec": spec,
    }
    set_controller_reference(claim, node)
    return node


def _at_rest(claim: Mapping[str, Any]) -> bool:
    """Whether a claim needs nothing more until its Node changes: Ready, or failed (a False
    condition), and not being deleted."""
    if deleting(claim):
        return False
    return condition_true(claim, "Ready") or any(
        c.get("status") == "False" for c in conditions_of(claim)
    )


def _node_view(node: Mapping[str, Any]) -> tuple[object, ...]:
    """What a claim's reconcile reads of its Node."""
    return condition_true(node, "Ready"), (meta(node).get("labels") or {}).get(_INITIALIZED)


class KarpenterActor:
    """Plays Karpenter for NodeClaims (see the module docstring)."""

    name = "karpenter"
    kinds: tuple[GroupVersionKind, ...] = (NODECLAIM, NODE)

    def indexers(self) -> Mapping[GroupVersionKind, Mapping[str, IndexFunc]]:
        return {}

    def keys_for(self, world: World, obj: JSON) -> Iterable[ObjectKey]:
        key = ObjectKey.of(obj)
        if key.gvk == NODECLAIM:
            return [key]
        owner = controller_key(obj, (NODECLAIM,))
        return [] if owner is None else [owner]

    def keys_for_update(self, world: World, old: JSON, new: JSON) -> Iterable[ObjectKey]:
        """A claim unless it is at rest (Ready, or failed, and not being deleted); a Node's
        claim when the Node's readiness, initialized label or controller changed."""
        key = ObjectKey.of(new)
        if key.gvk == NODECLAIM:
            return [] if _at_rest(new) else [key]
        owner, previous = controller_key(new, (NODECLAIM,)), controller_key(old, (NODECLAIM,))
        if owner != previous:
            return [claim for claim in (previous, owner) if claim is not None]
        return [owner] if owner is not None and _node_view(old) != _node_view(new) else []

    async def reconcile(self, world: World, key: ObjectKey) -> float | None:
        claim = await world.get(key)
        if claim is None or deleting(claim):
            await self._delete_node(world, key)
            return None
        if not conditions_of(claim):
            now = timestamp(world.clock)
            await world.patch_status(claim, lambda c: self._initial(c, now))
            return None
        if any(c.get("status") == "False" for c in conditions_of(claim)):
            return None
        if not condition_true(claim, "Launched"):
            return await self._launch(world, key, claim)
        if not condition_true(claim, "Registered"):
            return await self._register(world, key, claim)
        node = await world.get(ObjectKey(NODE, key.name))
        if node is None:
            return await self._node_lost(world, key)
        if not condition_true(claim, "Initialized"):
            return await self._initialize(world, key, claim, node)
        if not condition_true(claim, "Ready"):
            return await self._advance(world, key, claim, READY, "Ready")
        return None

    @staticmethod
    def _initial(claim: JSON, now: str) -> None:
        for type_ in _CONDITIONS:
            _set(
                claim,
                type_,
                "Unknown",
                "AwaitingReconciliation",
                "object is awaiting reconciliation",
                now,
            )

    async def _advance(
        self, world: World, key: ObjectKey, claim: JSON, stage: Stage, condition: str
    ) -> float | None:
        """After `stage`, set `condition` True (its reason is its name)."""
        left = world.remaining(key, stage)
        if left:
            return left
        now = timestamp(world.clock)
        await world.patch_status(claim, lambda c: _set(c, condition, "True", condition, "", now))
        world.reached(key, stage)
        return None

    async def _launch(self, world: World, key: ObjectKey, claim: JSON) -> float | None:
        left = world.remaining(key, LAUNCH)
        if left:
            return left
        instance = instance_type(claim)
        now = timestamp(world.clock)
        if launch_fails(instance) or world.fails(key, LAUNCH):
            cause = "simulated" if launch_fails(instance) else "injected by the simulator"
            message = (
                f"InsufficientCapacityError: no capacity for instance type {instance!r} ({cause})"
            )

            def failed(c: JSON) -> None:
                _set(c, "Launched", "False", "LaunchFailed", message, now)
                _set(c, "Ready", "False", "LaunchFailed", message, now)

            await world.patch_status(claim, failed)
            world.reached(key, LAUNCH, failed=True, instance_type=instance)
            return None
        capacity = _capacity(claim)

        def launched(c: JSON) -> None:
            status = c.setdefault("status", {})
            status.update(
                providerID=f"simulated:///{key.name}",
                imageID="simulated-image",
                capacity=capacity,
                allocatable=dict(capacity),
            )
            _set(c, "Launched", "True", "Launched", "", now)

        await world.patch_status(claim, launched)
        world.reached(key, LAUNCH, instance_type=instance)
        return None

    async def _register(self, world: World, key: ObjectKey, claim: JSON) -> float | None:
        left = world.remaining(key, REGISTER)
        if left:
            return left
        node_key = ObjectKey(NODE, key.name)
        node = await world.get(node_key)
        if node is None:
            node = await world.create(node_for(claim))
        if not condition_true(node, "Ready"):
            capacity = (claim.get("status") or {}).get("capacity") or _capacity(claim)
            now = timestamp(world.clock)

            def ready(n: JSON) -> None:
                status = n.setdefault("status", {})
                status["capacity"] = capacity
                status["allocatable"] = dict(capacity)
                mark_node_ready(n, now)

            await world.patch_status(node, ready)
        registered_at = timestamp(world.clock)

        def registered(c: JSON) -> None:
            c.setdefault("status", {})["nodeName"] = key.name
            _set(c, "Registered", "True", "Registered", "", registered_at)

        await world.patch_status(claim, registered)
        world.reached(key, REGISTER, node=key.name)
        return None

    async def _initialize(
        self, world: World, key: ObjectKey, claim: JSON, node: JSON
    ) -> float | None:
        if not condition_true(node, "Ready"):
            return None  # the Node's next change brings the claim back
        if (meta(node).get("labels") or {}).get(_INITIALIZED) != "true":
            await world.patch(
                ObjectKey(NODE, key.name), {"metadata": {"labels": {_INITIALIZED: "true"}}}
            )
        return await self._advance(world, key, claim, INITIALIZE, "Initialized")

    async def _node_lost(self, world: World, key: ObjectKey) -> float | None:
        """A registered claim whose Node is gone is deleted (if the API agrees it is gone)."""
        try:
            await world.client.get(NODE, key.name)
        except NotFound:
            await world.delete(key)
            world.log.info("node deleted; nodeclaim deleted", key=str(key))
            return None
        return 1.0  # the cache has not seen the Node yet

    async def _delete_node(self, world: World, key: ObjectKey) -> None:
        node_key = ObjectKey(NODE, key.name)
        node = await world.get(node_key)
        if node is not None and controller_key(node, (NODECLAIM,)) == key:
            await world.delete(node_key)
            world.log.info("nodeclaim deleted; node deleted", key=str(key))
