"""Controller workers and result handling, with a FakeClock and in-process informers:
every result branch, per-key exclusivity, exception isolation, timeouts, metrics, logging
context, lifecycle (sync, missing kind, drain)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import structlog
from prometheus_client import CollectorRegistry
from test_controller_support import (
    WIDGET,
    FakeCache,
    ScriptedReconciler,
    obj,
    settle,
    until,
)

from framework.clock import FakeClock
from framework.controller import (
    CacheSyncTimeout,
    Controller,
    ControllerBuilder,
    ControllerOptions,
    Request,
    Result,
    TerminalError,
)
from framework.errors import Conflict
from framework.tracker import ControllerState, ObjectKey, StatusTracker

A = Request("default", "a")
B = Request("default", "b")

Factory = Callable[..., Controller]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def cache() -> FakeCache:
    return FakeCache()


@pytest.fixture
def tracker(clock: FakeClock) -> StatusTracker:
    return StatusTracker(clock)


@pytest.fixture
async def make(
    cache: FakeCache, registry: CollectorRegistry, clock: FakeClock, tracker: StatusTracker
) -> AsyncIterator[Factory]:
    """Builds a Widget controller on the fake cache; stops every one built at the end."""
    built: list[Controller] = []

    def factory(reconciler: ScriptedReconciler, **options: object) -> Controller:
        controller = (
            ControllerBuilder()
            .for_kind(WIDGET)
            .with_options(ControllerOptions(**options))  # type: ignore[arg-type]
            .build(reconciler, cache=cache, registry=registry, clock=clock, tracker=tracker)
        )
        built.append(controller)
        return controller

    yield factory
    for controller in built:
        await controller.stop(grace_period=1.0)


async def started(controller: Controller, cache: FakeCache, *objects: dict[str, object]) -> None:
    """Start `controller` with the Widget informer synced with `objects`."""
    starting = asyncio.create_task(controller.start())
    await settle()
    cache.of(WIDGET).sync(*objects)
    await asyncio.wait_for(starting, 5)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, {"controller": "widget", **labels})
    return 0.0 if value is None else value


# --- result branches ------------------------------------------------------------------------


async def test_exception_is_rate_limited_with_growing_delay_and_the_worker_lives_on(
    make: Factory, cache: FakeCache, clock: FakeClock, registry: CollectorRegistry
) -> None:
    reconciler = ScriptedReconciler({A: [ValueError("boom")] * 3})
    controller = make(reconciler)
    await started(controller, cache, obj("a"))
    await until(lambda: reconciler.finished[A] == 1)
    for attempt, delay in enumerate((0.005, 0.010, 0.020), start=1):
        await settle()
        assert controller.queue.num_requeues(A) == attempt
        clock.advance(delay * 0.9)
        await settle()
        assert reconciler.count(A) == attempt, "requeued before its backoff delay"
        clock.advance(delay * 0.2)
        expected = attempt + 1
        await until(lambda: reconciler.finished[A] == expected)  # noqa: B023 (awaited at once)
    await settle()
    assert controller.queue.num_requeues(A) == 0, "the success after the failures forgets"
    # the single worker survived three exceptions and serves other keys
    cache.of(WIDGET).add(obj("b"))
    await until(lambda: reconciler.finished[B] == 1)
    assert sample(registry, "controller_runtime_reconcile_errors_total") == 3
    assert sample(registry, "controller_runtime_reconcile_panics_total") == 3
    assert sample(registry, "controller_runtime_reconcile_total", result="error") == 3
    assert sample(registry, "controller_runtime_reconcile_total", result="success") == 2


async def test_expected_errors_are_not_panics(
    make: Factory, cache: FakeCache, registry: CollectorRegistry
) -> None:
    reconciler = ScriptedReconciler({A: [Conflict(409, "Conflict", "stale")]})
    controller = make(reconciler)
    await started(controller, cache, obj("a"))
    await until(lambda: sample(registry, "controller_runtime_reconcile_errors_total") == 1)
    assert sample(registry, "controller_runtime_reconcile_panics_total") == 0
    assert controller.queue.num_requeues(A) == 1


async def test_terminal_error_is_not_requeued_and_is_counted(
    make: Factory,
    cache: FakeCache,
    clock: FakeClock,
    registry: CollectorRegistry,
    tracker: StatusTracker,
) -> None:
    reconciler = ScriptedReconciler({A: [TerminalError("spec can never work")]})
    controller = make(reconciler)
    await started(controller, cache, obj("a"))
    await until(lambda: sample(registry, "controller_runtime_reconcile_errors_total") == 1)
    clock.advance(10_000)
    await settle()
    assert reconciler.count(A) == 1
    assert controller.queue.num_requeues(A) == 0
    assert sample(registry, "controller_runtime_terminal_reconcile_errors_total") == 1
    assert sample(registry, "controller_runtime_reconcile_total", result="error") == 1
    assert sample(registry, "controller_runtime_reconcile_panics_total") == 0
    status = tracker.controller("widget")
    assert status is not None
    assert status.reconciles == {"terminal": 1}
    record = tracker.get("widget", ObjectKey("example.com", "Widget", "default", "a"))
    assert record is not None
    assert record.error == "TerminalError: spec can never work"
    # a later event still reconciles it
    cache.of(WIDGET).update(obj("a"), obj("a", rv="2", generation=2))
    await until(lambda: reconciler.finished[A] == 2)


async def test_requeue_after_forgets_and_waits_the_given_time(
    make: Factory, cache: FakeCache, clock: FakeClock, registry: CollectorRegistry
) -> None:
    reconciler = ScriptedReconciler({A: [ValueError("once"), Result(requeue_after=30.0)]})
    controller = make(reconciler)
    await started(controller, cache, obj("a"))
    await until(lambda: reconciler.finished[A] == 1)
    clock.advance(0.006)
    await until(lambda: reconciler.finished[A] == 2)
    await settle()
    assert controller.queue.num_requeues(A) == 0, "requeue_after forgets the failures"
    clock.advance(29.9)
    await settle()
    assert reconciler.count(A) == 2
    clock.advance(0.2)
    await until(lambda: reconciler.finished[A] == 3)
    assert sample(registry, "controller_runtime_reconcile_total", result="requeue_after") == 1


@pytest.mark.parametrize("after", [0.0, None, -5.0])
async def test_requeue_after_zero_or_none_is_unset(
    make: Factory,
    cache: FakeCache,
    clock: FakeClock,
    registry: CollectorRegistry,
    after: float | None,
) -> None:
    reconciler = ScriptedReconciler({A: [Result(requeue_after=after)]})
    controller = make(reconciler)
    await started(controller, cache, obj("a"))
    await until(lambda: sample(registry, "controller_runtime_reconcile_total", result="success"))
    clock.advance(10_000)
    await settle()
    assert reconciler.count(A) == 1
    assert len(controller.queue) == 0


async def test_result_now_requeues_at_once_without_rate_limit(
    make: Factory, cache: FakeCache, registry: CollectorRegistry
) -> None:
    reconciler = ScriptedReconciler({A: [ValueError("x"), Result.now(), Result.now()]})
    controller = make(reconciler)
    await started(controller, cache, obj("a"))
    await until(lambda: reconciler.finished[A] == 1)
    controller.queue.add(A)  # an event arriving during the backoff brings it forward
    # no clock movement needed: both Result.now() requeues are immediate
    await until(lambda: reconciler.finished[A] == 4)
    assert controller.queue.num_requeues(A) == 0
    assert sample(registry, "controller_runtime_reconcile_total", result="requeue") == 2


async def test_requeue_true_is_rate_limited(
    make: Factory, cache: FakeCache, clock: FakeClock, registry: CollectorRegistry
) -> None:
    reconciler = ScriptedReconciler({A: [Result(requeue=True), Result(requeue=True)]})
    controller = make(reconciler)
    await started(controller, cache, obj("a"))
    await until(lambda: reconciler.finished[A] == 1)
    await settle()
    assert controller.queue.num_requeues(A) == 1
    assert reconciler.count(A) == 1, "requeue=True waits for the rate limiter"
    clock.advance(0.006)
    await until(lambda: reconciler.finished[A] == 2)
    await settle()
    assert controller.queue.num_requeues(A) == 2
    clock.advance(0.009)
    await settle()
    assert reconciler.count(A) == 2
    clock.advance(0.002)
    await until(lambda: reconciler.finished[A] == 3)
    assert sample(registry, "controller_runtime_reconcile_total", result="requeue") == 2


async def test_success_forgets(make: Factory, cache: FakeCache, clock: FakeClock) -> None:
    reconciler = ScriptedReconciler({A: [ValueError("1"), ValueError("2")]})
    controller = make(reconciler)
    await started(controller, cache, obj("a"))
    await until(lambda: reconciler.finished[A] == 1)
    clock.advance(0.006)
    await until(lambda: reconciler.finished[A] == 2)
    clock.advance(0.011)
    await until(lambda: reconciler.finished[A] == 3)
    await settle()
    assert controller.queue.num_requeues(A) == 0


class NoneReconciler:
    """Forgets to return a Result."""

    async def reconcile(self, request: Request) -> Result:
        return None  # type: ignore[return-value]


async def test_a_reconciler_returning_no_result_is_an_error(
    make: Factory, cache: FakeCache, registry: CollectorRegistry
) -> None:
    controller = make(NoneReconciler())
    await started(controller, cache, obj("a"))
    await until(lambda: sample(registry, "controller_runtime_reconcile_errors_total") == 1)
    assert sample(registry, "controller_runtime_reconcile_panics_total") == 1
    assert controller.queue.num_requeues(A) == 1


async def test_reconcile_timeout_cancels_and_counts_an_error(
    make: Factory, cache: FakeCache, registry: CollectorRegistry
) -> None:
    reconciler = ScriptedReconciler()
    reconciler.gate = asyncio.Event()  # never set: every reconcile hangs
    controller = make(reconciler, reconcile_timeout=0.05)
    await started(controller, cache, obj("a"))
    await until(lambda: sample(registry, "controller_runtime_reconcile_errors_total") == 1)
    assert controller.queue.num_requeues(A) == 1
    assert reconciler.active[A] == 0, "the timed-out reconcile was cancelled"
    assert sample(registry, "controller_runtime_reconcile_panics_total") == 0


# --- concurrency ----------------------------------------------------------------------------


async def test_one_key_is_never_reconciled_twice_at_once(
    make: Factory, cache: FakeCache, registry: CollectorRegistry
) -> None:
    keys = [Request("default", f"w{index}") for index in range(40)]
    reconciler = ScriptedReconciler({key: [ValueError("x"), Result.now()] for key in keys})
    controller = make(reconciler, max_concurrent_reconciles=4)
    informer = cache.informer(WIDGET)

    def add_again(request: Request) -> None:
        if reconciler.count(request) <= 2:  # events for the same key while it is in flight
            informer.update(obj(request.name), obj(request.name, rv="2"))

    reconciler.hook = add_again
    await started(controller, cache, *(obj(key.name) for key in keys))
    await until(lambda: all(reconciler.count(key) >= 3 for key in keys))
    assert reconciler.max_per_key == 1
    assert reconciler.max_total == 4, "four workers reconcile different keys together"
    assert (
        registry.get_sample_value(
            "controller_runtime_max_concurrent_reconciles", {"controller": "widget"}
        )
        == 4
    )


async def test_a_cancellation_leaking_from_the_reconciler_is_an_error(
    make: Factory, cache: FakeCache, registry: CollectorRegistry
) -> None:
    reconciler = ScriptedReconciler({A: [asyncio.CancelledError()]})
    controller = make(reconciler)
    await started(controller, cache, obj("a"), obj("b"))
    await until(lambda: reconciler.finished[B] == 1)
    assert sample(registry, "controller_runtime_reconcile_panics_total") == 1
    assert controller.queue.num_requeues(A) == 1
    assert controller.running


async def test_an_exception_for_one_key_does_not_hold_up_others(
    make: Factory, cache: FakeCache
) -> None:
    reconciler = ScriptedReconciler({A: [RuntimeError("bad")] * 100})
    controller = make(reconciler)
    await started(controller, cache, obj("a"), obj("b"))
    await until(lambda: reconciler.finished[B] == 1)
    assert reconciler.count(A) == 1
    cache.of(WIDGET).add(obj("c"))
    await until(lambda: reconciler.finished[Request("default", "c")] == 1)
    assert controller.running


# --- metrics and logging --------------------------------------------------------------------


async def test_metrics_names_and_initial_values(make: Factory, registry: CollectorRegistry) -> None:
    make(ScriptedReconciler(), max_concurrent_reconciles=3)
    for result in ("success", "error", "requeue", "requeue_after"):
        labels = {"controller": "widget", "result": result}
        assert registry.get_sample_value("controller_runtime_reconcile_total", labels) == 0
    for name in (
        "controller_runtime_reconcile_errors_total",
        "controller_runtime_terminal_reconcile_errors_total",
        "controller_runtime_reconcile_panics_total",
        "controller_runtime_active_workers",
        "controller_runtime_reconcile_time_seconds_count",
    ):
        assert registry.get_sample_value(name, {"controller": "widget"}) == 0, name
    assert sample(registry, "controller_runtime_max_concurrent_reconciles") == 3


async def test_active_workers_and_reconcile_time(
    make: Factory, cache: FakeCache, registry: CollectorRegistry
) -> None:
    reconciler = ScriptedReconciler()
    reconciler.gate = asyncio.Event()
    controller = make(reconciler, max_concurrent_reconciles=3)
    await started(controller, cache, obj("a"), obj("b"))
    await until(lambda: sample(registry, "controller_runtime_active_workers") == 2)
    reconciler.gate.set()
    await until(lambda: sample(registry, "controller_runtime_reconcile_time_seconds_count") == 2)
    assert sample(registry, "controller_runtime_active_workers") == 0
    assert registry.get_sample_value("workqueue_adds_total", {"name": "widget"}) == 2, (
        "the queue is named after the controller and records on the same registry"
    )


async def test_each_reconcile_binds_its_log_context(make: Factory, cache: FakeCache) -> None:
    contexts: list[dict[str, object]] = []
    reconciler = ScriptedReconciler(
        {A: [Result.now()]},
        hook=lambda _: contexts.append(structlog.contextvars.get_contextvars()),
    )
    controller = make(reconciler)
    await started(controller, cache, obj("a"))
    await until(lambda: len(contexts) == 2)
    for context in contexts:
        assert context["controller"] == "widget"
        assert context["namespace"] == "default"
        assert context["name"] == "a"
    assert contexts[0]["reconcile_id"] != contexts[1]["reconcile_id"]
    assert all(str(uuid.UUID(str(c["reconcile_id"]))) == c["reconcile_id"] for c in contexts)
    assert structlog.contextvars.get_contextvars() == {}


async def test_exceptions_are_logged_with_key_and_traceback(
    make: Factory, cache: FakeCache
) -> None:
    reconciler = ScriptedReconciler({A: [ValueError("kaput")]})
    controller = make(reconciler)
    with structlog.testing.capture_logs() as logs:
        await started(controller, cache, obj("a"))
        await until(lambda: any(e["event"] == "reconciler error" for e in logs))
    entry = next(e for e in logs if e["event"] == "reconciler error")
    assert entry["request"] == "default/a"
    assert entry["log_level"] == "error"
    assert isinstance(entry["exc_info"], ValueError)
    assert entry["exc_info"].__traceback__ is not None


# --- lifecycle ------------------------------------------------------------------------------


async def test_workers_start_only_after_the_informers_sync(
    make: Factory, cache: FakeCache, tracker: StatusTracker
) -> None:
    reconciler = ScriptedReconciler()
    controller = make(reconciler)
    starting = asyncio.create_task(controller.start())
    await settle()
    informer = cache.of(WIDGET)
    informer.add(obj("early"))  # queued before the sync
    await settle()
    assert reconciler.calls == []
    status = tracker.controller("widget")
    assert status is not None
    assert status.state is ControllerState.SYNCING
    informer.sync()
    await asyncio.wait_for(starting, 5)
    await until(lambda: reconciler.calls == [Request("default", "early")])
    status = tracker.controller("widget")
    assert status is not None
    assert status.state is ControllerState.READY
    assert status.queue_depth == 0


async def test_cache_sync_timeout_fails_the_start(make: Factory, tracker: StatusTracker) -> None:
    controller = make(ScriptedReconciler(), cache_sync_timeout=0.0)
    with pytest.raises(CacheSyncTimeout, match="Widget"):
        await controller.start()
    status = tracker.controller("widget")
    assert status is not None
    assert status.state is ControllerState.ERROR


async def test_a_missing_kind_suspends_the_sync_timeout(
    make: Factory, cache: FakeCache, tracker: StatusTracker
) -> None:
    reconciler = ScriptedReconciler()
    controller = make(reconciler, cache_sync_timeout=0.0)
    informer = cache.informer(WIDGET)
    informer.waiting_for_kind = True
    with structlog.testing.capture_logs() as logs:
        starting = asyncio.create_task(controller.start())
        await until(lambda: any(e.get("kind") == str(WIDGET) for e in logs))
    assert not starting.done()
    status = tracker.controller("widget")
    assert status is not None
    assert "CRD" in status.message
    informer.sync(obj("a"))
    await asyncio.wait_for(starting, 5)
    await until(lambda: reconciler.calls == [A])


async def test_stop_lets_in_flight_reconciles_finish(make: Factory, cache: FakeCache) -> None:
    reconciler = ScriptedReconciler()
    reconciler.gate = asyncio.Event()
    controller = make(reconciler, max_concurrent_reconciles=2)
    await started(controller, cache, obj("a"), obj("b"), obj("c"))
    await until(lambda: len(reconciler.calls) == 2)
    stopping = asyncio.create_task(controller.stop(grace_period=30.0))
    await settle()
    assert not stopping.done()
    reconciler.gate.set()
    assert await asyncio.wait_for(stopping, 5) is True
    assert len(reconciler.calls) == 2, "no new request is taken once stopping"
    assert not controller.running


async def test_stop_cancels_reconciles_that_outlive_the_grace_period(
    make: Factory, cache: FakeCache
) -> None:
    reconciler = ScriptedReconciler()
    reconciler.gate = asyncio.Event()
    controller = make(reconciler)
    await started(controller, cache, obj("a"))
    await until(lambda: reconciler.active[A] == 1)
    assert await controller.stop(grace_period=0.01) is False
    assert reconciler.active[A] == 0


async def test_stop_before_sync_ends_start(make: Factory, cache: FakeCache) -> None:
    controller = make(ScriptedReconciler())
    running = asyncio.create_task(controller.run())
    await settle()
    await controller.stop()
    await asyncio.wait_for(running, 5)
    assert not controller.running


async def test_run_serves_until_stopped(make: Factory, cache: FakeCache) -> None:
    reconciler = ScriptedReconciler()
    controller = make(reconciler)
    running = asyncio.create_task(controller.run())
    await settle()
    cache.of(WIDGET).sync(obj("a"))
    await until(lambda: reconciler.calls == [A])
    assert not running.done()
    await controller.stop()
    await asyncio.wait_for(running, 5)


async def test_a_controller_starts_once(make: Factory, cache: FakeCache) -> None:
    controller = make(ScriptedReconciler())
    await started(controller, cache)
    with pytest.raises(RuntimeError, match="already started"):
        await controller.start()
