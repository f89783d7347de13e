"""The workload controllers the kubelet actor plays: Deployments, ReplicaSets and Jobs.

- Deployment -> one ReplicaSet per pod template, named `<deployment>-<pod-template-hash>`,
  controlled by the Deployment, with `spec.replicas` replicas; ReplicaSets of older templates
  are scaled to 0 at once. Status: replicas, updatedReplicas, readyReplicas,
  availableReplicas, unavailableReplicas, observedGeneration, and conditions Available
  (MinimumReplicasAvailable when at least replicas - maxUnavailable pods are available) and
  Progressing (NewReplicaSetAvailable once the new ReplicaSet is complete, else
  ReplicaSetUpdated). Progress deadlines are not simulated.
- ReplicaSet -> Pods (generateName `<replicaset>-`, controlled by it) up to `spec.replicas`,
  replacing Pods that ended and deleting surplus ones (unbound, then pending, then not ready,
  then newest first). Status: replicas, fullyLabeledReplicas, readyReplicas,
  availableReplicas (minReadySeconds is ignored), observedGeneration.
- Job -> up to `parallelism` Pods at a time until `completions` (default 1) have Succeeded:
  condition Complete and completionTime; more than `backoffLimit` (default 6) failed Pods:
  condition Failed with reason BackoffLimitExceeded and the active Pods deleted. A suspended
  Job has no active Pods. Status: startTime, active, ready, succeeded, failed.
- An object whose controller (Deployment, ReplicaSet, Job) is deleted is deleted too.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

import orjson

from framework.envtest.simulator.engine import ObjectKey, World
from framework.envtest.simulator.objects import (
    DEPLOYMENT,
    JOB,
    POD,
    REPLICA_SET,
    children,
    condition_true,
    delete_orphans,
    deleting,
    meta,
    set_condition,
    timestamp,
)
from framework.ownership import set_controller_reference

__all__ = ["max_unavailable", "pod_template_hash", "reconcile"]

JSON = dict[str, Any]
POD_TEMPLATE_HASH = "pod-template-hash"


def pod_template_hash(template: Mapping[str, Any]) -> str:
    """A stable 10-character hash of a pod template (names and labels the ReplicaSet)."""
    encoded = orjson.dumps(template, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(encoded).hexdigest()[:10]


def _replicas(spec: Mapping[str, Any]) -> int:
    value = spec.get("replicas")
    return 1 if value is None else int(value)


def max_unavailable(deployment: Mapping[str, Any]) -> int:
    """How many of the desired pods may be unavailable while the Deployment is Available:
    0 for Recreate, else `rollingUpdate.maxUnavailable` (an int or a percentage rounded down,
    default 25%), at most the replica count."""
    spec = deployment.get("spec") or {}
    desired = _replicas(spec)
    strategy = spec.get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate" or desired == 0:
        return 0
    value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        count = math.floor(desired * int(value[:-1]) / 100)
    else:
        count = int(value)
    return min(count, desired)


def _pod_from_template(owner: JSON, template: Mapping[str, Any], labels: Mapping[str, str]) -> JSON:
    template_meta = template.get("metadata") or {}
    pod: JSON = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"{meta(owner)['name']}-",
            "namespace": meta(owner)["namespace"],
            "labels": {**(template_meta.get("labels") or {}), **labels},
            "annotations": dict(template_meta.get("annotations") or {}),
        },
        "spec": orjson.loads(orjson.dumps(template.get("spec") or {})),
    }
    set_controller_reference(owner, pod)
    return pod


def _phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


async def reconcile(world: World, key: ObjectKey) -> float | None:
    """Reconcile a Deployment, ReplicaSet or Job (see the module docstring)."""
    reconcilers = {DEPLOYMENT: _deployment, REPLICA_SET: _replica_set, JOB: _job}
    obj = await world.get(key)
    if obj is None:
        await delete_orphans(world, REPLICA_SET if key.gvk == DEPLOYMENT else POD, key)
        return None
    if not deleting(obj):
        await reconcilers[key.gvk](world, key, obj)
    return None


# -- Deployment ------------------------------------------------------------------------------


async def _deployment(world: World, key: ObjectKey, deployment: JSON) -> None:
    spec = deployment.get("spec") or {}
    template = spec.get("template") or {}
    template_hash = pod_template_hash(template)
    name = f"{key.name}-{template_hash}"
    desired = _replicas(spec)
    owned = await children(world, REPLICA_SET, deployment)
    current = next((rs for rs in owned if meta(rs)["name"] == name), None)
    if current is None:
        current = await world.create(_new_replica_set(deployment, name, template_hash, desired))
        owned.append(current)
        world.log.info("replicaset created", key=str(key), replicaset=name)
    for rs in owned:
        want = desired if rs is current else 0
        if _replicas(rs.get("spec") or {}) != want:
            await world.patch(ObjectKey.of(rs), {"spec": {"replicas": want}})
    now = timestamp(world.clock)
    await world.patch_status(deployment, lambda d: _deployment_status(d, owned, name, now))


def _new_replica_set(deployment: JSON, name: str, template_hash: str, replicas: int) -> JSON:
    spec = deployment.get("spec") or {}
    template = orjson.loads(orjson.dumps(spec.get("template") or {}))
    template_meta = template.setdefault("metadata", {})
    template_meta["labels"] = {
        **(template_meta.get("labels") or {}),
        POD_TEMPLATE_HASH: template_hash,
    }
    selector = orjson.loads(orjson.dumps(spec.get("selector") or {}))
    selector["matchLabels"] = {
        **(selector.get("matchLabels") or {}),
        POD_TEMPLATE_HASH: template_hash,
    }
    replica_set: JSON = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": meta(deployment)["namespace"],
            "labels": template_meta["labels"],
        },
        "spec": {"replicas": replicas, "selector": selector, "template": template},
    }
    set_controller_reference(deployment, replica_set)
    return replica_set


def _deployment_status(deployment: JSON, owned: list[JSON], new_name: str, now: str) -> None:
    desired = _replicas(deployment.get("spec") or {})

    def total(field: str, sets: list[JSON] = owned) -> int:
        return sum(int((rs.get("status") or {}).get(field) or 0) for rs in sets)

    new = [rs for rs in owned if meta(rs)["name"] == new_name]
    status = deployment.setdefault("status", {})
    replicas, available = total("replicas"), total("availableReplicas")
    updated = total("replicas", new)
    status.update(
        observedGeneration=meta(deployment).get("generation"),
        replicas=replicas,
        updatedReplicas=updated,
        readyReplicas=total("readyReplicas"),
        availableReplicas=available,
        unavailableReplicas=max(desired - available, 0) or None,
    )
    minimum = available >= desired - max_unavailable(deployment)
    set_condition(
        status,
        "Available",
        minimum,
        now,
        "MinimumReplicasAvailable" if minimum else "MinimumReplicasUnavailable",
        f"Deployment {'has' if minimum else 'does not have'} minimum availability.",
        update_time=True,
    )
    complete = updated == desired == replicas and available >= desired
    set_condition(
        status,
        "Progressing",
        True,
        now,
        "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
        f'ReplicaSet "{new_name}" '
        + ("has successfully progressed." if complete else "is progressing."),
        update_time=True,
    )


# -- ReplicaSet ------------------------------------------------------------------------------


def _surplus_rank(pod: Mapping[str, Any]) -> tuple[bool, bool, bool]:
    """Pods to delete first sort first: unbound, then pending, then not ready."""
    bound = bool((pod.get("spec") or {}).get("nodeName"))
    return (bound, _phase(pod) != "Pending", condition_true(pod, "Ready"))


def _surplus_order(pods: list[JSON]) -> list[JSON]:
    """`pods` in deletion order: by `_surplus_rank`, newest first within a rank."""
    newest = sorted(pods, key=lambda pod: str(meta(pod).get("creationTimestamp")), reverse=True)
    return sorted(newest, key=_surplus_rank)


async def _replica_set(world: World, key: ObjectKey, replica_set: JSON) -> None:
    spec = replica_set.get("spec") or {}
    pods = await children(world, POD, replica_set)
    for pod in pods:
        if _phase(pod) in ("Succeeded", "Failed"):
            await world.delete(ObjectKey.of(pod))
    active = [pod for pod in pods if _phase(pod) not in ("Succeeded", "Failed")]
    surplus = len(active) - _replicas(spec)
    for pod in _surplus_order(active)[: max(surplus, 0)]:
        await world.delete(ObjectKey.of(pod))
        active.remove(pod)
    template = spec.get("template") or {}
    for _ in range(-surplus):
        active.append(await world.create(_pod_from_template(replica_set, template, {})))
    ready = sum(condition_true(pod, "Ready") for pod in active)

    def status(rs: JSON) -> None:
        rs.setdefault("status", {}).update(
            replicas=len(active),
            fullyLabeledReplicas=len(active),
            readyReplicas=ready,
            availableReplicas=ready,
            observedGeneration=meta(rs).get("generation"),
        )

    await world.patch_status(replica_set, status)


# -- Job -------------------------------------------------------------------------------------


def _job_labels(job: Mapping[str, Any]) -> dict[str, str]:
    name, uid = str(meta(job)["name"]), str(meta(job).get("uid") or "")
    return {
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    }


def _count(value: int) -> int | None:
    """Job status counters are omitted when zero."""
    return value or None


async def _job(world: World, key: ObjectKey, job: JSON) -> None:
    if condition_true(job, "Complete") or condition_true(job, "Failed"):
        return
    spec = job.get("spec") or {}
    pods = await children(world, POD, job)
    succeeded = sum(_phase(pod) == "Succeeded" for pod in pods)
    failed = sum(_phase(pod) == "Failed" for pod in pods)
    active = [pod for pod in pods if _phase(pod) not in ("Succeeded", "Failed")]
    completions = int(spec.get("completions") or 1)
    backoff_limit = int(spec.get("backoffLimit", 6))
    done = succeeded >= completions
    failing = not done and failed > backoff_limit
    if failing or spec.get("suspend"):
        for pod in active:
            await world.delete(ObjectKey.of(pod))
        active = []
    elif not done:
        parallelism = int(spec.get("parallelism", 1))
        wanted = min(parallelism, completions - succeeded) - len(active)
        template = spec.get("template") or {}
        for _ in range(max(wanted, 0)):
            active.append(await world.create(_pod_from_template(job, template, _job_labels(job))))
    ready = sum(condition_true(pod, "Ready") for pod in active)
    now = timestamp(world.clock)

    def status(j: JSON) -> None:
        job_status = j.setdefault("status", {})
        if not spec.get("suspend"):
            job_status.setdefault("startTime", now)
        job_status.update(
            active=_count(len(active)),
            ready=ready,
            succeeded=_count(succeeded),
            failed=_count(failed),
        )
        if done:
            job_status["completionTime"] = now
            set_condition(job_status, "Complete", True, now)
        elif failing:
            set_condition(
                job_status,
                "Failed",
                True,
                now,
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            )

    await world.patch_status(job, status)
    if done or failing:
        world.log.info("job finished", key=str(key), succeeded=succeeded, failed=failed)
