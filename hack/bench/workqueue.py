"""Work-queue micro-benchmark: microseconds per item, against a naive baseline.

For 100,000 distinct keys it measures, in one run, the unnamed `RateLimitingQueue`, the same
queue with metrics on (a name and a fresh registry) and a naive baseline (an `asyncio.Queue`
plus a dedup set, one timer per delayed item):

- add+get+done: one producer task adding in chunks, one consumer task getting and finishing;
- duplicate add: adding every key again while all are waiting;
- add_after+fire: delaying every key, then one FakeClock advance firing them all.

Each figure is the best of a few repetitions, timed with the garbage collector paused (as
`timeit` does). Prints a table, then one JSON line with the same figures.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import time
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Protocol

from prometheus_client import CollectorRegistry

from framework.clock import Clock, FakeClock
from framework.workqueue import RateLimitingQueue

N = 100_000
CHUNK = 1_000
REPEATS = 5
DELAY = 1.0


class BenchQueue(Protocol):
    def add(self, item: str) -> None: ...
    def add_after(self, item: str, seconds: float) -> None: ...
    async def get(self) -> str: ...
    def done(self, item: str) -> None: ...


class NaiveQueue:
    """The baseline: asyncio.Queue plus a set of waiting keys; a timer per delayed key."""

    def __init__(self, clock: Clock) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._waiting: set[Hashable] = set()
        self._clock = clock

    def add(self, item: str) -> None:
        if item not in self._waiting:
            self._waiting.add(item)
            self._queue.put_nowait(item)

    def add_after(self, item: str, seconds: float) -> None:
        self._clock.call_later(seconds, partial(self.add, item))

    async def get(self) -> str:
        item = await self._queue.get()
        self._waiting.discard(item)
        return item

    def done(self, item: str) -> None:
        self._queue.task_done()


Factory = Callable[[Clock], BenchQueue]


def unnamed(clock: Clock) -> BenchQueue:
    return RateLimitingQueue[str](clock=clock)


def named(clock: Clock) -> BenchQueue:
    return RateLimitingQueue[str](name="bench", clock=clock, registry=CollectorRegistry())


async def add_get_done(queue: BenchQueue, items: list[str]) -> None:
    async def produce() -> None:
        for start in range(0, len(items), CHUNK):
            for item in items[start : start + CHUNK]:
                queue.add(item)
            await asyncio.sleep(0)

    async def consume() -> None:
        for _ in range(len(items)):
            item = await queue.get()
            queue.done(item)

    await asyncio.gather(produce(), consume())


async def duplicate_add(queue: BenchQueue, items: list[str]) -> None:
    for item in items:
        queue.add(item)
    await asyncio.sleep(0)


async def add_after_fire(queue: BenchQueue, items: list[str], clock: FakeClock) -> None:
    for item in items:
        queue.add_after(item, DELAY)
    clock.advance(DELAY)
    await asyncio.sleep(0)


async def timed(work: Awaitable[None]) -> float:
    """Seconds `work` takes, with the garbage collector paused."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        await work
        return time.perf_counter() - start
    finally:
        gc.enable()


async def measure_once(factory: Factory, items: list[str]) -> dict[str, float]:
    """Seconds each scenario takes for `items` on fresh queues."""
    duplicates = factory(FakeClock())
    await duplicate_add(duplicates, items)
    clock = FakeClock()
    return {
        "add_get_done": await timed(add_get_done(factory(FakeClock()), items)),
        "duplicate_add": await timed(duplicate_add(duplicates, items)),
        "add_after_fire": await timed(add_after_fire(factory(clock), items, clock)),
    }


async def measure(factories: dict[str, Factory], items: list[str]) -> dict[str, dict[str, float]]:
    """Best microseconds per item of every queue and scenario; repetitions interleave queues."""
    best: dict[str, dict[str, float]] = {label: {} for label in factories}
    for _ in range(REPEATS):
        for label, factory in factories.items():
            for scenario, seconds in (await measure_once(factory, items)).items():
                per_item = seconds / len(items) * 1e6
                best[label][scenario] = min(best[label].get(scenario, math.inf), per_item)
    return best


SCENARIOS = {
    "add_get_done": "add+get+done",
    "duplicate_add": "duplicate add",
    "add_after_fire": "add_after+fire",
}


def report(results: dict[str, dict[str, float]]) -> None:
    base = results["baseline"]
    print(f"work queue, {N:,} distinct keys, best of {REPEATS}, microseconds per item")
    print(f"{'':>10}" + "".join(f"{title:>18}" for title in SCENARIOS.values()))
    for label, figures in results.items():
        cells = (f"{figures[key]:.3f} ({base[key] / figures[key]:.2f}x)" for key in SCENARIOS)
        print(f"{label:>10}" + "".join(f"{cell:>18}" for cell in cells))
    print("(x = baseline time / this time: above 1 is faster than the baseline)")
    unnamed, named_queue = results["unnamed"]["add_get_done"], results["named"]["add_get_done"]
    speedup = base["add_get_done"] / unnamed
    print(
        f"targets for add+get+done: unnamed {unnamed:.3f} us (<= 1.0), "
        f"{speedup:.2f}x the baseline (>= 1.5), named {named_queue:.3f} us (<= 8.0)"
    )
    print(json.dumps({"n": N, "us_per_item": results, "unnamed_speedup_add_get_done": speedup}))


async def main() -> None:
    items = [f"namespace-{i % 97}/object-{i}" for i in range(N)]
    report(await measure({"baseline": NaiveQueue, "unnamed": unnamed, "named": named}, items))


if __name__ == "__main__":
    asyncio.run(main())
