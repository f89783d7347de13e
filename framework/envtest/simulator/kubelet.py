"""The generic kubelet actor: Pods and Nodes, plus the workload controllers of built-in kinds
(Deployments, ReplicaSets, Jobs; see `workloads`), so a local run shows whole lifecycles.

Nodes: a Node without a Ready=True condition becomes Ready (with default capacity, addresses
and nodeInfo when absent) after stage `kubelet.node-ready`. Pods bound to a Node that no longer
exists are deleted after `kubelet.orphan` (the API is asked first, so a Node the cache has not
seen yet does not count as deleted).

Pods, one step per reconcile:
1. Scheduling. When Nodes exist, an unbound Pod is bound (`spec.nodeName`) after
   `kubelet.schedule` to a fitting Node (see `scheduling`); if none fits it stays Pending with
   PodScheduled=False, reason Unschedulable, until Nodes change. When no Node exists at all,
   Pods run unbound.
2. Admission: phase Pending, startTime, conditions PodScheduled/Initialized, containers
   waiting with reason ContainerCreating.
3. Start, after `kubelet.start`: each container by the image-name convention below; the Pod
   is Running with Ready and ContainersReady True when every container is ready. A start may
   fail by failure injection: the Pod ends Failed with reason SimulatedFailure.
4. Pods with restartPolicy Never or OnFailure (Job pods) run to completion after
   `kubelet.run`: Succeeded (containers terminated, reason Completed, exit code 0), or Failed
   when a container's image says `fail` or `crashloop` (reason Error, exit code 1). Pods with
   restartPolicy Always run until deleted.

Image-name convention: the image's name is the last path component of the reference without
tag or digest, lower-cased (`example.com/team/crashloop-app:1` -> `crashloop-app`). In order:
- contains `errimagepull`: the container waits with reason ErrImagePull, then (after
  `kubelet.image-backoff`) ImagePullBackOff; the Pod stays Pending;
- contains `crashloop`: the container waits with reason CrashLoopBackOff, lastState
  terminated with reason Error and exit code 1, and restartCount growing (restart intervals
  start at `kubelet.crash` and double up to 16 times that; they stop at one restart when that
  stage takes no time); the Pod is Running but not Ready (Failed under restartPolicy Never);
- contains `fail`: the container runs, and exits with code 1 when a run-to-completion Pod
  ends, so that Pod fails (a Job then fails after its backoffLimit);
- anything else runs and is ready.
Init containers are reported completed at start.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any

from framework.envtest.simulator import workloads
from framework.envtest.simulator.engine import ObjectKey, Stage, World
from framework.envtest.simulator.objects import (
    DEPLOYMENT,
    JOB,
    NODE,
    POD,
    REPLICA_SET,
    condition_true,
    controller_key,
    deleting,
    meta,
    set_condition,
    timestamp,
)
from framework.envtest.simulator.scheduling import NODE_INDEXERS, schedule
from framework.errors import NotFound
from framework.informer import IndexFunc, Store
from framework.resources import GroupVersionKind

__all__ = [
    "CRASH",
    "IMAGE_BACKOFF",
    "NODE_NAME_INDEX",
    "NODE_READY",
    "ORPHAN",
    "RUN",
    "SCHEDULE",
    "START",
    "ImageBehaviour",
    "Kubelet",
    "image_behaviour",
    "mark_node_ready",
]

JSON = dict[str, Any]

SCHEDULE = Stage("kubelet.schedule", 0.5)
START = Stage("kubelet.start", 2.0)
RUN = Stage("kubelet.run", 3.0)
IMAGE_BACKOFF = Stage("kubelet.image-backoff", 2.0)
CRASH = Stage("kubelet.crash", 2.0)
NODE_READY = Stage("kubelet.node-ready", 1.0)
ORPHAN = Stage("kubelet.orphan", 0.5)

NODE_NAME_INDEX = "simulator.spec.nodeName"
"""Pods by `spec.nodeName` ("" when unbound)."""

_CRASH_BACKOFF_CAP = 16
_FINISHED = ("Succeeded", "Failed")
DEFAULT_NODE_CAPACITY: Mapping[str, str] = {
    "cpu": "8",
    "memory": "32Gi",
    "pods": "110",
    "ephemeral-storage": "100Gi",
}


class ImageBehaviour(StrEnum):
    """What a container does, by the image-name convention (see the module docstring)."""

    ERR_IMAGE_PULL = "errimagepull"
    CRASHLOOP = "crashloop"
    FAIL = "fail"
    RUN = "run"


def image_behaviour(image: str) -> ImageBehaviour:
    """The behaviour the image's name asks for (see the module docstring)."""
    reference = image.split("@", 1)[0]
    name = reference.rsplit("/", 1)[-1].split(":", 1)[0].lower()
    for behaviour in (ImageBehaviour.ERR_IMAGE_PULL, ImageBehaviour.CRASHLOOP, ImageBehaviour.FAIL):
        if behaviour.value in name:
            return behaviour
    return ImageBehaviour.RUN


def _address(seed: str) -> str:
    """A stable fake IPv4 address in 10.0.0.0/8 for `seed`."""
    digest = hashlib.sha256(seed.encode()).digest()
    return f"10.{digest[0]}.{digest[1]}.{digest[2] % 254 + 1}"


def mark_node_ready(node: JSON, now: str) -> None:
    """Make `node`'s status that of a healthy registered node (in place): Ready=True, no
    pressure, default capacity/allocatable, addresses and nodeInfo where absent."""
    status: JSON = node.setdefault("status", {})
    set_condition(status, "MemoryPressure", False, now, "KubeletHasSufficientMemory")
    set_condition(status, "DiskPressure", False, now, "KubeletHasNoDiskPressure")
    set_condition(status, "PIDPressure", False, now, "KubeletHasSufficientPID")
    set_condition(status, "Ready", True, now, "KubeletReady", "kubelet is posting ready status")
    capacity = status.setdefault("capacity", dict(DEFAULT_NODE_CAPACITY))
    status.setdefault("allocatable", dict(capacity))
    name = str(meta(node).get("name") or "")
    status.setdefault(
        "addresses",
        [{"type": "InternalIP", "address": _address(name)}, {"type": "Hostname", "address": name}],
    )
    status.setdefault(
        "nodeInfo",
        {
            "kubeletVersion": "v1.31.0-kubeloop-simulated",
            "containerRuntimeVersion": "simulated://1.0",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    )


def _node_name(pod: JSON) -> list[str]:
    return [str((pod.get("spec") or {}).get("nodeName") or "")]


def _restarts_always(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("spec") or {}).get("restartPolicy", "Always") == "Always")


def _containers(pod: Mapping[str, Any]) -> list[JSON]:
    found: list[JSON] = (pod.get("spec") or {}).get("containers") or []
    return found


def _container_statuses(pod: Mapping[str, Any]) -> list[JSON]:
    found: list[JSON] = (pod.get("status") or {}).get("containerStatuses") or []
    return found


def _waiting_reason(container_status: Mapping[str, Any]) -> str | None:
    waiting = (container_status.get("state") or {}).get("waiting")
    return None if waiting is None else str(waiting.get("reason"))


def _started(pod: Mapping[str, Any]) -> bool:
    statuses = _container_statuses(pod)
    return bool(statuses) and any(_waiting_reason(s) != "ContainerCreating" for s in statuses)


def _container_id(pod: Mapping[str, Any], name: str) -> str:
    uid = str(meta(pod).get("uid") or "")
    return "containerd://" + hashlib.sha256(f"{uid}/{name}".encode()).hexdigest()


def _base_status(container: Mapping[str, Any]) -> JSON:
    name = str(container.get("name"))
    return {
        "name": name,
        "image": container.get("image", ""),
        "imageID": "",
        "ready": False,
        "started": False,
        "restartCount": 0,
    }


def _terminated(exit_code: int, started_at: str, now: str) -> JSON:
    reason = "Completed" if exit_code == 0 else "Error"
    return {
        "terminated": {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": started_at,
            "finishedAt": now,
        }
    }


def _started_container(pod: Mapping[str, Any], container: Mapping[str, Any], now: str) -> JSON:
    """A container's status right after the Pod started, by the image-name convention."""
    status = _base_status(container)
    image = str(container.get("image", ""))
    behaviour = image_behaviour(image)
    if behaviour is ImageBehaviour.ERR_IMAGE_PULL:
        message = f'Failed to pull image "{image}": simulated: image not found'
        status["state"] = {"waiting": {"reason": "ErrImagePull", "message": message}}
        return status
    status["containerID"] = _container_id(pod, status["name"])
    status["imageID"] = f"simulated://{image}"
    if behaviour is ImageBehaviour.CRASHLOOP:
        if (pod.get("spec") or {}).get("restartPolicy") == "Never":
            status["state"] = _terminated(1, now, now)
            return status
        status["restartCount"] = 1
        status["lastState"] = _terminated(1, now, now)
        pod_name = meta(pod).get("name")
        message = f"back-off restarting failed container={status['name']} pod={pod_name}"
        status["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
        return status
    status.update(ready=True, started=True, state={"running": {"startedAt": now}})
    return status


def _set_ready_conditions(status: JSON, now: str, *, completed: bool = False) -> None:
    statuses = status.get("containerStatuses") or []
    unready = [s["name"] for s in statuses if not s.get("ready")]
    if completed:
        reason: str | None = "PodCompleted"
        message: str | None = None
    elif unready:
        reason = "ContainersNotReady"
        message = f"containers with unready status: [{' '.join(unready)}]"
    else:
        reason = message = None
    ready = not unready and not completed
    set_condition(status, "ContainersReady", ready, now, reason, message)
    set_condition(status, "Ready", ready, now, reason, message)


class Kubelet:
    """The built-in kinds' actor (see the module docstring and `workloads`).

    A change maps to the object itself unless nothing is left to do for it (a Ready Node, a
    Pod at rest: finished, being deleted or running for good) or, for a workload, only its
    status changed (which its reconcile derives); to its controller when what the controller
    reads of it changed (a Pod's phase, readiness or deletion; a ReplicaSet's replica counts);
    and a Node that is Ready and new, newly Ready, relabelled, retainted or cordoned maps to
    the unbound Pods. A deleted Node maps to its Pods.
    """

    name = "kubelet"
    kinds: tuple[GroupVersionKind, ...] = (NODE, POD, REPLICA_SET, DEPLOYMENT, JOB)

    def indexers(self) -> Mapping[GroupVersionKind, Mapping[str, IndexFunc]]:
        return {POD: {NODE_NAME_INDEX: _node_name}, NODE: NODE_INDEXERS}

    def keys_for(self, world: World, obj: JSON) -> Iterable[ObjectKey]:
        key = ObjectKey.of(obj)
        if world.holds(key):
            return self._changed(world, key, None, obj)
        return self._gone(world, key, obj)

    def keys_for_update(self, world: World, old: JSON, new: JSON) -> Iterable[ObjectKey]:
        return self._changed(world, ObjectKey.of(new), old, new)

    def _changed(
        self, world: World, key: ObjectKey, old: JSON | None, new: JSON
    ) -> list[ObjectKey]:
        """The keys a new (`old` None) or changed object maps to: itself while it has
        something left to do, its controller when what that reads of it changed, and for a
        Node the unbound Pods once it may take them."""
        keys: list[ObjectKey] = []
        if key.gvk == POD:
            if not _pod_at_rest(new):
                keys.append(key)
            keys += _controllers(old, new, (REPLICA_SET, JOB), _pod_view)
        elif key.gvk == NODE:
            ready = condition_true(new, "Ready")
            if not ready and not deleting(new):
                keys.append(key)
            if ready and (old is None or _placement_view(old) != _placement_view(new)):
                keys += world.indexed_keys(POD, NODE_NAME_INDEX, "")
        else:
            if old is None or _spec_view(old) != _spec_view(new):
                keys.append(key)
            if key.gvk == REPLICA_SET:
                keys += _controllers(old, new, (DEPLOYMENT,), _replica_set_view)
        return keys

    def _gone(self, world: World, key: ObjectKey, obj: JSON) -> list[ObjectKey]:
        """The keys a deleted object maps to: a workload (its children go too) and its
        controller; a Pod's controller; a Node's Pods."""
        if key.gvk == NODE:
            return world.indexed_keys(POD, NODE_NAME_INDEX, key.name)
        if key.gvk == POD:
            return _controllers(None, obj, (REPLICA_SET, JOB), _pod_view)
        if key.gvk == REPLICA_SET:
            return [key, *_controllers(None, obj, (DEPLOYMENT,), _replica_set_view)]
        return [key]

    async def reconcile(self, world: World, key: ObjectKey) -> float | None:
        if key.gvk == POD:
            return await self._pod(world, key)
        if key.gvk == NODE:
            return await self._node(world, key)
        return await workloads.reconcile(world, key)

    # -- nodes --

    async def _node(self, world: World, key: ObjectKey) -> float | None:
        node = await world.get(key)
        if node is None or deleting(node) or condition_true(node, "Ready"):
            return None
        left = world.remaining(key, NODE_READY)
        if left:
            return left
        now = timestamp(world.clock)
        await world.patch_status(node, lambda n: mark_node_ready(n, now))
        world.reached(key, NODE_READY)
        return None

    # -- pods --

    async def _pod(self, world: World, key: ObjectKey) -> float | None:
        pod = await world.get(key)
        if pod is None or deleting(pod) or (pod.get("status") or {}).get("phase") in _FINISHED:
            return None
        node_name = (pod.get("spec") or {}).get("nodeName")
        node = None
        if node_name:
            node = await world.get(ObjectKey(NODE, node_name))
            if node is None:
                return await self._orphaned(world, key, node_name)
        elif not condition_true(pod, "PodScheduled"):
            nodes = await world.store(NODE)
            if len(nodes):
                return await self._schedule(world, key, pod, nodes)
        if not (pod.get("status") or {}).get("startTime"):
            await self._admit(world, pod, node)
            return None
        if not _started(pod):
            return await self._start(world, key, pod)
        return await self._progress(world, key, pod)

    async def _orphaned(self, world: World, key: ObjectKey, node_name: str) -> float | None:
        try:
            await world.client.get(NODE, node_name)
        except NotFound:
            left = world.remaining(key, ORPHAN)
            if left:
                return left
            await world.delete(key)
            world.reached(key, ORPHAN, node=node_name)
            return None
        return 1.0  # the cache has not seen the Node yet

    async def _schedule(
        self, world: World, key: ObjectKey, pod: JSON, nodes: Store
    ) -> float | None:
        def load(node: str) -> int:
            return len(world.indexed_keys(POD, NODE_NAME_INDEX, node))

        chosen, message = schedule(pod, nodes, load)
        if chosen is None:
            now = timestamp(world.clock)
            await world.patch_status(
                pod,
                lambda p: set_condition(
                    p.setdefault("status", {}), "PodScheduled", False, now, "Unschedulable", message
                ),
            )
            return None
        left = world.remaining(key, SCHEDULE)
        if left:
            return left
        await world.patch(key, {"spec": {"nodeName": chosen}})
        world.reached(key, SCHEDULE, node=chosen)
        return None

    async def _admit(self, world: World, pod: JSON, node: JSON | None) -> None:
        now = timestamp(world.clock)
        host_ip = _node_ip(node) if node is not None else _address("simulated-node")

        def admit(p: JSON) -> None:
            status = p.setdefault("status", {})
            status.update(phase="Pending", startTime=now, hostIP=host_ip)
            status["hostIPs"] = [{"ip": host_ip}]
            set_condition(status, "PodScheduled", True, now)
            set_condition(status, "Initialized", True, now)
            status["containerStatuses"] = [
                {**_base_status(c), "state": {"waiting": {"reason": "ContainerCreating"}}}
                for c in _containers(p)
            ]
            _set_ready_conditions(status, now)

        await world.patch_status(pod, admit)

    async def _start(self, world: World, key: ObjectKey, pod: JSON) -> float | None:
        left = world.remaining(key, START)
        if left:
            return left
        now = timestamp(world.clock)
        if world.fails(key, START):
            await world.patch_status(pod, lambda p: _fail_injected(p, now))
            world.reached(key, START, injected_failure=True)
            return None

        def start(p: JSON) -> None:
            status = p.setdefault("status", {})
            statuses = [_started_container(p, c, now) for c in _containers(p)]
            status["containerStatuses"] = statuses
            init = (p.get("spec") or {}).get("initContainers") or []
            if init:
                status["initContainerStatuses"] = [
                    {**_base_status(c), "state": _terminated(0, now, now)} for c in init
                ]
            pulling = any(_waiting_reason(s) == "ErrImagePull" for s in statuses)
            failed = any("terminated" in (s.get("state") or {}) for s in statuses)
            status["phase"] = "Pending" if pulling else "Failed" if failed else "Running"
            ip = _address(str(meta(p).get("uid") or key.store_key))
            status["podIP"] = ip
            status["podIPs"] = [{"ip": ip}]
            _set_ready_conditions(status, now, completed=failed)

        await world.patch_status(pod, start)
        world.reached(key, START)
        return None

    async def _progress(self, world: World, key: ObjectKey, pod: JSON) -> float | None:
        reasons = {_waiting_reason(s) for s in _container_statuses(pod)}
        if "ErrImagePull" in reasons:
            return await self._image_backoff(world, key, pod)
        if "CrashLoopBackOff" in reasons:
            return await self._crash(world, key, pod)
        if (pod.get("status") or {}).get("phase") == "Running" and not _restarts_always(pod):
            return await self._complete(world, key, pod)
        return None

    async def _image_backoff(self, world: World, key: ObjectKey, pod: JSON) -> float | None:
        left = world.remaining(key, IMAGE_BACKOFF)
        if left:
            return left

        def back_off(p: JSON) -> None:
            for status in _container_statuses(p):
                waiting = (status.get("state") or {}).get("waiting") or {}
                if waiting.get("reason") == "ErrImagePull":
                    image = status.get("image", "")
                    message = f'Back-off pulling image "{image}"'
                    status["state"] = {
                        "waiting": {"reason": "ImagePullBackOff", "message": message}
                    }

        await world.patch_status(pod, back_off)
        world.reached(key, IMAGE_BACKOFF)
        return None

    async def _crash(self, world: World, key: ObjectKey, pod: JSON) -> float | None:
        base = world.timing.delay(CRASH)
        if base <= 0:
            return None
        restarts = max(int(s.get("restartCount") or 0) for s in _container_statuses(pod))
        factor = min(2.0 ** max(restarts - 1, 0), _CRASH_BACKOFF_CAP)
        left = world.remaining(key, CRASH, factor)
        if left:
            return left
        now = timestamp(world.clock)

        def restart(p: JSON) -> None:
            for status in _container_statuses(p):
                if _waiting_reason(status) == "CrashLoopBackOff":
                    status["restartCount"] = int(status.get("restartCount") or 0) + 1
                    status["lastState"] = _terminated(1, now, now)

        await world.patch_status(pod, restart)
        world.reached(key, CRASH)
        return None

    async def _complete(self, world: World, key: ObjectKey, pod: JSON) -> float | None:
        left = world.remaining(key, RUN)
        if left:
            return left
        now = timestamp(world.clock)

        def complete(p: JSON) -> None:
            status = p.setdefault("status", {})
            failed = False
            for container, container_status in zip(
                _containers(p), _container_statuses(p), strict=False
            ):
                code = (
                    0 if image_behaviour(str(container.get("image"))) is ImageBehaviour.RUN else 1
                )
                failed = failed or code != 0
                started_at = ((container_status.get("state") or {}).get("running") or {}).get(
                    "startedAt", now
                )
                container_status.update(ready=False, started=False)
                container_status["state"] = _terminated(code, started_at, now)
            status["phase"] = "Failed" if failed else "Succeeded"
            _set_ready_conditions(status, now, completed=True)

        await world.patch_status(pod, complete)
        world.reached(key, RUN, phase=pod["status"]["phase"])
        return None


def _pod_at_rest(pod: Mapping[str, Any]) -> bool:
    """Whether the kubelet has nothing to do for the Pod until something else changes: it is
    being deleted, has finished, or runs for good (restartPolicy Always, every container
    running)."""
    status = pod.get("status") or {}
    phase = status.get("phase")
    if phase in _FINISHED or deleting(pod):
        return True
    statuses = status.get("containerStatuses") or []
    return (
        phase == "Running"
        and _restarts_always(pod)
        and bool(statuses)
        and all("running" in (s.get("state") or {}) for s in statuses)
    )


def _pod_view(pod: Mapping[str, Any]) -> tuple[object, ...]:
    """What a ReplicaSet or Job acts on of its Pods (binding only orders surplus Pods, which
    are deleted as soon as they are seen)."""
    return (pod.get("status") or {}).get("phase"), condition_true(pod, "Ready"), deleting(pod)


def _replica_set_view(replica_set: Mapping[str, Any]) -> tuple[object, ...]:
    """What a Deployment reads of its ReplicaSets."""
    status = replica_set.get("status") or {}
    return (
        (replica_set.get("spec") or {}).get("replicas"),
        status.get("replicas"),
        status.get("readyReplicas"),
        status.get("availableReplicas"),
        deleting(replica_set),
    )


def _spec_view(workload: Mapping[str, Any]) -> tuple[object, ...]:
    """What a workload's reconcile reads of the workload itself (its status it derives)."""
    return workload.get("spec"), deleting(workload)


def _placement_view(node: Mapping[str, Any]) -> tuple[object, ...]:
    """What scheduling reads of a Node."""
    spec = node.get("spec") or {}
    labels, taints = meta(node).get("labels"), spec.get("taints")
    return condition_true(node, "Ready"), labels, taints, spec.get("unschedulable")


def _controllers(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    kinds: tuple[GroupVersionKind, ...],
    view: Callable[[Mapping[str, Any]], tuple[object, ...]],
) -> list[ObjectKey]:
    """The controllers (of `kinds`) to tell of a child's change from `old` (None: it is new
    or gone) to `new`: both when the controller changed, else the controller when its `view`
    of the child changed."""
    owner = controller_key(new, kinds)
    if old is None:
        return [] if owner is None else [owner]
    previous = controller_key(old, kinds)
    if previous != owner:
        return [key for key in (previous, owner) if key is not None]
    if owner is not None and view(old) != view(new):
        return [owner]
    return []


def _node_ip(node: Mapping[str, Any]) -> str:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address.get("address"))
    return _address(str(meta(node).get("name") or ""))


def _fail_injected(pod: JSON, now: str) -> None:
    status = pod.setdefault("status", {})
    status.update(
        phase="Failed", reason="SimulatedFailure", message="failure injected by the simulator"
    )
    for container_status in _container_statuses(pod):
        container_status["state"] = _terminated(1, now, now)
    _set_ready_conditions(status, now, completed=True)
