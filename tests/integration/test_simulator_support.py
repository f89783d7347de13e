"""Shared helpers for the simulator's integration tests: a running environment with a client
and a simulator, object builders, and a bounded wait for a condition.

(A test_ module so that it sits with the tests it serves; it holds no tests itself.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from test_common_support import JSON, condition, crd, eventually

from framework.client import Client
from framework.clock import REAL_CLOCK, Clock
from framework.envtest import Environment
from framework.envtest.simulator import Actor, FailureInjection, Simulator, StageTiming
from framework.envtest.simulator.objects import DEPLOYMENT, JOB, NODE, POD
from framework.errors import NotFound
from framework.resources import GroupVersionKind

KARPENTER_CRD = (
    Path(__file__).resolve().parents[2] / "config/crd/external/karpenter.sh_nodeclaims.yaml"
)
FAST = StageTiming(scale=0.02)
NODECLAIM = GroupVersionKind("karpenter.sh", "v1", "NodeClaim")


def nodeclaim_crd() -> str | JSON:
    """The NodeClaim CRD: the project's, or a minimal one while it is not written yet."""
    if KARPENTER_CRD.exists():
        return str(KARPENTER_CRD)
    return crd(NODECLAIM, "nodeclaims", scope="Cluster")


@dataclass
class Cluster:
    """A running environment, a client and a simulator."""

    env: Environment
    client: Client
    simulator: Simulator
    registry: CollectorRegistry

    async def get(self, gvk: GroupVersionKind, name: str, namespace: str = "") -> JSON | None:
        try:
            return await self.client.get(gvk, name, namespace=namespace or None)
        except NotFound:
            return None

    async def list(self, gvk: GroupVersionKind, namespace: str | None = "default") -> list[JSON]:
        return (await self.client.list(gvk, namespace=namespace)).items

    async def reconciles(self, actor: str) -> float:
        """How many reconciles of `actor` succeeded so far."""
        value = self.registry.get_sample_value(
            "kubeloop_simulator_reconciles_total", {"actor": actor, "result": "success"}
        )
        return value or 0.0


@asynccontextmanager
async def simulating(
    actors: Sequence[Actor],
    *,
    timing: StageTiming = FAST,
    clock: Clock = REAL_CLOCK,
    failures: FailureInjection | None = None,
    crds: Sequence[str | JSON] = (),
) -> AsyncIterator[Cluster]:
    async with Environment() as env:
        if crds:
            await env.install_crds(crds)
        registry = CollectorRegistry()
        async with await Client.for_environment(env) as client:
            simulator = Simulator(
                client, actors, timing=timing, clock=clock, registry=registry, failures=failures
            )
            async with simulator:
                yield Cluster(env, client, simulator, registry)


def is_true(obj: JSON | None, type_: str) -> bool:
    return condition(obj, type_).get("status") == "True"


def node(name: str, labels: dict[str, str] | None = None, **spec: Any) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": spec,
    }


def pod_spec(image: str, restart_policy: str = "Always", **extra: Any) -> JSON:
    return {
        "containers": [{"name": "main", "image": image}],
        "restartPolicy": restart_policy,
        **extra,
    }


def pod(name: str, image: str, **spec: Any) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {**pod_spec(image), **spec},
    }


def deployment(name: str, image: str, replicas: int) -> JSON:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec(image)},
        },
    }


def job(name: str, image: str, **spec: Any) -> JSON:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"template": {"spec": pod_spec(image, "Never")}, **spec},
    }


def nodeclaim(name: str, instance_type: str, **labels: str) -> JSON:
    return {
        "apiVersion": NODECLAIM.api_version,
        "kind": "NodeClaim",
        "metadata": {"name": name, "labels": {"karpenter.sh/nodepool": "kaito", **labels}},
        "spec": {
            "requirements": [
                {
                    "key": "node.kubernetes.io/instance-type",
                    "operator": "In",
                    "values": [instance_type],
                }
            ],
            "taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
        },
    }


__all__ = [
    "DEPLOYMENT",
    "FAST",
    "JOB",
    "NODE",
    "NODECLAIM",
    "POD",
    "Cluster",
    "condition",
    "deployment",
    "eventually",
    "is_true",
    "job",
    "node",
    "nodeclaim",
    "nodeclaim_crd",
    "pod",
    "simulating",
]
