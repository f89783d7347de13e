"""Which changes reach the simulator's actors: the kubelet's mapping of adds, updates and
deletes to keys, reads waiting for writes in flight, and creations known to their creator."""

from __future__ import annotations

import asyncio
import copy
from typing import Any, cast

from prometheus_client import CollectorRegistry

from framework.cache import Cache
from framework.client import Client
from framework.clock import FakeClock
from framework.envtest.simulator import engine
from framework.envtest.simulator.engine import (
    FailureInjection,
    ObjectKey,
    StageTiming,
    UpdateMapper,
    World,
    WritesInFlight,
)
from framework.envtest.simulator.kubelet import NODE_NAME_INDEX, Kubelet
from framework.envtest.simulator.objects import DEPLOYMENT, NODE, POD, REPLICA_SET

JSON = dict[str, Any]
KUBELET = Kubelet()


class FakeWorld:
    """What `keys_for` reads: which objects the cache holds and the unbound/bound Pods."""

    def __init__(self, held: set[ObjectKey], pods_by_node: dict[str, list[ObjectKey]]) -> None:
        self.held = held
        self.pods_by_node = pods_by_node

    def holds(self, key: ObjectKey) -> bool:
        return key in self.held

    def indexed_keys(self, gvk: object, index: str, value: str) -> list[ObjectKey]:
        assert (gvk, index) == (POD, NODE_NAME_INDEX)
        return self.pods_by_node.get(value, [])


UNBOUND = ObjectKey(POD, "waiting", "default")
BOUND = ObjectKey(POD, "web-1", "default")
WORLD = cast(World, FakeWorld(set(), {"": [UNBOUND], "n1": [BOUND]}))


def ready(obj: JSON, value: bool = True) -> JSON:
    conditions = [{"type": "Ready", "status": "True" if value else "False"}]
    return {**obj, "status": {**obj.get("status", {}), "conditions": conditions}}


def node(**labels: str) -> JSON:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": labels}}


def owned(kind: str, api_version: str, name: str, owner_kind: str, owner: str, **rest: Any) -> JSON:
    ref = {"apiVersion": "apps/v1", "kind": owner_kind, "name": owner, "controller": True}
    meta = {"name": name, "namespace": "default", "ownerReferences": [ref]}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **rest}


def pod(phase: str | None = None, *, restart: str = "Always", running: bool = False) -> JSON:
    obj = owned("Pod", "v1", "web-1", "ReplicaSet", "web-abc", spec={"restartPolicy": restart})
    if phase is not None:
        state = {"running": {}} if running else {"waiting": {"reason": "ContainerCreating"}}
        obj["status"] = {"phase": phase, "containerStatuses": [{"name": "c", "state": state}]}
    return obj


def replica_set(replicas: int = 1, status: JSON | None = None) -> JSON:
    spec = {"replicas": replicas}
    return owned("ReplicaSet", "apps/v1", "web-abc", "Deployment", "web", spec=spec, status=status)


def update(old: JSON, new: JSON) -> list[ObjectKey]:
    assert isinstance(KUBELET, UpdateMapper)
    return list(KUBELET.keys_for_update(WORLD, old, new))


RS_KEY = ObjectKey(REPLICA_SET, "web-abc", "default")
DEPLOYMENT_KEY = ObjectKey(DEPLOYMENT, "web", "default")


def test_a_pod_maps_to_itself_until_at_rest_and_to_its_replicaset_when_phase_or_ready_move() -> (
    None
):
    created, admitted = pod("Pending"), pod("Pending")
    admitted["status"]["startTime"] = "t"
    assert update(created, admitted) == [BOUND]  # the kubelet's next step; nothing for the RS
    started = ready(pod("Running", running=True))
    assert update(admitted, started) == [RS_KEY]  # at rest: running for good
    assert update(started, ready(pod("Running", restart="Never", running=True))) == [BOUND]
    deleted = {**started, "metadata": {**started["metadata"], "deletionTimestamp": "t"}}
    assert update(started, deleted) == [RS_KEY]


def test_a_new_or_deleted_pod_maps_to_its_replicaset() -> None:
    world = cast(World, FakeWorld({BOUND}, {}))
    assert list(KUBELET.keys_for(world, pod())) == [BOUND, RS_KEY]
    assert list(KUBELET.keys_for(WORLD, pod("Running"))) == [RS_KEY]  # gone from the cache


def test_a_workload_ignores_its_own_status_and_its_deployment_reads_only_replica_counts() -> None:
    old = replica_set(1, {"replicas": 1})
    assert update(old, replica_set(1, {"replicas": 1, "observedGeneration": 2})) == []
    assert update(old, replica_set(2, {"replicas": 1})) == [RS_KEY, DEPLOYMENT_KEY]
    assert update(old, replica_set(1, {"replicas": 1, "readyReplicas": 1})) == [DEPLOYMENT_KEY]
    assert list(KUBELET.keys_for(WORLD, old)) == [RS_KEY, DEPLOYMENT_KEY]  # deleted


def test_a_node_maps_to_itself_until_ready_and_to_unbound_pods_when_it_may_take_them() -> None:
    key = ObjectKey(NODE, "n1")
    world = cast(World, FakeWorld({key}, {"": [UNBOUND]}))
    assert list(KUBELET.keys_for(world, node())) == [key]
    assert update(node(), ready(node())) == [UNBOUND]
    assert update(ready(node()), ready(node())) == []
    assert update(ready(node()), ready(node(pool="gpu"))) == [UNBOUND]
    assert update(ready(node()), ready(node(), False)) == [key]
    assert list(KUBELET.keys_for(WORLD, ready(node()))) == [BOUND]  # deleted: its pods


# -- writes in flight and creations ------------------------------------------------------------


class FakeCache:
    """Holds one object per key; records writes."""

    def __init__(self) -> None:
        self.objects: dict[str, JSON] = {}
        self.written: list[JSON] = []

    async def get(self, gvk: object, name: str, *, namespace: str | None = None) -> JSON:
        return copy.deepcopy(self.objects[name])

    def wrote(self, obj: JSON) -> None:
        self.written.append(obj)


class FakeClient:
    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def create(self, obj: JSON) -> JSON:
        await self.release.wait()
        return {**obj, "metadata": {**obj["metadata"], "resourceVersion": "7"}}


def world_of(
    client: FakeClient, cache: FakeCache, writes: WritesInFlight, *, watched: bool = True
) -> World:
    return World(
        "tester",
        cast(Client, client),
        cast(Cache, cache),
        timing=StageTiming.zero(),
        clock=FakeClock(),
        failures=FailureInjection(),
        registry=CollectorRegistry(),
        writes=writes,
        kinds=(POD,) if watched else (),
    )


async def test_a_read_waits_for_the_writes_of_that_object_in_flight() -> None:
    writes, cache = WritesInFlight(), FakeCache()
    cache.objects["n1"] = node()
    reader = world_of(FakeClient(), cache, writes)
    key = ObjectKey(NODE, "n1")
    with writes.sending(key):
        read = asyncio.create_task(reader.get(key))
        await asyncio.sleep(0)  # let the read start: it must wait
        assert not read.done()
        assert not writes.busy(key)  # for the writer itself
        assert await reader.get(key) == node()  # whose own reads do not wait
        cache.objects["n1"] = ready(node())  # what the write left
    assert await asyncio.wait_for(read, 5) == ready(node())
    assert await reader.get(ObjectKey(NODE, "n1")) == ready(node())  # nothing in flight


async def test_an_object_created_while_reconciling_a_key_is_known_to_that_key_once() -> None:
    client, writes = FakeClient(), WritesInFlight()
    creator = world_of(client, FakeCache(), writes)
    key, pod_key = ObjectKey(REPLICA_SET, "web-abc", "default"), ObjectKey(POD, "web-1", "default")

    async def reconcile() -> JSON:
        engine._reconciling.set(key)
        return await creator.create(pod())

    creating = asyncio.create_task(reconcile())
    await asyncio.sleep(0)
    assert writes.busy(pod_key)
    client.release.set()
    created = await asyncio.wait_for(creating, 5)
    assert not writes.busy(pod_key)
    other = {**created, "metadata": {**created["metadata"], "resourceVersion": "8"}}
    assert creator.created_by(other) is None  # another version: news to everyone
    await creator.create(pod())  # outside a reconcile: no creator
    assert creator.created_by(created) is None
    creating = asyncio.create_task(reconcile())
    created = await asyncio.wait_for(creating, 5)
    assert creator.created_by(created) == key
    assert creator.created_by(created) is None  # forgotten once seen

    creator = world_of(client, FakeCache(), writes, watched=False)
    created = await asyncio.wait_for(asyncio.create_task(reconcile()), 5)
    assert creator.created_by(created) is None  # a kind the actor does not watch: no event
