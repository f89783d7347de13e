"""Work-queue metrics under controller-runtime's names, labelled by queue name.

The metric families are created once per `CollectorRegistry` (never the global one) and shared
by every queue recording into it; each `WorkQueueMetrics` is one queue's labelled view.
`workqueue_unfinished_work_seconds` and `workqueue_longest_running_processor_seconds` are
computed when the registry is scraped. `per_registry` is the memoisation every module uses for
its own families.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from framework.clock import Clock

# controller-runtime: prometheus.ExponentialBuckets(10e-9, 10, 12), 10 ns .. 1000 s.
_DURATION_BUCKETS = tuple(10.0**exponent for exponent in range(-8, 4))
_UNFINISHED = "workqueue_unfinished_work_seconds"
_LONGEST = "workqueue_longest_running_processor_seconds"

_F = TypeVar("_F")


def per_registry(build: Callable[[CollectorRegistry], _F]) -> Callable[[CollectorRegistry], _F]:
    """Memoise `build` per registry: a metric family is registered once per registry and shared
    by every owner recording into it; an unused registry is freed (weak keys)."""
    built: weakref.WeakKeyDictionary[CollectorRegistry, _F] = weakref.WeakKeyDictionary()

    @functools.wraps(build)
    def of(registry: CollectorRegistry) -> _F:
        if registry not in built:
            built[registry] = build(registry)
        return built[registry]

    return of


class WorkQueueMetrics:
    """One named queue's metrics; the queue reports each transition of an item.

    `added` when an item starts waiting to be handed out (duplicates of a waiting item are not
    reported), `got` when it is handed to a worker, `done` when the worker finishes, `retried`
    for every delayed add.
    """

    def __init__(self, name: str, clock: Clock, registry: CollectorRegistry) -> None:
        families = _families_of(registry)
        self.name = name
        self._clock = clock
        self._depth = families.depth.labels(name)
        self._adds = families.adds.labels(name)
        self._queue_duration = families.queue_duration.labels(name)
        self._work_duration = families.work_duration.labels(name)
        self._retries = families.retries.labels(name)
        self._added_at: dict[Hashable, float] = {}
        self._started_at: dict[Hashable, float] = {}
        families.in_flight.queues.add(self)

    def added(self, item: Hashable) -> None:
        self._adds.inc()
        self._depth.inc()
        self._added_at.setdefault(item, self._clock.now())

    def got(self, item: Hashable) -> None:
        now = self._clock.now()
        self._depth.dec()
        added_at = self._added_at.pop(item, None)
        if added_at is not None:
            self._queue_duration.observe(now - added_at)
        self._started_at[item] = now

    def done(self, item: Hashable) -> None:
        started_at = self._started_at.pop(item, None)
        if started_at is not None:
            self._work_duration.observe(self._clock.now() - started_at)

    def retried(self) -> None:
        self._retries.inc()

    def in_flight(self) -> tuple[float, float]:
        """Seconds spent so far by items being processed: (total, longest)."""
        now = self._clock.now()
        running = [now - started for started in self._started_at.values()]
        return sum(running), max(running, default=0.0)


class _InFlightCollector(Collector):
    """Computes the in-flight gauges of every live queue on one registry at scrape time."""

    def __init__(self) -> None:
        self.queues: weakref.WeakSet[WorkQueueMetrics] = weakref.WeakSet()

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        totals: dict[str, tuple[float, float]] = {}
        for queue in list(self.queues):
            total, longest = queue.in_flight()
            seen_total, seen_longest = totals.get(queue.name, (0.0, 0.0))
            totals[queue.name] = (seen_total + total, max(seen_longest, longest))
        unfinished, longest_running = self._families()
        for name, (total, longest) in totals.items():
            unfinished.add_metric([name], total)
            longest_running.add_metric([name], longest)
        yield unfinished
        yield longest_running

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                _UNFINISHED,
                "Seconds of work in progress not yet observed by work_duration; large values "
                "indicate stuck workers.",
                labels=["name"],
            ),
            GaugeMetricFamily(
                _LONGEST,
                "Seconds the longest-running worker of the queue has been processing.",
                labels=["name"],
            ),
        )


@dataclass(frozen=True)
class _Families:
    depth: Gauge
    adds: Counter
    queue_duration: Histogram
    work_duration: Histogram
    retries: Counter
    in_flight: _InFlightCollector


@per_registry
def _families_of(registry: CollectorRegistry) -> _Families:
    labels = ["name"]
    families = _Families(
        depth=Gauge("workqueue_depth", "Current depth of workqueue.", labels, registry=registry),
        adds=Counter(
            "workqueue_adds",
            "Total number of adds handled by workqueue.",
            labels,
            registry=registry,
        ),
        queue_duration=Histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested.",
            labels,
            registry=registry,
            buckets=_DURATION_BUCKETS,
        ),
        work_duration=Histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes.",
            labels,
            registry=registry,
            buckets=_DURATION_BUCKETS,
        ),
        retries=Counter(
            "workqueue_retries",
            "Total number of retries handled by workqueue.",
            labels,
            registry=registry,
        ),
        in_flight=_InFlightCollector(),
    )
    registry.register(families.in_flight)
    return families
