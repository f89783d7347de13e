"""The simulator's status writes: the merge patch of what a mutation changed, the lock when it
holds a list, retries on Conflict, and the answer taken into the object; and its timestamps."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry

from framework.cache import Cache
from framework.client import Client
from framework.clock import FakeClock
from framework.envtest.simulator.engine import (
    STATUS_ATTEMPTS,
    FailureInjection,
    StageTiming,
    World,
)
from framework.envtest.simulator.objects import timestamp
from framework.errors import Conflict

JSON = dict[str, Any]


# -- the write -------------------------------------------------------------------------------


class FakeClient:
    """Answers status patches (Conflict for the first `conflicts`) and reads."""

    def __init__(self, stored: JSON, conflicts: int = 0) -> None:
        self.stored = stored
        self.conflicts = conflicts
        self.patches: list[tuple[JSON, str | None]] = []
        self.reads = 0

    async def patch(self, gvk: object, name: str, patch: JSON, **options: Any) -> JSON:
        assert options["subresource"] == "status"
        self.patches.append((patch, options["resource_version"]))
        if self.conflicts:
            self.conflicts -= 1
            raise Conflict(409, "Conflict", "the object has been modified")
        version = int(self.stored["metadata"]["resourceVersion"]) + 1
        sent = patch["status"]
        status = None if sent is None else {**(self.stored.get("status") or {}), **sent}
        self.stored = {
            **self.stored,
            "metadata": {**self.stored["metadata"], "resourceVersion": str(version)},
            "status": status,
        }
        return copy.deepcopy(self.stored)

    async def get(self, gvk: object, name: str, *, namespace: str | None = None) -> JSON:
        self.reads += 1
        return copy.deepcopy(self.stored)


class FakeCache:
    def __init__(self) -> None:
        self.written: list[JSON] = []

    def wrote(self, obj: JSON) -> None:
        self.written.append(obj)


def pod(phase: str = "Pending", version: str = "3") -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "default", "resourceVersion": version},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]},
        "status": {"phase": phase},
    }


def world_of(client: FakeClient, cache: FakeCache) -> World:
    return World(
        "tester",
        cast(Client, client),
        cast(Cache, cache),
        timing=StageTiming.zero(),
        clock=FakeClock(),
        failures=FailureInjection(),
        registry=CollectorRegistry(),
    )


def set_phase(phase: str) -> Any:
    def mutate(obj: JSON) -> None:
        obj.setdefault("status", {})["phase"] = phase

    return mutate


def add_condition(obj: JSON) -> None:
    obj.setdefault("status", {})["conditions"] = [{"type": "Ready", "status": "True"}]


async def sent(before: JSON | None, after: JSON | None) -> JSON | None:
    """The patch a write sends when a mutation turns status `before` into `after`."""
    stored = pod()
    stored.pop("status")
    if before is not None:
        stored["status"] = before
    client = FakeClient(stored)

    def mutate(obj: JSON) -> None:
        obj.pop("status", None)
        if after is not None:
            obj["status"] = copy.deepcopy(after)

    await world_of(client, FakeCache()).patch_status(copy.deepcopy(stored), mutate)
    return client.patches[0][0] if client.patches else None


async def test_an_unchanged_status_sends_nothing() -> None:
    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    assert await sent(status, copy.deepcopy(status)) is None
    assert await sent(None, None) is None
    assert await sent(None, {}) is None  # an absent status made empty is no change
    assert await sent(None, {"capacity": {}}) is None


async def test_the_patch_holds_only_what_changed() -> None:
    before = {
        "phase": "Pending",
        "hostIP": "10.0.0.1",
        "capacity": {"cpu": "8", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "False"}],
        "gone": "x",
    }
    after = {
        "phase": "Running",
        "hostIP": "10.0.0.1",
        "capacity": {"cpu": "8", "pods": "100", "gpu": "1"},
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    assert await sent(before, after) == {
        "status": {
            "phase": "Running",
            "capacity": {"pods": "100", "gpu": "1"},  # nested objects are diffed
            "conditions": [{"type": "Ready", "status": "True"}],  # lists go whole
            "gone": None,  # a removed field is deleted
        }
    }


async def test_a_new_status_is_sent_whole_and_a_removed_one_as_null() -> None:
    assert await sent(None, {"phase": "Pending", "empty": {}}) == {"status": {"phase": "Pending"}}
    assert await sent({"phase": "Pending"}, None) == {"status": None}


async def test_a_status_write_sends_what_changed_and_takes_the_answer() -> None:
    client, cache = FakeClient(pod()), FakeCache()
    obj = pod()
    assert await world_of(client, cache).patch_status(obj, set_phase("Running"))
    assert client.patches == [({"status": {"phase": "Running"}}, None)]  # no list: no lock
    assert obj["metadata"]["resourceVersion"] == "4"
    assert obj["status"] == {"phase": "Running"}
    assert cache.written == [client.stored]


async def test_a_status_write_that_changes_nothing_sends_nothing() -> None:
    client, cache = FakeClient(pod("Running")), FakeCache()
    obj = pod("Running")
    assert not await world_of(client, cache).patch_status(obj, set_phase("Running"))
    assert client.patches == []
    assert cache.written == []


async def test_a_patch_holding_a_list_is_locked_and_retried_on_conflict() -> None:
    client, cache = FakeClient(pod(version="5"), conflicts=1), FakeCache()
    obj = pod(version="3")
    assert await world_of(client, cache).patch_status(obj, add_condition)
    assert [version for _, version in client.patches] == ["3", "5"]  # re-read, then re-sent
    assert client.reads == 1
    assert obj["metadata"]["resourceVersion"] == "6"
    assert obj["status"]["conditions"] == [{"type": "Ready", "status": "True"}]


async def test_a_status_write_gives_up_after_its_attempts_and_restores_the_object() -> None:
    client, cache = FakeClient(pod(), conflicts=STATUS_ATTEMPTS), FakeCache()
    obj = pod()
    with pytest.raises(Conflict):
        await world_of(client, cache).patch_status(obj, add_condition)
    assert len(client.patches) == STATUS_ATTEMPTS
    assert obj == pod()
    assert cache.written == []


# -- timestamps ------------------------------------------------------------------------------


def test_timestamps_are_whole_seconds_of_the_wall_clock() -> None:
    clock = FakeClock()
    first = timestamp(clock)
    assert first.endswith("Z")
    assert "." not in first
    clock.advance(0.4)
    assert timestamp(clock) == first
    clock.advance(0.7)
    later = timestamp(clock)
    assert later > first
    assert timestamp(FakeClock()) == first  # another clock at the same time: the same stamp
