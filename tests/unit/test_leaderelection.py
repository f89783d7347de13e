"""LeaderElector against an in-memory Lease store on a FakeClock: config validation, expiry
judged from local observation, renewal, loss, release, and one leader among candidates."""

from __future__ import annotations

import asyncio
import copy
import re
import socket
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from framework.clock import FakeClock
from framework.errors import AlreadyExists, ApiError, Conflict, NotFound
from framework.leaderelection import (
    LEASE,
    LeaderElectionConfig,
    LeaderElectionLost,
    LeaderElector,
    format_micro_time,
)
from framework.resources import GroupVersionKind

START = "2026-01-01T00:00:00.000000Z"


class FakeLeases:
    """One namespace's Leases with resourceVersions, optimistic locks and injectable failure."""

    def __init__(self) -> None:
        self.leases: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.failing = False
        self.hanging = False

    def _stored(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.leases[stored["metadata"]["name"]] = stored
        return copy.deepcopy(stored)

    async def _request(self) -> None:
        await asyncio.sleep(0)
        if self.hanging:
            await asyncio.Event().wait()
        if self.failing:
            raise ApiError(500, "InternalError", "injected")

    async def get(
        self, kind: GroupVersionKind, name: str, *, namespace: str | None = None
    ) -> dict[str, Any]:
        assert kind == LEASE
        await self._request()
        if name not in self.leases:
            raise NotFound(404, "NotFound", f"leases {name!r} not found")
        return copy.deepcopy(self.leases[name])

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        await self._request()
        if obj["metadata"]["name"] in self.leases:
            raise AlreadyExists(409, "AlreadyExists", "exists")
        return self._stored(obj)

    async def update(self, obj: dict[str, Any]) -> dict[str, Any]:
        await self._request()
        current = self.leases[obj["metadata"]["name"]]
        if obj["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise Conflict(409, "Conflict", "the object has been modified")
        return self._stored(obj)

    def put(self, name: str, **spec: Any) -> None:
        """Another party writes the Lease (merging `spec` into the current one)."""
        current = self.leases.get(name) or {"metadata": {"name": name, "namespace": "ns"}}
        self._stored({**current, "spec": {**current.get("spec", {}), **spec}})

    def spec(self, name: str = "lock") -> dict[str, Any]:
        spec: dict[str, Any] = self.leases[name]["spec"]
        return spec


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def advance(clock: FakeClock, seconds: float, step: float = 0.1) -> None:
    for _ in range(round(seconds / step)):
        clock.advance(step)
        await settle()


class Candidate:
    """An elector plus a running `run()` task whose leading work waits until cancelled."""

    def __init__(
        self, leases: FakeLeases, clock: FakeClock, identity: str, release: bool = False
    ) -> None:
        self.registry = CollectorRegistry()
        config = LeaderElectionConfig(
            name="lock", namespace="ns", identity=identity, release_on_cancel=release
        )
        self.elector = LeaderElector(leases, config, clock=clock, registry=self.registry)
        self.leaders: list[str] = []
        self.stopped = 0
        self.work: asyncio.Task[Any] | None = None
        self.task = asyncio.create_task(
            self.elector.run(self._lead, self._stopped, self.leaders.append)
        )

    async def _lead(self) -> None:
        self.work = asyncio.current_task()
        await asyncio.Event().wait()

    @property
    def work_cancelled(self) -> bool:
        return self.work is not None and self.work.cancelled()

    def _stopped(self) -> None:
        self.stopped += 1

    def gauge(self) -> float | None:
        return self.registry.get_sample_value("leader_election_master_status", {"name": "lock"})

    async def cancel(self) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


@pytest.fixture
def leases() -> FakeLeases:
    return FakeLeases()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall_start=datetime(2026, 1, 1, tzinfo=UTC))


def test_config_defaults_are_controller_runtimes() -> None:
    config = LeaderElectionConfig(name="lock", namespace="ns")
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (15, 10, 2)
    assert config.release_on_cancel is False
    assert re.fullmatch(rf"{re.escape(socket.gethostname())}_[0-9a-f-]{{36}}", config.identity)
    assert LeaderElectionConfig(name="lock", namespace="ns").identity != config.identity


@pytest.mark.parametrize(
    ("durations", "message"),
    [
        ((10.0, 10.0, 2.0), "lease_duration .* greater than renew_deadline"),
        ((15.0, 16.0, 2.0), "lease_duration .* greater than renew_deadline"),
        ((15.0, 2.4, 2.0), r"renew_deadline .* greater than 1.2 x retry_period"),
        ((15.0, 10.0, 9.0), r"renew_deadline .* greater than 1.2 x retry_period"),
        ((15.0, 10.0, 0.0), "greater than 0"),
        ((-1.0, 10.0, 2.0), "greater than 0"),
    ],
)
def test_config_rejects_inconsistent_durations(
    durations: tuple[float, float, float], message: str
) -> None:
    lease, renew, retry = durations
    with pytest.raises(ValidationError, match=message):
        LeaderElectionConfig(
            name="lock",
            namespace="ns",
            lease_duration=lease,
            renew_deadline=renew,
            retry_period=retry,
        )


@pytest.mark.parametrize("field", ["name", "namespace", "identity"])
def test_config_rejects_empty_names(field: str) -> None:
    values = {"name": "lock", "namespace": "ns", "identity": "me", field: ""}
    with pytest.raises(ValidationError, match=field):
        LeaderElectionConfig.model_validate(values)


def test_lease_duration_seconds_round_up() -> None:
    short = LeaderElectionConfig(
        name="l", namespace="n", lease_duration=1.5, renew_deadline=1.0, retry_period=0.2
    )
    assert short.lease_duration_seconds == 2
    assert LeaderElectionConfig(name="l", namespace="n").lease_duration_seconds == 15


def test_micro_time_is_rfc3339_utc_with_microseconds() -> None:
    assert format_micro_time(datetime(2026, 1, 1, tzinfo=UTC)) == START
    moment = datetime.fromisoformat("2026-03-04T05:06:07.089+02:00")
    assert format_micro_time(moment) == "2026-03-04T03:06:07.089000Z"


async def test_creates_an_absent_lease_then_renews_it(leases: FakeLeases, clock: FakeClock) -> None:
    me = Candidate(leases, clock, "me")
    assert me.gauge() == 0
    await settle()
    assert me.elector.is_leader
    assert leases.spec() == {
        "holderIdentity": "me",
        "leaseDurationSeconds": 15,
        "acquireTime": START,
        "renewTime": START,
        "leaseTransitions": 0,
    }
    assert me.leaders == ["me"]
    assert me.gauge() == 1

    await advance(clock, 2.0)
    assert leases.spec()["renewTime"] == "2026-01-01T00:00:02.000000Z"
    assert leases.spec()["acquireTime"] == START

    await me.cancel()
    assert me.work_cancelled
    assert me.stopped == 1
    assert not me.elector.is_leader
    assert me.gauge() == 0
    assert leases.spec()["holderIdentity"] == "me"  # not released


async def test_expiry_is_judged_from_local_observation_not_remote_times(
    leases: FakeLeases, clock: FakeClock
) -> None:
    ancient = "2000-01-01T00:00:00.000000Z"
    leases.put(
        "lock",
        holderIdentity="other",
        leaseDurationSeconds=15,
        acquireTime=ancient,
        renewTime=ancient,
        leaseTransitions=3,
    )
    me = Candidate(leases, clock, "me")
    await advance(clock, 14.5)
    assert not me.elector.is_leader
    assert leases.spec()["holderIdentity"] == "other"
    assert me.leaders == ["other"]

    # expired 15 s after first seen; the next retry comes at most 2 x 2.2 s later
    await advance(clock, 0.5 + 4.5)
    assert me.elector.is_leader
    assert leases.spec()["holderIdentity"] == "me"
    assert leases.spec()["leaseTransitions"] == 4
    assert leases.spec()["acquireTime"] > START
    assert me.leaders == ["other", "me"]
    await me.cancel()


async def test_a_renewed_record_is_never_taken(leases: FakeLeases, clock: FakeClock) -> None:
    leases.put("lock", holderIdentity="other", leaseDurationSeconds=15, renewTime="t0")
    me = Candidate(leases, clock, "me")
    for beat in range(1, 13):
        await advance(clock, 5.0)
        leases.put("lock", renewTime=f"t{beat}")
    assert not me.elector.is_leader
    assert leases.spec()["holderIdentity"] == "other"

    # the other stopped renewing: seen by the next retry (<= 4.4 s), expired 15 s later,
    # taken by the retry after that
    await advance(clock, 4.4 + 15.0 + 4.4 + 0.5)
    assert me.elector.is_leader
    await me.cancel()


async def test_a_lease_without_holder_is_taken_at_once(
    leases: FakeLeases, clock: FakeClock
) -> None:
    leases.put("lock", holderIdentity="", leaseDurationSeconds=1, leaseTransitions=7)
    me = Candidate(leases, clock, "me")
    await settle()
    assert me.elector.is_leader
    assert leases.spec()["leaseTransitions"] == 8
    await me.cancel()


@pytest.mark.parametrize("fault", ["failing", "hanging"])
async def test_renewal_failing_past_the_deadline_loses_the_lease(
    leases: FakeLeases, clock: FakeClock, fault: str
) -> None:
    me = Candidate(leases, clock, "me")
    await settle()
    setattr(leases, fault, True)
    await advance(clock, 9.5)
    assert me.elector.is_leader
    assert me.work is not None
    assert not me.work.done()

    await advance(clock, 1.0)
    with pytest.raises(LeaderElectionLost, match="lock"):
        await me.task
    assert me.work_cancelled
    assert me.stopped == 1
    assert not me.elector.is_leader
    assert me.gauge() == 0


async def test_a_transient_renewal_failure_is_survived(
    leases: FakeLeases, clock: FakeClock
) -> None:
    me = Candidate(leases, clock, "me")
    await settle()
    leases.failing = True
    await advance(clock, 7.0)
    leases.failing = False
    await advance(clock, 30.0)
    assert me.elector.is_leader
    assert leases.spec()["renewTime"] > "2026-01-01T00:00:30"
    await me.cancel()


async def test_another_holder_in_the_lease_stops_the_leader(
    leases: FakeLeases, clock: FakeClock
) -> None:
    me = Candidate(leases, clock, "me")
    await settle()
    leases.put("lock", holderIdentity="intruder")
    await advance(clock, 2.0)
    with pytest.raises(LeaderElectionLost, match="intruder"):
        await me.task
    assert me.work_cancelled
    assert me.leaders == ["me", "intruder"]
    assert leases.spec()["holderIdentity"] == "intruder"


async def test_a_stale_resource_version_is_reread_and_renewal_retried(
    leases: FakeLeases, clock: FakeClock
) -> None:
    me = Candidate(leases, clock, "me")
    await settle()
    leases.put("lock")  # same record, new resourceVersion: the optimistic renewal conflicts
    await advance(clock, 2.0)
    assert me.elector.is_leader
    assert leases.spec()["renewTime"] == "2026-01-01T00:00:02.000000Z"
    await me.cancel()


async def test_release_on_cancel_clears_the_holder(leases: FakeLeases, clock: FakeClock) -> None:
    me = Candidate(leases, clock, "me", release=True)
    await settle()
    await me.cancel()
    assert leases.spec()["holderIdentity"] == ""
    assert leases.spec()["leaseDurationSeconds"] == 1
    assert leases.spec()["leaseTransitions"] == 0


async def test_run_ends_with_the_leading_work(leases: FakeLeases, clock: FakeClock) -> None:
    config = LeaderElectionConfig(name="lock", namespace="ns", release_on_cancel=True)
    elector = LeaderElector(leases, config, clock=clock)
    stopped: list[bool] = []

    async def finish() -> None:
        await clock.sleep(5)

    run = asyncio.create_task(elector.run(finish, lambda: stopped.append(True)))
    await advance(clock, 5.5)
    assert run.done()
    await run
    assert stopped == [True]
    assert leases.spec()["holderIdentity"] == ""

    async def fail() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await elector.run(fail)


async def test_candidates_never_lead_together(leases: FakeLeases, clock: FakeClock) -> None:
    first, second = Candidate(leases, clock, "a"), Candidate(leases, clock, "b")
    await settle()
    leader, standby = (first, second) if first.elector.is_leader else (second, first)
    assert leader.elector.is_leader
    assert not standby.elector.is_leader
    assert standby.gauge() == 0

    await leader.cancel()  # without release: the standby waits for expiry
    both = []
    for _ in range(250):
        await advance(clock, 0.1)
        both.append(leader.elector.is_leader and standby.elector.is_leader)
    assert not any(both)
    assert standby.elector.is_leader
    assert standby.gauge() == 1
    assert leases.spec()["leaseTransitions"] == 1
    await standby.cancel()
