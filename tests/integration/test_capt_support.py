"""Shared helpers for the NotebookValidationJob and CAPT controller tests: a local control
plane with every CRD, a manager running the controllers under test, the simulator with the
actors they need, bounded waits, and the phase-transition counts of a controller.

(A test_ module so that it sits with the tests it serves; it holds no tests itself.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from test_common_support import JSON, eventually, phase_of, transitions
from test_manager_support import started

from api.controlplane.v1beta1 import CAPTControlPlane
from api.external.clusterapi import CLUSTER_NAME_LABEL
from api.infrastructure.v1beta1 import CAPTCluster
from controllers.simulation.clusterapi import CLUSTER
from framework.cache import Cache
from framework.client import Client
from framework.envtest import Environment
from framework.envtest.simulator import Actor, FailureInjection, Simulator, StageTiming
from framework.errors import NotFound
from framework.informer import EventHandler
from framework.manager import Manager, ManagerOptions, Setup
from framework.resources import GroupVersionKind

ROOT = Path(__file__).resolve().parents[2]
CRD_PATHS = (ROOT / "config/crd/bases", ROOT / "config/crd/external")
FAST = StageTiming(scale=0.05)


@dataclass
class Running:
    """A control plane, a client on it, and the manager running the controllers."""

    env: Environment
    client: Client
    manager: Manager
    registry: CollectorRegistry

    async def get(self, gvk: GroupVersionKind, name: str, namespace: str = "default") -> JSON:
        found: JSON = await self.client.get(gvk, name, namespace=namespace or None)
        return found

    async def find(
        self, gvk: GroupVersionKind, name: str, namespace: str = "default"
    ) -> JSON | None:
        try:
            return await self.get(gvk, name, namespace)
        except NotFound:
            return None

    async def wait_for(
        self,
        gvk: GroupVersionKind,
        name: str,
        check: Callable[[JSON], bool],
        namespace: str = "default",
    ) -> JSON:
        """Poll the API until the object exists and `check` holds (bounded); return it."""

        async def fetch() -> JSON | None:
            return await self.find(gvk, name, namespace)

        found = await eventually(fetch, lambda o: o is not None and check(o))
        assert found is not None
        return found

    async def wait_for_phase(
        self, gvk: GroupVersionKind, name: str, phase: str, namespace: str = "default"
    ) -> JSON:
        return await self.wait_for(gvk, name, lambda o: phase_of(o) == phase, namespace)

    async def wait_gone(self, gvk: GroupVersionKind, name: str, namespace: str = "default") -> None:
        await eventually(lambda: self.find(gvk, name, namespace), lambda o: o is None)

    def transitions(self, controller: str) -> set[tuple[str, str]]:
        """The (from, to) phase transitions the controller recorded (initial entries left out)."""
        return transitions(self.registry, controller)


@asynccontextmanager
async def phase_log(client: Client, gvk: GroupVersionKind) -> AsyncIterator[dict[str, list[str]]]:
    """Every stored `status.phase` of each object of `gvk`, by name, in the order the
    watch delivered them (repeats collapsed)."""
    log: dict[str, list[str]] = {}

    def keep(obj: JSON) -> None:
        phases = log.setdefault(obj["metadata"]["name"], [])
        phase = phase_of(obj)
        if phase is not None and (not phases or phases[-1] != phase):
            phases.append(phase)

    cache = Cache(client, registry=CollectorRegistry())
    cache.informer(gvk).add_handler(
        EventHandler(on_add=lambda obj, _initial: keep(obj), on_update=lambda _old, new: keep(new))
    )
    await cache.start()
    try:
        yield log
    finally:
        await cache.stop()


@asynccontextmanager
async def managed(client: Client, setups: Sequence[Setup]) -> AsyncIterator[Manager]:
    """A started manager running `setups` (no servers, its own registry); stopped on exit."""
    manager = Manager(
        client,
        ManagerOptions(metrics_address=None, health_address=None),
        registry=CollectorRegistry(),
    )
    async with started(manager, setups):
        yield manager


@asynccontextmanager
async def running(
    setups: Sequence[Setup],
    actors: Sequence[Actor],
    *,
    timing: StageTiming = FAST,
    failures: FailureInjection | None = None,
) -> AsyncIterator[Running]:
    """The controllers of `setups` and the simulator with `actors`, on a fresh control plane."""
    async with (
        Environment(crd_paths=CRD_PATHS) as env,
        await Client.for_environment(env) as client,
        managed(client, setups) as manager,
        Simulator(client, actors, timing=timing, failures=failures),
    ):
        yield Running(env, client, manager, manager.registry)


def provider_settled(obj: JSON) -> bool:
    """A Cluster API provider object is Ready, or Failed with its failure fields written."""
    status = obj.get("status") or {}
    return status.get("phase") == "Ready" or bool(
        status.get("phase") == "Failed" and status.get("failureReason")
    )


def capt_cluster(name: str, **spec: Any) -> JSON:
    """A CAPTCluster of Cluster `name` with a two-zone inline VPC (spec fields override)."""
    body: JSON = {
        "region": "eu-west-1",
        "vpc": {"cidrBlock": "10.0.0.0/16", "availabilityZones": ["eu-west-1a", "eu-west-1b"]},
        **spec,
    }
    return _provider(CAPTCluster.resource_info().gvk, name, name, body)


def capt_control_plane(name: str, cluster: str, **spec: Any) -> JSON:
    """A CAPTControlPlane of Cluster `cluster` (spec fields override)."""
    body: JSON = {"version": "v1.31.0", "workspaceTemplateRef": {"name": "eks"}, **spec}
    return _provider(CAPTControlPlane.resource_info().gvk, name, cluster, body)


def cluster_api_cluster(name: str, infrastructure: str | None, control_plane: str | None) -> JSON:
    """A Cluster API Cluster referring to a CAPTCluster and a CAPTControlPlane."""
    spec: JSON = {}
    for field, kind, ref in (
        ("infrastructureRef", CAPTCluster, infrastructure),
        ("controlPlaneRef", CAPTControlPlane, control_plane),
    ):
        if ref is not None:
            gvk = kind.resource_info().gvk
            spec[field] = {"apiVersion": gvk.api_version, "kind": gvk.kind, "name": ref}
    return {
        "apiVersion": CLUSTER.api_version,
        "kind": CLUSTER.kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def _provider(gvk: GroupVersionKind, name: str, cluster: str, spec: JSON) -> JSON:
    return {
        "apiVersion": gvk.api_version,
        "kind": gvk.kind,
        "metadata": {"name": name, "namespace": "default", "labels": {CLUSTER_NAME_LABEL: cluster}},
        "spec": spec,
    }


def workspace_status(
    ready: str, reason: str, *, synced: str = "True", at_provider: JSON | None = None
) -> JSON:
    """A Terraform Workspace status with the given conditions (and atProvider)."""
    now = "2026-01-01T00:00:00Z"
    status: JSON = {
        "conditions": [
            {
                "type": "Synced",
                "status": synced,
                "reason": "ReconcileSuccess",
                "lastTransitionTime": now,
            },
            {"type": "Ready", "status": ready, "reason": reason, "lastTransitionTime": now},
        ]
    }
    if at_provider is not None:
        status["atProvider"] = at_provider
    return status
