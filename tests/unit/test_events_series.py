"""Event isomorphism key, the series rule with a FakeClock, the LRU bound, note truncation, and
the recorder's writes against a stand-in client (create, series patch, 404 fallback, failures
logged and counted, never raised)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from framework.client import Client
from framework.clock import FakeClock
from framework.errors import Forbidden, NotFound
from framework.events import (
    NOTE_LIMIT,
    SERIES_WINDOW,
    EventRecorder,
    IsomorphicEventCache,
    event_key,
    micro_time,
    truncate_note,
)

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "resourceVersion": "7"},
}


def event(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": "p.1", "namespace": "ns"},
        "regarding": {"apiVersion": "v1", "kind": "Pod", "namespace": "ns", "name": "p"},
        "reason": "Started",
        "action": "Start",
        "type": "Normal",
        "reportingController": "kubeloop.dev/test",
        "reportingInstance": "pod-1",
        "note": "first",
    }
    body.update(changes)
    return body


def test_the_note_and_resource_version_are_not_part_of_the_key() -> None:
    changed = event(
        note="another note",
        regarding={**event()["regarding"], "resourceVersion": "99"},
        metadata={"name": "p.2"},
    )
    assert event_key(event()) == event_key(changed)


def test_every_other_field_is_part_of_the_key() -> None:
    base = event_key(event())
    for field, value in [
        ("reason", "Stopped"),
        ("action", "Stop"),
        ("type", "Warning"),
        ("reportingController", "other"),
        ("reportingInstance", "pod-2"),
        ("regarding", {**event()["regarding"], "name": "q"}),
        ("regarding", {**event()["regarding"], "uid": "u2"}),
        ("related", {"apiVersion": "v1", "kind": "Node", "name": "n"}),
    ]:
        assert event_key(event(**{field: value})) != base, field


def test_series_counts_from_two_and_stamps_the_last_observation() -> None:
    clock = FakeClock(wall_start=datetime(2026, 5, 1, 12, 0, tzinfo=UTC))
    cache = IsomorphicEventCache(clock)
    first = cache.observe(event())
    assert first.count == 1
    assert "series" not in first.body

    clock.advance(60)
    second = cache.observe(event(note="second"))
    assert second is first
    assert first.body["series"] == {"count": 2, "lastObservedTime": "2026-05-01T12:01:00.000000Z"}
    assert first.body["note"] == "first"  # a series keeps the first event's note

    clock.advance(SERIES_WINDOW)  # the window runs from the last observation
    assert cache.observe(event()).body["series"]["count"] == 3


def test_a_repeat_after_the_window_starts_a_new_event() -> None:
    clock = FakeClock()
    cache = IsomorphicEventCache(clock)
    first = cache.observe(event())
    clock.advance(SERIES_WINDOW + 1)
    second = cache.observe(event(metadata={"name": "p.2"}))
    assert second is not first
    assert second.count == 1
    assert cache.observe(event()) is second


def test_the_cache_forgets_the_least_recently_observed() -> None:
    cache = IsomorphicEventCache(FakeClock(), size=2)
    a = cache.observe(event(reason="A"))
    cache.observe(event(reason="B"))
    assert cache.observe(event(reason="A")) is a  # A is now the most recent
    cache.observe(event(reason="C"))  # evicts B
    assert len(cache) == 2
    assert cache.observe(event(reason="A")) is a
    assert cache.observe(event(reason="B")).count == 1


def test_note_truncated_to_1_kib_on_a_character_boundary() -> None:
    assert truncate_note("short") == "short"
    cut = truncate_note("é" * NOTE_LIMIT)  # two bytes each
    assert len(cut.encode()) == NOTE_LIMIT
    odd = truncate_note("x" + "é" * NOTE_LIMIT)
    assert len(odd.encode()) == NOTE_LIMIT - 1
    assert odd.endswith("é")


def test_micro_time_is_rfc3339_utc_with_microseconds() -> None:
    assert micro_time(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "2026-01-02T03:04:05.000006Z"


class StandIn:
    """Records the recorder's calls; `fail_patch` / `fail_create` make those calls raise."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail_patch: Exception | None = None
        self.fail_create: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("create", dict(body)))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_create is not None:
            raise self.fail_create
        return body

    async def patch(self, kind: Any, name: str, patch: Any, **options: Any) -> dict[str, Any]:
        self.calls.append(("patch", (name, patch, options)))
        if self.fail_patch is not None:
            raise self.fail_patch
        return {}


def recorder(stand_in: StandIn, clock: FakeClock, registry: CollectorRegistry) -> EventRecorder:
    client = cast(Client, stand_in)
    return EventRecorder(client, "kubeloop.dev/test", "pod-1", clock=clock, registry=registry)


async def test_recorder_creates_then_patches_the_series() -> None:
    stand_in, clock = StandIn(), FakeClock()
    events = recorder(stand_in, clock, CollectorRegistry())
    await events.event(POD, "Normal", "Started", "Start", "n" * 2000)
    [(verb, body)] = stand_in.calls
    assert verb == "create"
    assert body["metadata"]["name"].startswith("p.")
    assert body["metadata"]["namespace"] == "ns"
    assert body["regarding"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": "p",
        "namespace": "ns",
        "uid": "u1",
        "resourceVersion": "7",
    }
    assert body["eventTime"] == "2026-01-01T00:00:00.000000Z"
    assert len(body["note"]) == NOTE_LIMIT

    clock.advance(10)
    await events.event(POD, "Normal", "Started", "Start", "again")
    verb, (name, patch, options) = stand_in.calls[1]
    assert (verb, name) == ("patch", body["metadata"]["name"])
    assert patch == {"series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:10.000000Z"}}
    assert options == {"namespace": "ns", "patch_type": "merge"}


async def test_cluster_scoped_objects_get_events_in_default() -> None:
    stand_in = StandIn()
    events = recorder(stand_in, FakeClock(), CollectorRegistry())
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "uid": "u"}}
    await events.event(node, "Warning", "NotReady", "Check", "down")
    assert stand_in.calls[0][1]["metadata"]["namespace"] == "default"


async def test_recorder_recreates_an_expired_event_with_its_series() -> None:
    stand_in, clock = StandIn(), FakeClock()
    events = recorder(stand_in, clock, CollectorRegistry())
    await events.event(POD, "Normal", "Started", "Start", "x")
    stand_in.fail_patch = NotFound(404, "NotFound", "gone")
    await events.event(POD, "Normal", "Started", "Start", "x")
    assert [verb for verb, _ in stand_in.calls] == ["create", "patch", "create"]
    assert stand_in.calls[2][1]["series"]["count"] == 2


async def test_failures_are_logged_counted_and_retried_on_the_next_repeat() -> None:
    stand_in, registry = StandIn(), CollectorRegistry()
    events = recorder(stand_in, FakeClock(), registry)
    stand_in.fail_create = Forbidden(403, "Forbidden", "no")
    with capture_logs() as logs:
        await events.event(POD, "Warning", "Failed", "Reconcile", "boom")
    assert [log["event"] for log in logs] == ["event not recorded"]
    assert logs[0]["regarding"] == "Pod ns/p"
    failures = registry.get_sample_value(
        "kubeloop_event_recording_failures_total", {"type": "Warning"}
    )
    assert failures == 1.0

    stand_in.fail_create = None
    await events.event(POD, "Warning", "Failed", "Reconcile", "boom")
    assert [verb for verb, _ in stand_in.calls] == ["create", "create"]
    assert stand_in.calls[1][1]["series"]["count"] == 2


async def test_recorders_share_a_registry() -> None:
    registry = CollectorRegistry()
    recorder(StandIn(), FakeClock(), registry)
    recorder(StandIn(), FakeClock(), registry)


async def test_a_repeat_during_the_create_waits_and_patches() -> None:
    stand_in = StandIn()
    stand_in.gate = asyncio.Event()
    events = recorder(stand_in, FakeClock(), CollectorRegistry())
    first = asyncio.create_task(events.event(POD, "Normal", "Started", "Start", "x"))
    second = asyncio.create_task(events.event(POD, "Normal", "Started", "Start", "x"))
    await asyncio.sleep(0)
    assert [verb for verb, _ in stand_in.calls] == ["create"]
    stand_in.gate.set()
    await asyncio.gather(first, second)
    assert [verb for verb, _ in stand_in.calls] == ["create", "patch"]
    assert stand_in.calls[1][1][1]["series"]["count"] == 2
