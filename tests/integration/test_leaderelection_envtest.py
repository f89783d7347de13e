"""Leader election on the embedded API server with short durations: one leader at a time,
takeover after expiry or release, and loss when another party overwrites the Lease."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from framework.client import Client
from framework.envtest import Environment
from framework.leaderelection import (
    LEASE,
    LeaderElectionConfig,
    LeaderElectionLost,
    LeaderElector,
    format_micro_time,
)

WAIT = 15.0  # generous bound for every condition


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds; fail after WAIT seconds."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.02)


class Candidate:
    """A running elector whose leading work waits until cancelled."""

    def __init__(self, client: Client, identity: str, release: bool = False) -> None:
        self.registry = CollectorRegistry()
        config = LeaderElectionConfig(
            name="lock",
            namespace="default",
            identity=identity,
            lease_duration=1.5,
            renew_deadline=1.0,
            retry_period=0.2,
            release_on_cancel=release,
        )
        self.elector = LeaderElector(client, config, registry=self.registry)
        self.leaders: list[str] = []
        self.work: asyncio.Future[None] | None = None
        self.stopped = False
        self.task = asyncio.create_task(self.elector.run(self._lead, self._stop, self._new))

    def _new(self, leader: str) -> None:
        self.leaders.append(leader)

    def _stop(self) -> None:
        self.stopped = True

    async def _lead(self) -> None:
        """Leading work: wait on a future that a cancelled leader leaves cancelled."""
        self.work = asyncio.get_running_loop().create_future()
        await self.work

    @property
    def leading(self) -> bool:
        return self.elector.is_leader

    def gauge(self) -> float | None:
        return self.registry.get_sample_value("leader_election_master_status", {"name": "lock"})

    async def stop(self) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def kube(env: Environment) -> AsyncIterator[Client]:
    async with await Client.for_environment(env, registry=CollectorRegistry()) as client:
        yield client


async def lease_spec(kube: Client) -> dict[str, Any]:
    spec: dict[str, Any] = (await kube.get(LEASE, "lock", namespace="default"))["spec"]
    return spec


@asynccontextmanager
async def two_candidates(kube: Client, release: bool) -> AsyncIterator[tuple[Candidate, ...]]:
    """Two candidates, yielded as (leader, standby) once one leads; asserts afterwards that
    they were never sampled leading together."""
    first, second = Candidate(kube, "a", release), Candidate(kube, "b", release)
    with never_both(first, second):
        await wait_until(lambda: first.leading or second.leading, "someone leads")
        pair = (first, second) if first.leading else (second, first)
        yield pair
        for candidate in pair:
            if not candidate.task.done():
                await candidate.stop()


@contextmanager
def never_both(first: Candidate, second: Candidate) -> Iterator[None]:
    samples: list[bool] = []

    async def sample() -> None:
        while True:
            samples.append(first.leading and second.leading)
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    try:
        yield
    finally:
        sampler.cancel()
    assert len(samples) > 10
    assert not any(samples)


async def test_standby_takes_over_when_the_lease_expires(kube: Client) -> None:
    async with two_candidates(kube, release=False) as (leader, standby):
        assert leader.gauge() == 1
        assert standby.gauge() == 0
        await wait_until(lambda: bool(standby.leaders), "standby sees the leader")
        assert standby.leaders == [leader.elector.identity]

        await leader.stop()
        assert leader.work is not None
        assert leader.work.cancelled()
        assert leader.stopped
        assert (await lease_spec(kube))["holderIdentity"] == leader.elector.identity

        await wait_until(lambda: standby.leading, "standby leads after expiry")
        spec = await lease_spec(kube)
        assert spec["holderIdentity"] == standby.elector.identity
        assert spec["leaseTransitions"] == 1
        assert spec["leaseDurationSeconds"] == 2
        assert leader.gauge() == 0
        assert standby.gauge() == 1
        assert standby.leaders[-1] == standby.elector.identity


async def test_standby_takes_over_promptly_after_a_release(kube: Client) -> None:
    async with two_candidates(kube, release=True) as (leader, standby):
        await leader.stop()
        spec = await lease_spec(kube)
        assert spec["holderIdentity"] == ""
        assert spec["leaseDurationSeconds"] == 1

        await wait_until(lambda: standby.leading, "standby leads after the release")
        assert (await lease_spec(kube))["holderIdentity"] == standby.elector.identity


async def test_an_overwritten_lease_stops_the_leader(kube: Client) -> None:
    leader = Candidate(kube, "a")
    await wait_until(lambda: leader.leading, "the candidate leads")

    lease = await kube.get(LEASE, "lock", namespace="default")
    now = format_micro_time(datetime.now(UTC))
    lease["spec"].update(holderIdentity="intruder", renewTime=now, acquireTime=now)
    await kube.update(lease)

    async with asyncio.timeout(WAIT):
        with pytest.raises(LeaderElectionLost, match="intruder"):
            await leader.task
    assert leader.work is not None
    assert leader.work.cancelled()
    assert leader.stopped
    assert not leader.leading
    assert leader.gauge() == 0
    assert (await lease_spec(kube))["holderIdentity"] == "intruder"
