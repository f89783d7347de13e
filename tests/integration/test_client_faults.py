"""framework.client against injected server faults: reads retry on 429, 500 and 503; writes
retry only on 429 or 503 that say when to come back (Retry-After), never on 500; the
server-given delay is honoured; retries are bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from prometheus_client import CollectorRegistry
from test_informer_support import GADGET, counter, gadget, gadget_crd, server_objects

from framework.client import Client, RetryPolicy
from framework.clock import REAL_CLOCK, Clock, FakeClock
from framework.envtest import Environment
from framework.errors import ApiError

OBJECT = r"/gadgets/a$"
COLLECTION = r"/gadgets$"
FAST = RetryPolicy(attempts=4, backoff_initial=0.01, backoff_max=0.02)


@asynccontextmanager
async def client_for(
    env: Environment, clock: Clock = REAL_CLOCK
) -> AsyncIterator[tuple[Client, CollectorRegistry]]:
    registry = CollectorRegistry()
    async with await Client.for_environment(
        env, registry=registry, retry=FAST, clock=clock
    ) as client:
        yield client, registry


@pytest.fixture
async def env() -> AsyncIterator[Environment]:
    async with Environment() as environment:
        await environment.install_crds([gadget_crd()])
        yield environment


def answers(registry: CollectorRegistry, code: int, method: str) -> float:
    return counter(registry, "rest_client_requests_total", code=str(code), method=method)


def retries(registry: CollectorRegistry, code: int, method: str) -> float:
    return counter(registry, "rest_client_request_retries_total", code=str(code), method=method)


@pytest.mark.parametrize(("status", "retry_after"), [(429, 0), (500, None), (503, None)])
async def test_reads_are_retried_on_injected_errors(
    env: Environment, status: int, retry_after: int | None
) -> None:
    async with client_for(env) as (client, registry):
        await client.create(gadget("a", size=1))
        env.faults.inject(
            status=status, verb="GET", path_regex=OBJECT, count=2, retry_after=retry_after
        )
        got = await client.get(GADGET, "a", namespace="default")
        assert got["spec"] == {"size": 1}
        assert answers(registry, status, "GET") == 2
        assert retries(registry, status, "GET") == 2
        env.faults.inject(status=status, verb="GET", path_regex=COLLECTION, retry_after=0)
        listed = await client.list(GADGET, namespace="default")
        assert [i["metadata"]["name"] for i in listed.items] == ["a"]
        assert retries(registry, status, "GET") == 3


async def test_reads_give_up_after_the_attempts(env: Environment) -> None:
    async with client_for(env) as (client, registry):
        env.faults.inject(status=503, verb="GET", path_regex=OBJECT, count=None, retry_after=0)
        with pytest.raises(ApiError) as raised:
            await client.get(GADGET, "a", namespace="default")
        assert raised.value.status == 503
        assert answers(registry, 503, "GET") == FAST.attempts


@pytest.mark.parametrize("status", [429, 503])
async def test_writes_are_retried_on_429_and_503_with_retry_after(
    env: Environment, status: int
) -> None:
    async with client_for(env) as (client, registry):
        env.faults.inject(status=status, verb="POST", path_regex=COLLECTION, retry_after=0)
        created = await client.create(gadget("a", size=1))
        env.faults.inject(status=status, verb="PATCH", path_regex=OBJECT, count=2, retry_after=0)
        patched = await client.patch(GADGET, "a", {"spec": {"size": 2}}, namespace="default")
        assert int(patched["metadata"]["resourceVersion"]) > int(
            created["metadata"]["resourceVersion"]
        )
        assert server_objects(env) == {"default/a": patched["metadata"]["resourceVersion"]}
        assert retries(registry, status, "POST") == 1
        assert retries(registry, status, "PATCH") == 2


@pytest.mark.parametrize(("status", "retry_after"), [(500, 0), (503, None), (429, None)])
async def test_writes_are_not_retried_without_a_safe_answer(
    env: Environment, status: int, retry_after: int | None
) -> None:
    async with client_for(env) as (client, registry):
        env.faults.inject(status=status, verb="POST", retry_after=retry_after)
        with pytest.raises(ApiError) as raised:
            await client.create(gadget("a"))
        assert raised.value.status == status
        assert answers(registry, status, "POST") == 1
        assert retries(registry, status, "POST") == 0
        assert server_objects(env) == {}
        await client.create(gadget("a"))
        env.faults.inject(status=status, verb="DELETE", retry_after=retry_after)
        with pytest.raises(ApiError):
            await client.delete(GADGET, "a", namespace="default")
        assert list(server_objects(env)) == ["default/a"]


async def test_the_server_given_delay_is_honoured(env: Environment) -> None:
    clock = FakeClock()
    async with client_for(env, clock) as (client, registry):
        await client.create(gadget("a"))
        env.faults.inject(status=429, verb="GET", path_regex=OBJECT, retry_after=7)
        read = asyncio.create_task(client.get(GADGET, "a", namespace="default"))
        async with asyncio.timeout(10):
            while not clock.pending_timers():  # noqa: ASYNC110 (the client sleeps on the clock)
                await asyncio.sleep(0.005)
        assert clock.next_deadline() == clock.now() + 7
        clock.advance(6.9)
        await asyncio.sleep(0.05)
        assert not read.done()
        clock.advance(0.1)
        async with asyncio.timeout(10):
            assert (await read)["metadata"]["name"] == "a"
        assert retries(registry, 429, "GET") == 1
