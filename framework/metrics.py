"""Work-queue metrics under controller-runtime's names, labelled by queue name, and the lean
metric families the runtime records into on its hot paths.

The metric families are created once per `CollectorRegistry` (never the global one) and shared
by every queue recording into it; each `WorkQueueMetrics` is one queue's labelled view.
`workqueue_unfinished_work_seconds` and `workqueue_longest_running_processor_seconds` are
computed when the registry is scraped. `per_registry` is the memoisation every module uses for
its own families.

`LeanCounter`, `LeanGauge` and `LeanHistogram` are labelled families exposed exactly as
prometheus_client's `Counter`, `Gauge` and `Histogram` (same names, types, samples, `_created`
series, registration and name clashes), whose children hold plain floats updated in place:
no lock and no observability check per update, a third of the cost. They suit code running on
the event loop's thread (a scrape from another thread still reads consistent floats).
"""

from __future__ import annotations

import functools
import itertools
import math
import time
import weakref
from bisect import bisect_left
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from framework.clock import Clock

# controller-runtime: prometheus.ExponentialBuckets(10e-9, 10, 12), 10 ns .. 1000 s.
_DURATION_BUCKETS = tuple(10.0**exponent for exponent in range(-8, 4))
_UNFINISHED = "workqueue_unfinished_work_seconds"
_LONGEST = "workqueue_longest_running_processor_seconds"

_F = TypeVar("_F")
_C = TypeVar("_C")


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
    depth: LeanGauge
    adds: LeanCounter
    queue_duration: LeanHistogram
    work_duration: LeanHistogram
    retries: LeanCounter
    in_flight: _InFlightCollector


@per_registry
def _families_of(registry: CollectorRegistry) -> _Families:
    labels = ["name"]
    families = _Families(
        depth=LeanGauge("workqueue_depth", "Current depth of workqueue.", labels, registry),
        adds=LeanCounter(
            "workqueue_adds",
            "Total number of adds handled by workqueue.",
            labels,
            registry,
        ),
        queue_duration=LeanHistogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested.",
            labels,
            registry,
            buckets=_DURATION_BUCKETS,
        ),
        work_duration=LeanHistogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes.",
            labels,
            registry,
            buckets=_DURATION_BUCKETS,
        ),
        retries=LeanCounter(
            "workqueue_retries",
            "Total number of retries handled by workqueue.",
            labels,
            registry,
        ),
        in_flight=_InFlightCollector(),
    )
    registry.register(families.in_flight)
    return families


# --- lean families --------------------------------------------------------------------------


class CounterChild:
    """One labelled counter: `inc` by a non-negative amount."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        self.value += amount


class GaugeChild:
    """One labelled gauge."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount

    def set(self, value: float) -> None:
        self.value = float(value)


class HistogramChild:
    """One labelled histogram: counts per bucket (non-cumulative) and the sum."""

    __slots__ = ("_bounds", "counts", "created", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self.counts = [0.0] * len(bounds)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float) -> None:
        """As prometheus_client: counted in the first bucket whose bound is >= `amount` (in
        none when NaN)."""
        self.sum += amount
        if amount == amount:  # NaN is in no bucket
            self.counts[bisect_left(self._bounds, amount)] += 1.0


class _LeanFamily(Collector, Generic[_C]):
    """A labelled family registered on `registry`; `labels(*values)` is the child of those
    label values (created at first use, kept for good)."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], _C] = {}
        registry.register(self)

    def labels(self, *values: str) -> _C:
        child = self._children.get(values)
        if child is None:
            if len(values) != len(self._labelnames):
                raise ValueError("Incorrect label count")
            child = self._children[values] = self._child()
        return child

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        created = prometheus_metrics._use_created
        for values, child in list(self._children.items()):
            self._add(family, list(values), child, created)
        yield family

    def _child(self) -> _C:
        raise NotImplementedError

    def _family(self) -> Metric:
        raise NotImplementedError

    def _add(self, family: Metric, values: list[str], child: _C, created: bool) -> None:
        raise NotImplementedError


class LeanCounter(_LeanFamily[CounterChild]):
    """prometheus_client's labelled `Counter`, lean (see the module docstring)."""

    def _child(self) -> CounterChild:
        return CounterChild()

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def _add(self, family: Metric, values: list[str], child: CounterChild, created: bool) -> None:
        assert isinstance(family, CounterMetricFamily)
        family.add_metric(values, child.value, created=child.created if created else None)


class LeanGauge(_LeanFamily[GaugeChild]):
    """prometheus_client's labelled `Gauge`, lean (see the module docstring)."""

    def _child(self) -> GaugeChild:
        return GaugeChild()

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def _add(self, family: Metric, values: list[str], child: GaugeChild, created: bool) -> None:
        assert isinstance(family, GaugeMetricFamily)
        family.add_metric(values, child.value)


class LeanHistogram(_LeanFamily[HistogramChild]):
    """prometheus_client's labelled `Histogram`, lean (see the module docstring); `buckets`
    are the upper bounds, +Inf added when missing."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: CollectorRegistry,
        buckets: Sequence[float],
    ) -> None:
        bounds = tuple(float(bound) for bound in buckets)
        if list(bounds) != sorted(bounds):
            raise ValueError("Buckets not in sorted order")
        self._bounds = bounds if bounds and bounds[-1] == math.inf else (*bounds, math.inf)
        self._le = [_go_string(bound) for bound in self._bounds]
        super().__init__(name, documentation, labelnames, registry)

    def _child(self) -> HistogramChild:
        return HistogramChild(self._bounds)

    def _family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def _add(self, family: Metric, values: list[str], child: HistogramChild, created: bool) -> None:
        assert isinstance(family, HistogramMetricFamily)
        buckets = list(zip(self._le, itertools.accumulate(child.counts), strict=True))
        family.add_metric(values, buckets, child.sum)
        if created:
            labels = dict(zip(self._labelnames, values, strict=True))
            family.add_sample(f"{self._name}_created", labels, child.created)


def _go_string(value: float) -> str:
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text
