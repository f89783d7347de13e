"""Manager on the embedded API server: start order and bound addresses, graceful shutdown that
waits for (or, past the timeout, cancels) in-flight reconciles, a controller waiting for its CRD
that does not block readiness, two managers in one process, start-up failure."""

from __future__ import annotations

import asyncio
import socket

import pytest
from test_informer_support import GADGET, GADGET_GVK, eventually, gadget, gadget_crd, running
from test_manager_support import (
    LOOPBACK,
    GadgetReconciler,
    gadget_reconciler,
    get,
    managed,
    manager_on_server,
    setup_gadgets,
    wait_for_status,
)

from framework.client import Client
from framework.controller import ControllerBuilder
from framework.leaderelection import LEASE, LeaderElectionConfig, LeaderElectionLost
from framework.manager import Manager, ManagerOptions
from framework.settings import BindAddress
from framework.tracker import ControllerState


async def test_servers_bind_free_ports_and_report_them() -> None:
    async with manager_on_server() as (_, _, manager, _):
        for address in (manager.metrics_address, manager.health_address):
            assert address is not None
            assert address.host == "127.0.0.1"
            assert address.port > 0
        assert manager.metrics_address != manager.health_address
        assert manager.health_url is not None
        assert await wait_for_status(f"{manager.health_url}/healthz") == "ok"


async def test_disabled_servers_are_not_started() -> None:
    async with running() as (_, client, _):
        manager = Manager(client, ManagerOptions(metrics_address=None, health_address=None))
        task = await manager.start()
        assert manager.metrics_address is None
        assert manager.health_url is None
        manager.stop()
        await task


async def test_reconciles_objects_once_started() -> None:
    async with manager_on_server() as (_, client, manager, _):
        await client.create(gadget("a"))
        reconciler = gadget_reconciler(manager)
        await eventually(lambda: "a" in reconciler.finished)
        status = manager.tracker.controller("gadget")
        assert status is not None
        assert status.state is ControllerState.READY


async def test_graceful_shutdown_waits_for_an_in_flight_reconcile() -> None:
    async with manager_on_server() as (_, client, manager, task):
        reconciler = gadget_reconciler(manager)
        await client.create(gadget("slow", block=True))
        async with asyncio.timeout(10):
            await reconciler.started.wait()
        manager.stop()
        controller = manager.controller("gadget")
        assert controller is not None
        await eventually(lambda: not controller.running)
        assert not task.done()
        reconciler.release.set()
        async with asyncio.timeout(10):
            await task
        assert reconciler.finished == ["slow"]


async def test_shutdown_cancels_reconciles_that_outlive_the_timeout() -> None:
    async with manager_on_server(graceful_shutdown_timeout=0.1) as (_, client, manager, task):
        reconciler = gadget_reconciler(manager)
        await client.create(gadget("stuck", block=True))
        async with asyncio.timeout(10):
            await reconciler.started.wait()
        manager.stop()
        async with asyncio.timeout(10):
            await task
        assert reconciler.finished == []


async def test_cancelling_run_skips_the_graceful_drain() -> None:
    async with manager_on_server(graceful_shutdown_timeout=60) as (_, client, manager, task):
        reconciler = gadget_reconciler(manager)
        await client.create(gadget("stuck", block=True))
        async with asyncio.timeout(10):
            await reconciler.started.wait()
        task.cancel()
        async with asyncio.timeout(30):
            await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled()
        assert reconciler.finished == []


async def test_controller_waiting_for_its_crd_does_not_block_readiness() -> None:
    async with (
        running(install_crd=False) as (env, client, _),
        managed(client) as (manager, _),
    ):
        assert manager.health_url is not None
        body = await wait_for_status(f"{manager.health_url}/readyz?verbose")
        assert "[+]controller-gadget waiting for CRD of" in body
        assert str(GADGET_GVK) in body
        await env.install_crds([gadget_crd()])
        await client.create(gadget("late"))
        reconciler = gadget_reconciler(manager)
        await eventually(lambda: "late" in reconciler.finished)
        body = await wait_for_status(f"{manager.health_url}/readyz?verbose")
        assert "[+]controller-gadget caches synced" in body


async def test_two_managers_in_one_process_keep_their_own_metrics() -> None:
    async with (
        running() as (env, first_client, _),
        await Client.for_environment(env) as second_client,
        managed(first_client) as (first, _),
        managed(second_client) as (second, _),
    ):
        await first_client.create(gadget("a"))
        await eventually(lambda: "a" in gadget_reconciler(first).finished)
        await eventually(lambda: "a" in gadget_reconciler(second).finished)
        await first_client.create(gadget("b"))
        await eventually(lambda: "b" in gadget_reconciler(first).finished)
        await eventually(lambda: "b" in gadget_reconciler(second).finished)
        assert first.registry is not second.registry
        for manager in (first, second):
            _, metrics = await get(f"{manager.metrics_url}/metrics")
            success = 'controller_runtime_reconcile_total{controller="gadget",result="success"}'
            assert f"{success} 2.0" in metrics


async def test_start_up_failure_raises_after_stopping_what_started() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with running() as (_, client, _):
            options = ManagerOptions(
                health_address=LOOPBACK, metrics_address=BindAddress("127.0.0.1", port)
            )
            manager = Manager(client, options)
            await manager.setup(setup_gadgets)
            with pytest.raises(OSError, match="address already in use"):
                await manager.run()
            assert manager.metrics_address is None
            assert manager.health_address is not None
            assert not await _accepts(manager.health_address.port)


async def _accepts(port: int) -> bool:
    """Whether something listens on the loopback `port`."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


async def test_a_manager_runs_once_and_takes_no_controllers_after_start() -> None:
    async with manager_on_server() as (_, _, manager, _):
        with pytest.raises(RuntimeError, match="runs once"):
            await manager.run()
        with pytest.raises(RuntimeError, match="before the manager runs"):
            manager.build(ControllerBuilder("other").for_kind(GADGET), GadgetReconciler(manager))


async def test_controllers_run_only_while_leading_and_a_lost_lease_ends_run() -> None:
    lease = {
        "name": "manager-test",
        "namespace": "default",
        "lease_duration": 2,
        "renew_deadline": 1,
        "retry_period": 0.2,
        "release_on_cancel": True,
    }
    async with (
        running() as (env, client, _),
        await Client.for_environment(env) as first_client,
        await Client.for_environment(env) as second_client,
        managed(first_client, leader_election=LeaderElectionConfig(identity="first", **lease)) as (
            first,
            first_task,
        ),
        managed(
            second_client, leader_election=LeaderElectionConfig(identity="second", **lease)
        ) as (second, second_task),
    ):
        await eventually(lambda: _leading(first) or _leading(second))
        leader, standby = (first, second) if _leading(first) else (second, first)
        await client.create(gadget("a"))
        await eventually(lambda: "a" in _finished(leader))
        assert _finished(standby) == []
        standby_controller = standby.controller("gadget")
        assert standby_controller is not None
        assert not standby_controller.running
        leader.stop()
        await eventually(lambda: "a" in _finished(standby))
        assert _leading(standby)
        lost_task = second_task if standby is second else first_task
        stored = await client.get(LEASE, "manager-test", namespace="default")
        stored["spec"]["holderIdentity"] = "thief"
        await client.update(stored)
        with pytest.raises(LeaderElectionLost):
            async with asyncio.timeout(20):
                await lost_task


def _finished(manager: Manager) -> list[str]:
    return gadget_reconciler(manager).finished


def _leading(manager: Manager) -> bool:
    return manager.elector is not None and manager.elector.is_leader
