"""The event recorder against the embedded API server: an event created, its series updated on
repeats within 6 minutes (FakeClock), a new event after that, an expired event recreated, a
rejected event counted, the events listed by kubectl, and events emitted in the background."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from framework.client import Client
from framework.clock import FakeClock
from framework.envtest import Environment
from framework.events import EVENT_GVK, SERIES_WINDOW, EventRecorder

CONTROLLER = "kubeloop.dev/workspace"


@pytest.fixture
async def kube(env: Environment) -> AsyncIterator[Client]:
    async with await Client.for_environment(env, registry=CollectorRegistry()) as client:
        yield client


@pytest.fixture
async def target(kube: Client) -> Any:
    return await kube.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w", "namespace": "default"}}
    )


async def stored_events(kube: Client, namespace: str = "default") -> list[dict[str, Any]]:
    events = (await kube.list(EVENT_GVK, namespace=namespace)).items
    return sorted(events, key=lambda e: e["eventTime"])


async def test_repeats_within_six_minutes_update_the_series(kube: Client, target: Any) -> None:
    clock = FakeClock()
    recorder = EventRecorder(kube, CONTROLLER, "pod-1", clock=clock)
    await recorder.event(target, "Normal", "Provisioning", "Provision", "creating the node")
    [event] = await stored_events(kube)
    assert event["metadata"]["name"].startswith("w.")
    assert event["regarding"]["uid"] == target["metadata"]["uid"]
    assert (event["reason"], event["action"], event["type"], event["note"]) == (
        "Provisioning",
        "Provision",
        "Normal",
        "creating the node",
    )
    assert (event["reportingController"], event["reportingInstance"]) == (CONTROLLER, "pod-1")
    assert event["eventTime"] == "2026-01-01T00:00:00.000000Z"
    assert "series" not in event

    for seconds, count in [(30, 2), (SERIES_WINDOW, 3)]:
        clock.advance(seconds)
        await recorder.event(target, "Normal", "Provisioning", "Provision", "another note")
        [event] = await stored_events(kube)
        assert event["series"]["count"] == count
        assert event["note"] == "creating the node"
    assert event["series"]["lastObservedTime"] == "2026-01-01T00:06:30.000000Z"

    clock.advance(SERIES_WINDOW + 1)
    await recorder.event(target, "Normal", "Provisioning", "Provision", "creating again")
    first, second = await stored_events(kube)
    assert first["series"]["count"] == 3
    assert (second["note"], second.get("series")) == ("creating again", None)


async def test_different_events_are_not_folded(kube: Client, target: Any) -> None:
    recorder = EventRecorder(kube, CONTROLLER, "pod-1", clock=FakeClock())
    await recorder.event(target, "Normal", "Provisioning", "Provision", "x")
    await recorder.event(target, "Warning", "Provisioning", "Provision", "x")
    await recorder.event(target, "Normal", "Provisioned", "Provision", "x")
    assert len(await stored_events(kube)) == 3


async def test_an_expired_event_is_recreated_with_its_series(kube: Client, target: Any) -> None:
    recorder = EventRecorder(kube, CONTROLLER, "pod-1", clock=FakeClock())
    await recorder.event(target, "Warning", "Failed", "Reconcile", "boom")
    [event] = await stored_events(kube)
    await kube.delete(EVENT_GVK, event["metadata"]["name"], namespace="default")
    await recorder.event(target, "Warning", "Failed", "Reconcile", "boom")
    [again] = await stored_events(kube)
    assert again["metadata"]["name"] == event["metadata"]["name"]
    assert again["series"]["count"] == 2


async def test_cluster_scoped_objects_and_failures(kube: Client) -> None:
    registry = CollectorRegistry()
    recorder = EventRecorder(kube, CONTROLLER, "pod-1", clock=FakeClock(), registry=registry)
    namespace = await kube.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    )
    await recorder.event(namespace, "Normal", "Adopted", "Adopt", "")
    [event] = await stored_events(kube)
    assert event["regarding"]["name"] == "team-a"

    lost = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "no-such-namespace"},
    }
    await recorder.event(lost, "Warning", "Lost", "Check", "")  # must not raise
    failures = registry.get_sample_value(
        "kubeloop_event_recording_failures_total", {"type": "Warning"}
    )
    assert failures == 1.0


async def test_kubectl_lists_the_events(
    kube: Client, target: Any, kubectl: Callable[..., Any]
) -> None:
    recorder = EventRecorder(kube, CONTROLLER, "pod-1", clock=FakeClock())
    await recorder.event(target, "Normal", "Provisioning", "Provision", "creating the node")
    result = await kubectl("get", "events.events.k8s.io", "-n", "default", "-o", "name")
    [name] = result.stdout.split()
    [event] = await stored_events(kube)
    assert name == f"event.events.k8s.io/{event['metadata']['name']}"


async def test_emitted_events_are_written_in_the_background_until_flushed(
    kube: Client, target: Any
) -> None:
    registry = CollectorRegistry()
    recorder = EventRecorder(
        kube, CONTROLLER, "pod-1", clock=FakeClock(), registry=registry, backlog=3, writers=2
    )
    for note in ("one", "two", "three"):
        await recorder.event(target, "Normal", "Provisioning", "Provision", note, wait=False)
    # The backlog is full: this one is written before the call returns (back-pressure).
    await recorder.event(target, "Normal", "Throttled", "Provision", "backlog full", wait=False)
    assert "Throttled" in {e["reason"] for e in await stored_events(kube)}
    await recorder.flush()
    provisioning = [e for e in await stored_events(kube) if e["reason"] == "Provisioning"]
    assert [(e["note"], e["series"]["count"]) for e in provisioning] == [("one", 3)]
    failures = registry.get_sample_value(
        "kubeloop_event_recording_failures_total", {"type": "Normal"}
    )
    assert not failures
    await recorder.event(target, "Warning", "Bad", "Check", "after the flush", wait=False)
    await recorder.flush()
    reasons = sorted(e["reason"] for e in await stored_events(kube))
    assert reasons == ["Bad", "Provisioning", "Throttled"]
