"""Shared helpers for the Workspace controller tests: the local control plane with the
project's CRDs, the simulator (kubelet and Karpenter) with short stage delays, and a Manager
running the Workspace controller; object builders and bounded waits.

(A test_ module so that it sits with the tests it serves; it holds no tests itself.)"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from test_common_support import JSON, WAIT, phase_of, transitions

from controllers.simulation.karpenter import KarpenterActor
from controllers.workspace import (
    CONTROLLER,
    NODECLAIM,
    WorkspaceReconciler,
    WorkspaceSettings,
    workspace_controller,
)
from controllers.workspace import setup as setup_workspace
from framework.client import Client
from framework.envtest import Environment
from framework.envtest.simulator import Kubelet, Simulator, StageTiming
from framework.errors import NotFound
from framework.manager import Manager, ManagerOptions
from framework.resources import GroupVersionKind
from framework.settings import BindAddress
from framework.tracker import ObjectKey

ROOT = Path(__file__).resolve().parents[2]
CRDS = (ROOT / "config/crd/bases", ROOT / "config/crd/external")
WORKSPACE = GroupVersionKind("workspace.kubeloop.dev", "v1alpha1", "Workspace")
DEPLOYMENT = GroupVersionKind("apps", "v1", "Deployment")
JOB = GroupVersionKind("batch", "v1", "Job")
POD = GroupVersionKind("", "v1", "Pod")
NAMESPACE = "default"

TIMING = StageTiming(scale=0.02, delays={"karpenter.launch": 0.4, "kubelet.start": 0.6})
"""Fast stages, except that Pending (launch) and Creating (pod start) last long enough for a
test to act while the workspace is in them."""


def inference(
    name: str,
    image: str = "ghcr.io/example/llm:1",
    *,
    instance_type: str = "standard_nc6",
    count: int = 1,
    **extra: Any,
) -> JSON:
    return _workspace(name, instance_type, count, {"inference": {"image": image, **extra}})


def tuning(name: str, instance_type: str = "standard_nc6") -> JSON:
    spec = {
        "tuning": {
            "method": "lora",
            "input": {"urls": ["https://example.com/data.parquet"]},
            "output": {"image": "registry.example.com/adapter:1"},
        }
    }
    return _workspace(name, instance_type, 1, spec)


def _workspace(name: str, instance_type: str, count: int, workload: JSON) -> JSON:
    return {
        "apiVersion": WORKSPACE.api_version,
        "kind": WORKSPACE.kind,
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"resource": {"instanceType": instance_type, "count": count}, **workload},
    }


def contains_run(sequence: list[str], run: list[str]) -> bool:
    """Whether `run` occurs in `sequence` as consecutive items."""
    return any(sequence[i : i + len(run)] == run for i in range(len(sequence) - len(run) + 1))


@dataclass
class WorkspaceCluster:
    """A control plane, a simulator, and a Manager running the Workspace controller."""

    env: Environment
    client: Client
    manager: Manager
    registry: CollectorRegistry

    async def create(self, obj: JSON) -> JSON:
        created: JSON = await self.client.create(obj)
        return created

    async def get(
        self, gvk: GroupVersionKind, name: str, namespace: str = NAMESPACE
    ) -> JSON | None:
        try:
            found: JSON = await self.client.get(gvk, name, namespace=namespace or None)
        except NotFound:
            return None
        return found

    async def workspace(self, name: str) -> JSON | None:
        return await self.get(WORKSPACE, name)

    async def claims(self, workspace: JSON) -> list[JSON]:
        uid = workspace["metadata"]["uid"]
        found = await self.client.list(NODECLAIM, label_selector=f"kubeloop.dev/owner-uid={uid}")
        return list(found.items)

    async def pods(self, name: str) -> list[JSON]:
        found = await self.client.list(
            POD, namespace=NAMESPACE, label_selector=f"kubeloop.dev/workspace={name}"
        )
        return list(found.items)

    async def until(self, check: Callable[[], Awaitable[bool]], what: str) -> None:
        """Poll `check` until it holds; fail after WAIT seconds, naming `what`."""
        try:
            async with asyncio.timeout(WAIT):
                while True:
                    if await check():
                        return
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None

    async def wait_phase(self, name: str, phase: str) -> JSON:
        found: JSON = {}

        async def reached() -> bool:
            nonlocal found
            found = await self.workspace(name) or {}
            return phase_of(found) == phase

        try:
            await self.until(reached, f"workspace {name} to be {phase}")
        except AssertionError as error:
            seen = f"history {self.history(name)}, last phase {phase_of(found)}"
            raise AssertionError(f"{error} ({seen})") from None
        return found

    async def wait_history(self, name: str, run: list[str]) -> None:
        """Wait until the tracker's history of `name` contains `run` consecutively."""

        async def seen() -> bool:
            return contains_run(self.history(name), run)

        await self.until(seen, f"history {run} of {name} (have {self.history(name)})")

    async def delete_and_wait(self, name: str) -> JSON:
        """Delete the workspace; wait until it is gone (its finalizer ran); return the last
        version seen."""
        last = await self.workspace(name)
        assert last is not None
        await self.client.delete(WORKSPACE, name, namespace=NAMESPACE)

        async def gone() -> bool:
            return await self.workspace(name) is None

        await self.until(gone, f"workspace {name} to be deleted")
        return last

    def history(self, name: str) -> list[str]:
        """The phases of `name` in the tracker's transition history."""
        status = self.manager.tracker.get(
            CONTROLLER, ObjectKey(WORKSPACE.group, WORKSPACE.kind, NAMESPACE, name)
        )
        return [] if status is None else [t.to_state for t in status.history]

    def transitions(self) -> set[tuple[str, str]]:
        """Every (from, to) the controller counted in the phase-transition metric."""
        return transitions(self.registry, CONTROLLER)


@contextlib.asynccontextmanager
async def workspace_cluster(
    timing: StageTiming = TIMING, settings: WorkspaceSettings | None = None
) -> AsyncIterator[WorkspaceCluster]:
    """A running WorkspaceCluster; the manager serves its metrics and status API on loopback."""
    async with Environment(crd_paths=CRDS) as env:
        registry = CollectorRegistry()
        async with (
            await Client.for_environment(env, registry=registry) as client,
            await Client.for_environment(env) as simulator_client,
        ):
            simulator = Simulator(simulator_client, [Kubelet(), KarpenterActor()], timing=timing)
            options = ManagerOptions(
                metrics_address=BindAddress("127.0.0.1", 0), health_address=None
            )
            manager = Manager(client, options, registry=registry)
            if settings is None:
                await manager.setup(setup_workspace)
            else:
                reconciler = WorkspaceReconciler.configured(settings)(manager.context(CONTROLLER))
                manager.build(workspace_controller(), reconciler)
            async with simulator:
                task = asyncio.create_task(manager.run())
                try:
                    await manager.wait_started()
                    yield WorkspaceCluster(env, client, manager, registry)
                finally:
                    manager.stop()
                    await task
