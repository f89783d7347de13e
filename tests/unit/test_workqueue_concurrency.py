"""Many producers and consumers on one queue: no key is ever held by two workers, and every add
is followed by a processing of its key."""

from __future__ import annotations

import asyncio
import random

import pytest

from framework.clock import REAL_CLOCK, FakeClock
from framework.workqueue import RateLimitingQueue, ShutDown

KEYS = [f"ns/object-{index}" for index in range(20)]


class Workers:
    """Consumers that record who holds which key and check exclusivity while they work."""

    def __init__(self, queue: RateLimitingQueue[str], rng: random.Random) -> None:
        self.queue = queue
        self.rng = rng
        self.holders: dict[str, int] = {}
        self.violations: list[str] = []
        self.processed = 0
        self.added_at: dict[str, int] = {}  # add sequence number of each key's latest add
        self.started_at: dict[str, int] = {}  # add sequence number seen when processing began
        self.sequence = 0

    def add(self, key: str, priority: int = 0) -> None:
        if self.queue.shutting_down:
            return  # dropped by the queue
        self.sequence += 1
        self.added_at[key] = self.sequence
        self.queue.add(key, priority)

    async def worker(self, number: int) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            if key in self.holders:
                self.violations.append(f"{key} held by {self.holders[key]} and {number}")
            self.holders[key] = number
            self.started_at[key] = self.sequence
            for _ in range(self.rng.randrange(4)):
                await asyncio.sleep(0)
            if self.rng.random() < 0.1:
                self.add(key, self.rng.choice([0, 1]))  # re-added while in flight
            del self.holders[key]
            self.processed += 1
            self.queue.done(key)

    async def producer(self, adds: int) -> None:
        for _ in range(adds):
            self.add(self.rng.choice(KEYS), self.rng.choice([-1, 0, 0, 2]))
            if self.rng.random() < 0.3:
                await asyncio.sleep(0)


@pytest.mark.parametrize("seed", range(5))
async def test_no_key_is_ever_held_by_two_workers(seed: int) -> None:
    queue = RateLimitingQueue[str](clock=FakeClock())
    workers = Workers(queue, random.Random(seed))
    consumers = [asyncio.create_task(workers.worker(number)) for number in range(8)]
    await asyncio.gather(*(workers.producer(400) for _ in range(4)))
    await asyncio.wait_for(queue.shut_down_with_drain(), timeout=30)
    # A worker whose `done` readies a dirty key gets it next; the others stop on ShutDown.
    await asyncio.wait_for(asyncio.gather(*consumers), timeout=30)
    assert len(queue) == 0

    assert workers.violations == []
    assert workers.holders == {}
    assert workers.processed >= len({key for key in workers.added_at})
    # Every key's latest add was seen by a processing that started after it.
    stale = {
        key: (added, workers.started_at.get(key))
        for key, added in workers.added_at.items()
        if workers.started_at.get(key, 0) < added
    }
    assert stale == {}


async def test_delayed_and_rate_limited_adds_under_load_on_the_real_clock() -> None:
    queue = RateLimitingQueue[str](clock=REAL_CLOCK)
    rng = random.Random(7)
    holders: set[str] = set()
    violations: list[str] = []
    remaining = {key: 3 for key in KEYS}  # each key is processed until it succeeds thrice

    async def worker() -> None:
        while True:
            try:
                key = await queue.get()
            except ShutDown:
                return
            if key in holders:
                violations.append(key)
            holders.add(key)
            await asyncio.sleep(0)
            holders.discard(key)
            remaining[key] -= 1
            if remaining[key] > 0:
                if rng.random() < 0.5:
                    queue.add_rate_limited(key)
                else:
                    queue.add_after(key, rng.random() / 1000)
            else:
                queue.forget(key)
            queue.done(key)
            if not any(remaining.values()):
                queue.shut_down()

    for key in KEYS:
        queue.add(key)
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(6))), timeout=30)
    assert violations == []
    assert all(count == 0 for count in remaining.values())
