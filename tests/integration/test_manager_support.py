"""Shared helpers for the manager, server and CLI tests: a recording Gadget reconciler, a
manager running on the embedded API server with port-0 loopback servers, and HTTP reads.

(A test_ module so that it sits with the tests it serves; it holds no tests itself.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from test_informer_support import GADGET, running

from framework.client import Client
from framework.controller import ControllerBuilder, Request, Result
from framework.envtest import Environment
from framework.informer import InformerOptions
from framework.manager import Manager, ManagerOptions, Setup
from framework.phase import PhaseMachine
from framework.rbac import rbac
from framework.settings import BindAddress
from framework.tracker import ObjectKey

LOOPBACK = BindAddress("127.0.0.1", 0)
GADGET_MACHINE = PhaseMachine(
    phases=("Pending", "Running", "Failed"),
    initial="Pending",
    transitions={"Pending": {"Running", "Failed"}, "Running": {"Failed"}},
)


@rbac("", ("configmaps",), ("get", "list", "watch"))
@dataclass
class GadgetReconciler:
    """Records each gadget as "Running" in the manager's tracker (or its spec's `state`); a
    spec with `block: true` waits for `release` first; `fail` records an error instead."""

    manager: Manager
    machine: PhaseMachine = GADGET_MACHINE
    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    finished: list[str] = field(default_factory=list)

    async def reconcile(self, request: Request) -> Result:
        obj = await self.manager.cache.get(GADGET, request.name, namespace=request.namespace)
        spec = obj.get("spec") or {}
        key = ObjectKey.of(obj)
        if spec.get("block"):
            self.started.set()
            await self.release.wait()
        if spec.get("fail"):
            raise RuntimeError("provider unreachable")
        state = spec.get("state", "Running")
        self.manager.tracker.record("gadget", key, state, f"gadget is {state}", metadata=spec)
        self.finished.append(request.name)
        return Result()


def setup_gadgets(manager: Manager) -> None:
    """A setup function (the `kubeloop.controllers` contract) for the Gadget controller."""
    manager.build(ControllerBuilder().for_kind(GADGET), GadgetReconciler(manager))


def gadget_reconciler(manager: Manager) -> GadgetReconciler:
    controller = manager.controller("gadget")
    assert controller is not None
    reconciler = controller.reconciler
    assert isinstance(reconciler, GadgetReconciler)
    return reconciler


@asynccontextmanager
async def managed(
    client: Client, *, setups: tuple[Any, ...] = (setup_gadgets,), **options: Any
) -> AsyncIterator[tuple[Manager, asyncio.Task[None]]]:
    """A started manager (servers on loopback port 0; `options` override `ManagerOptions`)
    and the task running it; stopped and awaited on exit unless the test did."""
    defaults: dict[str, Any] = {
        "metrics_address": LOOPBACK,
        "health_address": LOOPBACK,
        "informer_options": InformerOptions(missing_kind_retry=0.2),
    }
    manager = Manager(client, ManagerOptions(**(defaults | options)))
    async with started(manager, setups) as task:
        yield manager, task


@asynccontextmanager
async def started(manager: Manager, setups: Sequence[Setup]) -> AsyncIterator[asyncio.Task[None]]:
    """`manager` with `setups` set up and started, and the task running it; stopped and
    awaited on exit unless the test did."""
    await manager.setup(*setups)
    task = await manager.start()
    try:
        yield task
    finally:
        manager.stop()
        async with asyncio.timeout(30):
            await asyncio.gather(task, return_exceptions=True)


@asynccontextmanager
async def manager_on_server(
    **options: Any,
) -> AsyncIterator[tuple[Environment, Client, Manager, asyncio.Task[None]]]:
    async with running() as (env, client, _), managed(client, **options) as (manager, task):
        yield env, client, manager, task


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def get_json(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


async def wait_for_status(url: str, status: int = 200, within: float = 20.0) -> str:
    """Poll `url` (bounded) until it answers `status`; the body."""
    async with asyncio.timeout(within):
        while True:
            code, body = await get(url)
            if code == status:
                return body
            await asyncio.sleep(0.05)
