"""framework.informer against injected server faults: a watch answered HTTP 410 makes it relist;
failing lists (500) are backed off and retried until it syncs; it survives server restarts with
data_dir, including writes it missed while its watch was failing, and its cache then equals the
server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry
from test_informer_support import (
    GADGET,
    GADGET_GVK,
    counter,
    eventually,
    gadget,
    gadget_crd,
    running,
    server_objects,
)

from framework.client import Client, RetryPolicy
from framework.clock import FakeClock
from framework.envtest import Environment
from framework.informer import Informer

KIND = str(GADGET_GVK)


def store_versions(informer: Informer) -> dict[str, str]:
    objects = {key: informer.store.get(key) for key in informer.store}
    return {key: obj["metadata"]["resourceVersion"] for key, obj in objects.items() if obj}


def lists(registry: CollectorRegistry) -> float:
    return counter(registry, "kubeloop_informer_lists_total", kind=KIND)


def restarts(registry: CollectorRegistry, reason: str) -> float:
    return counter(registry, "kubeloop_informer_watch_restarts_total", kind=KIND, reason=reason)


@asynccontextmanager
async def informing(
    client: Client, registry: CollectorRegistry, clock: FakeClock
) -> AsyncIterator[Informer]:
    informer = Informer(client, GADGET, registry=registry, clock=clock)
    informer.start()
    try:
        yield informer
    finally:
        await informer.stop()


def converged(informer: Informer, env: Environment, clock: FakeClock) -> bool:
    clock.advance(35.0)  # past any backoff
    return store_versions(informer) == server_objects(env)


async def test_relists_after_an_http_410_on_watch() -> None:
    clock = FakeClock()
    async with running() as (env, client, registry):
        await client.create(gadget("a"))
        async with informing(client, registry, clock) as informer:
            await eventually(lambda: informer.has_synced)
            await client.create(gadget("b"))  # an event on the live watch: a drop resumes at once
            await eventually(lambda: "default/b" in informer.store)
            env.faults.expire_watches()
            env.faults.drop_watches()
            await eventually(lambda: lists(registry) == 2)
            assert restarts(registry, "gone") == 1
            await client.create(gadget("c"))
            await eventually(lambda: store_versions(informer) == server_objects(env))
            assert env.faults.rules()["answers"] == []


async def test_backs_off_on_failing_lists_then_syncs() -> None:
    clock = FakeClock()
    async with (
        running() as (env, _, registry),
        await Client.for_environment(
            env, registry=registry, retry=RetryPolicy(attempts=1)
        ) as client,
    ):
        await client.create(gadget("a"))
        env.faults.inject(status=500, verb="GET", path_regex=r"/gadgets$", count=2)
        async with informing(client, registry, clock) as informer:
            for failures in (1, 2):

                def backing_off(n: int = failures) -> bool:
                    return restarts(registry, "error") == n and clock.pending_timers() > 0

                await eventually(backing_off)
                assert not informer.has_synced
                assert lists(registry) == failures
                clock.advance(35.0)
            await eventually(lambda: informer.has_synced)
            assert lists(registry) == 3
            assert store_versions(informer) == server_objects(env)


async def test_survives_restarts_with_data_dir(tmp_path: Path) -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    async with Environment(data_dir=tmp_path) as env:
        await env.install_crds([gadget_crd()])
        async with await Client.for_environment(env, registry=registry) as client:
            for name in ("a", "b"):
                await client.create(gadget(name, size=1))
            async with informing(client, registry, clock) as informer:
                await eventually(lambda: informer.has_synced)

                await env.restart()  # nothing missed: the informer resumes its watch
                await client.create(gadget("c", size=1))
                await eventually(lambda: converged(informer, env, clock))
                assert lists(registry) == 1

                # Keep the informer from watching while others write, then restart: its resume
                # is from before the restart's event window (410), so it relists.
                failures = restarts(registry, "error")
                env.faults.inject(status=503, verb="WATCH", count=None, retry_after=None)
                env.faults.drop_watches()
                await eventually(lambda: restarts(registry, "error") > failures)
                await client.delete(GADGET, "a", namespace="default")
                await client.patch(GADGET, "b", {"spec": {"size": 2}}, namespace="default")
                await client.create(gadget("d", size=1))
                await env.restart()
                env.faults.clear()
                await eventually(lambda: converged(informer, env, clock))
                assert restarts(registry, "gone") == 1
                assert lists(registry) == 2
                b = informer.store.get("default/b")
                assert b is not None
                assert b["spec"] == {"size": 2}
                assert sorted(informer.store) == ["default/b", "default/c", "default/d"]
