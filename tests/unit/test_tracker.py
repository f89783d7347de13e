"""StatusTracker: per-object state and history, errors, snapshots, queries, controllers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from framework.clock import FakeClock
from framework.tracker import (
    HISTORY_LIMIT,
    ControllerState,
    ObjectKey,
    StatusTracker,
    Transition,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
JOB = ObjectKey("kubeloop.dev", "NotebookValidationJob", "ns", "job-1")
OTHER = ObjectKey("kubeloop.dev", "NotebookValidationJob", "ns", "job-2")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall_start=T0)


@pytest.fixture
def tracker(clock: FakeClock) -> StatusTracker:
    return StatusTracker(clock=clock)


def test_first_record_starts_history(tracker: StatusTracker) -> None:
    status = tracker.record("nvj", JOB, "Initializing", "created")
    assert status.state == "Initializing"
    assert status.message == "created"
    assert status.state_entered == status.last_updated == T0
    assert status.error is None
    assert status.history == (Transition(None, "Initializing", T0, "created"),)
    assert tracker.get("nvj", JOB) == status


def test_same_state_adds_no_history_but_updates_message(
    tracker: StatusTracker, clock: FakeClock
) -> None:
    tracker.record("nvj", JOB, "Building", "started")
    clock.advance(10)
    status = tracker.record("nvj", JOB, "Building", "still building")
    assert len(status.history) == 1
    assert status.message == "still building"
    assert status.state_entered == T0
    assert status.last_updated == T0 + timedelta(seconds=10)


def test_transitions_are_recorded_with_from_to_time_and_message(
    tracker: StatusTracker, clock: FakeClock
) -> None:
    tracker.record("nvj", JOB, "Initializing")
    clock.advance(5)
    status = tracker.record("nvj", JOB, "Building", "build started")
    assert status.history[-1] == Transition(
        "Initializing", "Building", T0 + timedelta(seconds=5), "build started"
    )
    assert status.state_entered == T0 + timedelta(seconds=5)


def test_only_the_last_twenty_transitions_are_kept(tracker: StatusTracker) -> None:
    for i in range(HISTORY_LIMIT + 5):
        tracker.record("nvj", JOB, f"S{i}")
    status = tracker.get("nvj", JOB)
    assert status is not None
    assert HISTORY_LIMIT == 20
    assert [t.to_state for t in status.history] == [f"S{i}" for i in range(5, 25)]
    assert status.history[0].from_state == "S4"


def test_history_limit_is_configurable(clock: FakeClock) -> None:
    tracker = StatusTracker(clock=clock, history_limit=2)
    for state in ("A", "B", "C"):
        tracker.record("c", JOB, state)
    status = tracker.get("c", JOB)
    assert status is not None
    assert [t.to_state for t in status.history] == ["B", "C"]


def test_error_kept_until_recovery(tracker: StatusTracker, clock: FakeClock) -> None:
    tracker.record("nvj", JOB, "Building")
    clock.advance(1)
    failed = tracker.record_error("nvj", JOB, RuntimeError("api down"))
    assert failed.error == "RuntimeError: api down"
    assert failed.state == "Building"
    assert failed.last_updated == T0 + timedelta(seconds=1)
    assert len(failed.history) == 1
    again = tracker.record_error("nvj", JOB, "still down")
    assert again.error == "still down"
    recovered = tracker.record("nvj", JOB, "Building", "ok again")
    assert recovered.error is None


def test_error_before_any_state(tracker: StatusTracker) -> None:
    status = tracker.record_error("nvj", JOB, "boom")
    assert status.state is None
    assert status.state_entered is None
    assert status.history == ()
    assert tracker.count_by_state() == {}
    assert tracker.stuck(0) == []
    assert tracker.record("nvj", JOB, "Initializing").history == (
        Transition(None, "Initializing", T0, ""),
    )


def test_snapshots_are_copies(tracker: StatusTracker) -> None:
    nested = {"uid": "u1"}
    metadata: dict[str, Any] = {"generation": 1, "nested": nested}
    snapshot = tracker.record("nvj", JOB, "Building", metadata=metadata)
    nested["uid"] = "changed-input"
    snapshot.metadata["nested"]["uid"] = "changed-snapshot"
    stored = tracker.get("nvj", JOB)
    assert stored is not None
    assert stored.metadata == {"generation": 1, "nested": {"uid": "u1"}}
    tracker.record("nvj", JOB, "Failed", "late")
    assert snapshot.state == "Building"
    assert len(snapshot.history) == 1
    with pytest.raises(AttributeError):
        snapshot.state = "Other"  # type: ignore[misc]


def test_metadata_is_kept_unless_replaced(tracker: StatusTracker) -> None:
    tracker.record("nvj", JOB, "Building", metadata={"generation": 1})
    assert tracker.record("nvj", JOB, "Building").metadata == {"generation": 1}
    assert tracker.record("nvj", JOB, "Building", metadata={}).metadata == {}


def test_keys_in_different_groups_and_controllers_do_not_collide(tracker: StatusTracker) -> None:
    ours = ObjectKey("kubeloop.dev", "Workspace", "ns", "w")
    theirs = ObjectKey("example.com", "Workspace", "ns", "w")
    tracker.record("workspace", ours, "Running")
    tracker.record("workspace", theirs, "Pending")
    tracker.record("audit", ours, "Seen")
    assert [s.state for s in tracker.list()] == ["Seen", "Pending", "Running"]
    assert tracker.count_by_state() == {"Seen": 1, "Pending": 1, "Running": 1}
    assert tracker.count_by_state("workspace") == {"Pending": 1, "Running": 1}


def test_list_filters_and_orders(tracker: StatusTracker) -> None:
    tracker.record("nvj", OTHER, "Building")
    tracker.record("nvj", JOB, "Building")
    tracker.record("nvj", ObjectKey("kubeloop.dev", "NotebookValidationJob", "ns", "j3"), "Failed")
    tracker.record("ws", JOB, "Building")
    assert [s.key.name for s in tracker.list("nvj", "Building")] == ["job-1", "job-2"]
    assert [s.controller for s in tracker.list(state="Building")] == ["nvj", "nvj", "ws"]
    assert tracker.count_by_state("nvj") == {"Building": 2, "Failed": 1}


def test_stuck_uses_time_in_state_and_exclusions(tracker: StatusTracker, clock: FakeClock) -> None:
    tracker.record("nvj", JOB, "Building")
    tracker.record("nvj", OTHER, "Succeeded")
    clock.advance(100)
    tracker.record("nvj", JOB, "Building", "progress does not reset the age")
    assert tracker.stuck(101) == []
    assert [s.key for s in tracker.stuck(100)] == [JOB, OTHER]
    assert [s.key for s in tracker.stuck(100, exclude={"Succeeded"})] == [JOB]
    assert tracker.stuck(100, controller="ws") == []
    tracker.record("nvj", JOB, "Failed")
    assert [s.key for s in tracker.stuck(50, exclude={"Succeeded"})] == []


def test_forget_one_controller_or_all(tracker: StatusTracker) -> None:
    tracker.record("nvj", JOB, "Building")
    tracker.record("audit", JOB, "Seen")
    tracker.forget(JOB, controller="audit")
    assert tracker.get("audit", JOB) is None
    assert tracker.get("nvj", JOB) is not None
    tracker.forget(JOB)
    assert tracker.get("nvj", JOB) is None
    assert tracker.list() == []
    tracker.forget(JOB)


def test_object_key_from_wire_object() -> None:
    namespaced = {
        "apiVersion": "kubeloop.dev/v1alpha1",
        "kind": "Workspace",
        "metadata": {"namespace": "ns", "name": "w"},
    }
    core = {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "ns", "name": "p"}}
    cluster = {"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim", "metadata": {"name": "n"}}
    assert ObjectKey.of(namespaced) == ObjectKey("kubeloop.dev", "Workspace", "ns", "w")
    assert ObjectKey.of(core) == ObjectKey("", "Pod", "ns", "p")
    assert ObjectKey.of(cluster) == ObjectKey("karpenter.sh", "NodeClaim", "", "n")
    assert str(ObjectKey.of(namespaced)) == "Workspace.kubeloop.dev/ns/w"
    assert str(ObjectKey.of(core)) == "Pod/ns/p"
    assert str(ObjectKey.of(cluster)) == "NodeClaim.karpenter.sh/n"


def test_controller_lifecycle_counts_and_queue_depth(
    tracker: StatusTracker, clock: FakeClock
) -> None:
    depth = [3]
    registered = tracker.register_controller("nvj", queue_depth=lambda: depth[0])
    assert registered.state is ControllerState.INITIALIZING
    assert registered.queue_depth == 3
    clock.advance(1)
    tracker.set_controller_state("nvj", ControllerState.SYNCING, "waiting for caches")
    clock.advance(1)
    ready = tracker.set_controller_state("nvj", ControllerState.READY)
    assert ready.state_entered == T0 + timedelta(seconds=2)
    tracker.count_reconcile("nvj", "success")
    tracker.count_reconcile("nvj", "success")
    tracker.count_reconcile("nvj", "error")
    tracker.record("nvj", JOB, "Building")
    depth[0] = 0
    status = tracker.controller("nvj")
    assert status is not None
    assert status.reconciles == {"success": 2, "error": 1}
    assert status.queue_depth == 0
    assert status.objects == 1
    assert status.state is ControllerState.READY


def test_controller_error_is_replaced_by_the_next_state(tracker: StatusTracker) -> None:
    broken = tracker.set_controller_state("ws", ControllerState.ERROR, "lost watch", "410 Gone")
    assert broken.error == "410 Gone"
    healed = tracker.set_controller_state("ws", ControllerState.READY)
    assert healed.error is None
    assert healed.queue_depth is None
    assert tracker.controller("missing") is None
    assert [c.name for c in tracker.controllers()] == ["ws"]
    status = tracker.controller("ws")
    assert status is not None
    status.reconciles["x"] = 1
    assert tracker.controller("ws") == healed


async def test_concurrent_tasks_see_consistent_state(tracker: StatusTracker) -> None:
    async def worker(n: int) -> None:
        key = ObjectKey("kubeloop.dev", "Workspace", "ns", f"w{n % 5}")
        for state in ("Pending", "Creating", "Running"):
            tracker.record("ws", key, state)
            tracker.count_reconcile("ws", "success")
            await asyncio.sleep(0)

    await asyncio.gather(*(worker(n) for n in range(50)))
    assert tracker.count_by_state("ws") == {"Running": 5}
    status = tracker.controller("ws")
    assert status is not None
    assert status.reconciles == {"success": 150}
    for snapshot in tracker.list("ws"):
        assert [t.to_state for t in snapshot.history][:3] == ["Pending", "Creating", "Running"]
