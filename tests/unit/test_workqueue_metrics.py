"""Work-queue metrics: client-go's TestMetrics figures on a FakeClock, retries, scrape-time
gauges, several queues on one registry, and nothing recorded without a name and a registry."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from test_workqueue import get_now

from framework.clock import FakeClock
from framework.workqueue import RateLimitingQueue

US = 1e-6


class Scrape:
    """Reads one queue's samples from a registry."""

    def __init__(self, registry: CollectorRegistry, name: str) -> None:
        self.registry = registry
        self.name = name

    def __call__(self, metric: str) -> float | None:
        return self.registry.get_sample_value(metric, {"name": self.name})


def named_queue(
    clock: FakeClock, registry: CollectorRegistry, name: str = "test"
) -> RateLimitingQueue[str]:
    return RateLimitingQueue[str](name=name, clock=clock, registry=registry)


def test_client_go_metrics_figures() -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    queue = named_queue(clock, registry)
    value = Scrape(registry, "test")

    queue.add("foo")
    assert value("workqueue_adds_total") == 1
    assert value("workqueue_depth") == 1

    clock.advance(50 * US)
    item = get_now(queue)
    assert item == "foo"
    assert value("workqueue_queue_duration_seconds_sum") == pytest.approx(50 * US)
    assert value("workqueue_queue_duration_seconds_count") == 1
    assert value("workqueue_depth") == 0

    for _ in range(5):  # added back while processing: de-duplicated
        queue.add(item)
    assert value("workqueue_adds_total") == 2
    assert value("workqueue_depth") == 1

    clock.advance(25 * US)
    queue.done(item)
    assert value("workqueue_work_duration_seconds_sum") == pytest.approx(25 * US)
    assert value("workqueue_work_duration_seconds_count") == 1
    assert value("workqueue_depth") == 1

    item = get_now(queue)  # back on the queue after done
    assert item == "foo"
    # 25 us this time: waiting started at the re-add, not at the first add.
    assert value("workqueue_queue_duration_seconds_sum") == pytest.approx(75 * US)
    assert value("workqueue_queue_duration_seconds_count") == 2

    clock.advance(1e-3)
    assert value("workqueue_unfinished_work_seconds") == pytest.approx(1e-3)
    assert value("workqueue_longest_running_processor_seconds") == pytest.approx(1e-3)

    queue.done(item)
    assert value("workqueue_work_duration_seconds_sum") == pytest.approx(25 * US + 1e-3)
    assert value("workqueue_work_duration_seconds_count") == 2
    assert value("workqueue_unfinished_work_seconds") == 0
    assert value("workqueue_longest_running_processor_seconds") == 0
    assert value("workqueue_retries_total") == 0


def test_duration_buckets_match_controller_runtime() -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    queue = named_queue(clock, registry)
    queue.add("foo")
    clock.advance(2e-6)
    get_now(queue)
    bucket = "workqueue_queue_duration_seconds_bucket"
    assert registry.get_sample_value(bucket, {"name": "test", "le": "1e-06"}) == 0
    assert registry.get_sample_value(bucket, {"name": "test", "le": "1e-05"}) == 1
    assert registry.get_sample_value(bucket, {"name": "test", "le": "1000.0"}) == 1


def test_retries_count_every_positive_delay_and_fired_items_count_as_adds() -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    queue = named_queue(clock, registry)
    value = Scrape(registry, "test")
    queue.add_after("foo", 1.0)
    queue.add_after("foo", 2.0)
    queue.add_rate_limited("bar")
    queue.add_after("now", 0.0)  # not a retry: an add
    assert value("workqueue_retries_total") == 3
    assert value("workqueue_adds_total") == 1
    assert value("workqueue_depth") == 1
    clock.advance(1.0)
    assert value("workqueue_adds_total") == 3
    assert value("workqueue_depth") == 3


def test_delayed_item_due_while_in_flight_is_counted_once() -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    queue = named_queue(clock, registry)
    value = Scrape(registry, "test")
    queue.add("foo")
    item = get_now(queue)
    queue.add_after("foo", 1.0)
    clock.advance(1.0)
    queue.add("foo")
    assert value("workqueue_adds_total") == 2
    assert value("workqueue_depth") == 1
    queue.done(item)
    get_now(queue)
    assert value("workqueue_depth") == 0


def test_priority_raise_is_not_an_add() -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    queue = named_queue(clock, registry)
    value = Scrape(registry, "test")
    queue.add("foo")
    queue.add("foo", 3)
    queue.add_after("foo", 1.0, priority=5)
    assert value("workqueue_adds_total") == 1
    assert value("workqueue_depth") == 1


def test_adds_after_shut_down_are_not_counted() -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    queue = named_queue(clock, registry)
    value = Scrape(registry, "test")
    queue.shut_down()
    queue.add("foo")
    queue.add_after("bar", 1.0)
    assert value("workqueue_adds_total") == 0
    assert value("workqueue_retries_total") == 0


def test_two_queues_share_the_families_of_one_registry() -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    first = named_queue(clock, registry, "first")
    second = named_queue(clock, registry, "second")
    first.add("a")
    second.add("a")
    second.add("b")
    in_flight = get_now(second)
    clock.advance(2.0)
    assert Scrape(registry, "first")("workqueue_depth") == 1
    assert Scrape(registry, "second")("workqueue_depth") == 1
    assert Scrape(registry, "first")("workqueue_unfinished_work_seconds") == 0
    assert Scrape(registry, "second")("workqueue_unfinished_work_seconds") == 2.0
    second.done(in_flight)
    exposition = generate_latest(registry).decode()
    assert exposition.count("# TYPE workqueue_depth gauge") == 1
    assert 'workqueue_adds_total{name="second"} 2.0' in exposition


def test_in_flight_gauges_sum_and_max_over_workers() -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    queue = named_queue(clock, registry)
    queue.add("a")
    get_now(queue)
    clock.advance(3.0)
    queue.add("b")
    get_now(queue)
    clock.advance(1.0)
    value = Scrape(registry, "test")
    assert value("workqueue_unfinished_work_seconds") == pytest.approx(5.0)
    assert value("workqueue_longest_running_processor_seconds") == pytest.approx(4.0)


def test_same_registry_and_same_name_twice_aggregates() -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    queues = [named_queue(clock, registry, "same") for _ in range(2)]
    for queue in queues:
        queue.add("x")
        get_now(queue)
    clock.advance(1.0)
    value = Scrape(registry, "same")
    assert value("workqueue_adds_total") == 2
    assert value("workqueue_unfinished_work_seconds") == pytest.approx(2.0)
    assert value("workqueue_longest_running_processor_seconds") == pytest.approx(1.0)


def test_unnamed_queue_or_queue_without_registry_records_nothing() -> None:
    registry = CollectorRegistry()
    global_before = generate_latest(REGISTRY)
    queues = [
        RateLimitingQueue[str](clock=FakeClock(), registry=registry),
        RateLimitingQueue[str](name="no-registry", clock=FakeClock()),
    ]
    for queue in queues:
        queue.add("foo")
        queue.done(get_now(queue))
        assert type(queue) is RateLimitingQueue
    assert generate_latest(registry) == b""
    assert b"workqueue" not in generate_latest(REGISTRY)
    assert generate_latest(REGISTRY).count(b"\n# TYPE") == global_before.count(b"\n# TYPE")
