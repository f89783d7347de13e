"""Simulated Cluster API core: the Cluster controller's part of the provider contract.

For each Cluster (cluster.x-k8s.io/v1beta1) whose `spec.infrastructureRef` or
`spec.controlPlaneRef` names an object of a provider kind this actor watches (CAPTCluster and
CAPTControlPlane by default), in the Cluster's namespace:
1. the Cluster is added to that object's ownerReferences (not as controller, as Cluster API
   does), which is what lets the provider start;
2. the providers' readiness is mirrored into the Cluster: `status.infrastructureReady` and
   `controlPlaneReady` from their `status.ready`, `failureDomains` from the infrastructure,
   `failureReason`/`failureMessage` from the first provider reporting one, conditions
   InfrastructureReady, ControlPlaneReady and Ready, `observedGeneration`, and `status.phase`:
   Pending (no infrastructure object yet), Provisioning, Provisioned (infrastructure ready
   and a control-plane endpoint known) or Failed;
3. the control plane's `spec.controlPlaneEndpoint` is copied into the Cluster's spec.
The actor writes only Clusters and the ownerReferences of the providers' objects, never their
status. A deleted Cluster needs nothing: the providers' objects it owns are garbage collected.
No failure convention: failures come from the providers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from api.controlplane.v1beta1 import CAPTControlPlane
from api.external.clusterapi import CLUSTER_NAME_LABEL, GROUP, VERSION
from api.infrastructure.v1beta1 import CAPTCluster
from framework.envtest.simulator.engine import ObjectKey, World
from framework.envtest.simulator.objects import deleting, meta, set_condition, timestamp
from framework.informer import IndexFunc
from framework.resources import GroupVersionKind

__all__ = ["CLUSTER", "ClusterAPIActor"]

JSON = dict[str, Any]

CLUSTER: Final = GroupVersionKind(GROUP, VERSION, "Cluster")
_PROVIDER_KINDS: Final = (
    CAPTCluster.resource_info().gvk,
    CAPTControlPlane.resource_info().gvk,
)


def _cluster_of(obj: Mapping[str, Any]) -> str | None:
    """The Cluster a provider object belongs to: its Cluster owner, else its label."""
    for ref in meta(obj).get("ownerReferences") or []:
        group = GroupVersionKind.from_api_version(str(ref.get("apiVersion")), "").group
        if group == GROUP and ref.get("kind") == "Cluster":
            return str(ref.get("name"))
    label = (meta(obj).get("labels") or {}).get(CLUSTER_NAME_LABEL)
    return str(label) if label else None


def _owner_reference(cluster: Mapping[str, Any]) -> JSON:
    return {
        "apiVersion": CLUSTER.api_version,
        "kind": CLUSTER.kind,
        "name": meta(cluster).get("name"),
        "uid": meta(cluster).get("uid"),
    }


class ClusterAPIActor:
    """Plays Cluster API core's Cluster controller (see the module docstring)."""

    name = "cluster-api"

    def __init__(self, provider_kinds: Sequence[GroupVersionKind] = _PROVIDER_KINDS) -> None:
        self.providers = tuple(provider_kinds)
        self.kinds: tuple[GroupVersionKind, ...] = (CLUSTER, *self.providers)

    def indexers(self) -> Mapping[GroupVersionKind, Mapping[str, IndexFunc]]:
        return {}

    def keys_for(self, world: World, obj: JSON) -> Iterable[ObjectKey]:
        key = ObjectKey.of(obj)
        if key.gvk == CLUSTER:
            return [key]
        cluster = _cluster_of(obj)
        return [] if cluster is None else [ObjectKey(CLUSTER, cluster, key.namespace)]

    async def reconcile(self, world: World, key: ObjectKey) -> float | None:
        cluster = await world.get(key)
        if cluster is None or deleting(cluster):
            return None
        spec = cluster.get("spec") or {}
        infrastructure = await self._provider(world, cluster, spec.get("infrastructureRef"))
        control_plane = await self._provider(world, cluster, spec.get("controlPlaneRef"))
        endpoint = ((control_plane or {}).get("spec") or {}).get("controlPlaneEndpoint")
        if endpoint and spec.get("controlPlaneEndpoint") != endpoint:
            patched = await world.patch(key, {"spec": {"controlPlaneEndpoint": endpoint}})
            cluster = patched
        now = timestamp(world.clock)
        await world.patch_status(cluster, lambda c: _mirror(c, infrastructure, control_plane, now))
        return None

    async def _provider(
        self, world: World, cluster: JSON, ref: Mapping[str, Any] | None
    ) -> JSON | None:
        """The object `ref` names (if it is of a watched kind and exists), owned by `cluster`."""
        if not ref:
            return None
        gvk = GroupVersionKind.from_api_version(str(ref.get("apiVersion")), str(ref.get("kind")))
        if gvk not in self.providers:
            return None
        namespace = str(ref.get("namespace") or meta(cluster).get("namespace") or "")
        key = ObjectKey(gvk, str(ref.get("name")), namespace)
        obj = await world.get(key)
        if obj is None or deleting(obj):
            return obj
        refs = list(meta(obj).get("ownerReferences") or [])
        if any(r.get("uid") == meta(cluster).get("uid") for r in refs):
            return obj
        patch = {"metadata": {"ownerReferences": [*refs, _owner_reference(cluster)]}}
        patched: JSON = await world.client.patch(
            gvk,
            key.name,
            patch,
            namespace=namespace,
            resource_version=str(meta(obj).get("resourceVersion")),
        )
        world.cache.wrote(patched)
        world.log.info(
            "cluster owns its provider object", key=str(key), cluster=str(meta(cluster)["name"])
        )
        return patched


def _ready(obj: Mapping[str, Any] | None) -> bool:
    return bool(((obj or {}).get("status") or {}).get("ready"))


def _mirror(
    cluster: JSON, infrastructure: JSON | None, control_plane: JSON | None, now: str
) -> None:
    status: JSON = cluster.setdefault("status", {})
    infra_ready, plane_ready = _ready(infrastructure), _ready(control_plane)
    status["infrastructureReady"] = infra_ready
    status["controlPlaneReady"] = plane_ready
    domains = ((infrastructure or {}).get("status") or {}).get("failureDomains")
    if domains:
        status["failureDomains"] = domains
    failing = next(
        (
            p["status"]
            for p in (infrastructure, control_plane)
            if p and (p.get("status") or {}).get("failureReason")
        ),
        None,
    )
    if failing is not None:
        status["failureReason"] = failing["failureReason"]
        status["failureMessage"] = failing.get("failureMessage")
    endpoint = (cluster.get("spec") or {}).get("controlPlaneEndpoint")
    if failing is not None:
        status["phase"] = "Failed"
    elif infrastructure is None:
        status["phase"] = "Pending"
    elif infra_ready and endpoint:
        status["phase"] = "Provisioned"
    else:
        status["phase"] = "Provisioning"
    for type_, ready, waiting in (
        ("InfrastructureReady", infra_ready, "WaitingForInfrastructure"),
        ("ControlPlaneReady", plane_ready, "WaitingForControlPlane"),
        ("Ready", infra_ready and plane_ready, "WaitingForProviders"),
    ):
        set_condition(status, type_, ready, now, None if ready else waiting)
    generation = meta(cluster).get("generation")
    if generation is not None:
        status["observedGeneration"] = generation
