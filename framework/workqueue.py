"""The controller work queue: client-go's contract with controller-runtime's one entry per key.

States of a key: absent; waiting (ready, or delayed until a ready time); in flight (handed to
one worker by `get`, until `done`); in flight and waiting again. All delayed keys share one
heap and a single armed timer for the earliest deadline.
"""

from __future__ import annotations

import asyncio
import heapq
import math
from collections import deque
from collections.abc import Hashable
from contextlib import suppress
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry

from framework.clock import REAL_CLOCK, Clock, TimerHandle
from framework.metrics import WorkQueueMetrics
from framework.ratelimit import RateLimiter, default_controller_rate_limiter

T = TypeVar("T", bound=Hashable)

# Rebuild the timer heap when stale entries outnumber live ones by this factor (plus slack).
_HEAP_SLACK = 64


class ShutDown(Exception):
    """`RateLimitingQueue.get` on a queue that is shut down and has nothing ready."""


class _Level(deque[T]):
    """The ready keys of one priority, in the order they became ready."""

    __slots__ = ("priority",)

    def __init__(self, priority: int) -> None:
        super().__init__()
        self.priority = priority


class _Delayed:
    __slots__ = ("priority", "ready_at", "seq")

    def __init__(self, ready_at: float, priority: int, seq: int) -> None:
        self.ready_at = ready_at
        self.priority = priority
        self.seq = seq


class RateLimitingQueue(Generic[T]):
    """An asyncio rate-limiting delaying queue holding at most one entry per key.

    - A waiting key keeps the highest priority and the earliest ready time it was given.
    - `get` hands out the highest priority first, FIFO within a priority (a key whose priority
      is raised joins the end of its new priority), never suspending when a key is ready. No
      two workers hold the same key: a key added while in flight waits until `done(key)`, then
      is handed out again with the priority it was given.
    - `add_after(key, d)` with d <= 0 adds now; `add_rate_limited(key)` waits
      `rate_limiter.when(key)`; `forget` resets the limiter's count for the key.
    - `len(q)` counts ready keys only (not delayed, not in flight).
    - `shut_down()` drops later adds and delayed keys, wakes waiting getters, and releases any
      `shut_down_with_drain()`; `get` still hands out what is ready (including a key added
      again while in flight, once it is done), then raises `ShutDown`.
      `shut_down_with_drain()` also waits until no key is in flight.
    - Metrics are recorded only when both `name` and `registry` are given.

    Timers need a running event loop when the clock is the real one.
    """

    def __new__(
        cls,
        rate_limiter: RateLimiter | None = None,
        name: str = "",
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
    ) -> RateLimitingQueue[T]:
        # A named queue with a registry is a _MeteredQueue, so an unnamed one pays nothing.
        if cls is RateLimitingQueue and name and registry is not None:
            return object.__new__(_MeteredQueue)
        return object.__new__(cls)

    def __init__(
        self,
        rate_limiter: RateLimiter | None = None,
        name: str = "",
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._clock: Clock = clock or REAL_CLOCK
        self.rate_limiter: RateLimiter = (
            rate_limiter
            if rate_limiter is not None
            else default_controller_rate_limiter(self._clock)
        )
        self.name = name
        # Ready keys: priority by key, and one FIFO level per priority (`_top` is the highest,
        # possibly empty). A raised priority appends the key to its new level and counts the
        # old place in `_stale`, skipped when `get` reaches it.
        self._ready: dict[T, int] = {}
        self._levels: list[_Level[T]] = []
        self._level_of: dict[int, _Level[T]] = {}
        self._top: _Level[T] = self._level(0)
        self._stale: dict[tuple[T, int], int] = {}
        # In flight; `_parked` holds those added again, with their priority, until `done`.
        self._processing: set[T] = set()
        self._parked: dict[T, int] = {}
        # Delayed keys (in flight or not) and their heap of (ready_at, seq, key); an entry whose
        # seq no longer matches `_delayed[key].seq` is superseded and skipped.
        self._delayed: dict[T, _Delayed] = {}
        self._heap: list[tuple[float, int, T]] = []
        self._seq = 0
        self._timer: TimerHandle | None = None
        self._timer_at = math.inf
        self._getters: deque[asyncio.Future[None]] = deque()
        self._drains: list[asyncio.Future[None]] = []
        self._shutting_down = False

    def __len__(self) -> int:
        return len(self._ready)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def add(self, item: T, priority: int = 0) -> None:
        """Make `item` ready now (dropped once shutting down)."""
        if self._shutting_down:
            return
        if item in self._ready:
            if priority > self._ready[item]:
                self._raise_priority(item, priority)
            return
        if item in self._processing:
            self._park(item, priority)
            return
        if self._delayed:
            priority = self._undelay(item, priority)
        # _push_ready, inlined: this is the hot path
        self._ready[item] = priority
        try:
            self._level_of[priority].append(item)
        except KeyError:
            self._level(priority).append(item)
        if self._getters:
            self._wake_getter()

    def add_after(self, item: T, seconds: float, priority: int = 0) -> None:
        """Make `item` ready `seconds` from now, unless it is due earlier already."""
        if seconds <= 0:
            self.add(item, priority)
            return
        if self._shutting_down:
            return
        if item in self._ready:
            if priority > self._ready[item]:
                self._raise_priority(item, priority)
            return
        current = self._parked.get(item)
        if current is not None:
            self._parked[item] = max(current, priority)
            return
        self._delay(item, self._clock.now() + seconds, priority)

    def add_rate_limited(self, item: T, priority: int = 0) -> None:
        """`add_after(item, rate_limiter.when(item))`."""
        if not self._shutting_down:
            self.add_after(item, self.rate_limiter.when(item), priority)

    def forget(self, item: T) -> None:
        """The item succeeded: reset its rate-limiter history."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self.rate_limiter.num_requeues(item)

    async def get(self) -> T:
        """The next ready item, which the caller holds until `done(item)`."""
        while True:
            top = self._top
            if not top:
                await self._top_exhausted()
                continue
            item = top.popleft()
            if not self._stale or not self._is_stale(item, top.priority):
                break
        del self._ready[item]
        self._processing.add(item)
        return item

    def done(self, item: T) -> None:
        """The worker finished `item`; if it was added meanwhile, it becomes ready again."""
        try:
            self._processing.remove(item)
        except KeyError:
            return
        if self._parked:
            priority = self._parked.pop(item, None)
            if priority is not None:
                self._push_ready(item, priority)
        if self._drains and not self._processing:
            self._release_drains()

    def shut_down(self) -> None:
        """Stop accepting items; also releases a waiting `shut_down_with_drain`."""
        self._stop()
        self._release_drains()

    async def shut_down_with_drain(self) -> None:
        """Stop accepting items and return once nothing is in flight (or `shut_down` is called)."""
        self._stop()
        if not self._processing:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drains.append(waiter)
        await waiter

    def _push_ready(self, item: T, priority: int) -> None:
        self._ready[item] = priority
        self._level(priority).append(item)
        if self._getters:
            self._wake_getter()

    def _level(self, priority: int) -> _Level[T]:
        """The ready keys of `priority`, a new level if there is none."""
        level = self._level_of.get(priority)
        if level is not None:
            return level
        level = _Level(priority)
        self._level_of[priority] = level
        index = 0
        while index < len(self._levels) and self._levels[index].priority > priority:
            index += 1
        self._levels.insert(index, level)
        self._top = self._levels[0]
        return level

    async def _top_exhausted(self) -> None:
        """The top level is empty: drop it for the next, or wait while nothing is ready."""
        if self._ready:
            del self._level_of[self._levels.pop(0).priority]
            self._top = self._levels[0]
        elif self._shutting_down:
            raise ShutDown
        else:
            await self._wait_for_ready()

    def _raise_priority(self, item: T, priority: int) -> None:
        """Move a ready item up to a higher `priority`; its old place becomes stale."""
        key = (item, self._ready[item])
        self._stale[key] = self._stale.get(key, 0) + 1
        del self._ready[item]
        self._push_ready(item, priority)

    def _is_stale(self, item: T, priority: int) -> bool:
        key = (item, priority)
        count = self._stale.get(key)
        if count is None:
            return False
        if count == 1:
            del self._stale[key]
        else:
            self._stale[key] = count - 1
        return True

    def _park(self, item: T, priority: int) -> None:
        """Record that an in-flight item is ready again, to be handed out after `done`."""
        current = self._parked.get(item)
        if current is not None:
            self._parked[item] = max(current, priority)
            return
        if self._delayed:
            priority = self._undelay(item, priority)
        self._parked[item] = priority

    def _undelay(self, item: T, priority: int) -> int:
        """Drop `item`'s delayed entry (it is due now); return the higher of both priorities."""
        delayed = self._delayed.pop(item, None)
        if delayed is None:
            return priority
        self._compact_heap()
        return max(priority, delayed.priority)

    def _compact_heap(self) -> None:
        """Drop superseded heap entries once they outnumber the live ones."""
        if len(self._heap) > 2 * len(self._delayed) + _HEAP_SLACK:
            self._heap = [(d.ready_at, d.seq, key) for key, d in self._delayed.items()]
            heapq.heapify(self._heap)

    def _delay(self, item: T, ready_at: float, priority: int) -> None:
        delayed = self._delayed.get(item)
        if delayed is None:
            self._delayed[item] = _Delayed(ready_at, priority, self._seq)
        else:
            delayed.priority = max(delayed.priority, priority)
            if ready_at >= delayed.ready_at:
                return
            delayed.ready_at = ready_at
            delayed.seq = self._seq
        heapq.heappush(self._heap, (ready_at, self._seq, item))
        self._seq += 1
        if delayed is not None:
            self._compact_heap()
        if ready_at < self._timer_at:
            self._arm(ready_at)

    def _arm(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._clock.call_later(deadline - self._clock.now(), self._fire)

    def _fire(self) -> None:
        """Timer callback: make every delayed item that has come due ready, then re-arm."""
        self._timer = None
        self._timer_at = math.inf
        now = self._clock.now()
        heap = self._heap
        while heap:
            ready_at, seq, item = heap[0]
            delayed = self._delayed.get(item)
            if delayed is not None and delayed.seq == seq:
                if ready_at > now:
                    self._arm(ready_at)
                    return
                del self._delayed[item]
            heapq.heappop(heap)
            if delayed is None or delayed.seq != seq:
                continue
            self._release(item, delayed.priority)

    def _release(self, item: T, priority: int) -> None:
        """A delayed item has come due."""
        if item in self._processing:
            self._park(item, priority)
        else:
            self._push_ready(item, priority)

    async def _wait_for_ready(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._getters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            with suppress(ValueError):
                self._getters.remove(waiter)
            if waiter.done() and not waiter.cancelled() and self._ready:
                self._wake_getter()  # pass on the wake-up this getter will not use
            raise

    def _wake_getter(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _stop(self) -> None:
        self._shutting_down = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = math.inf
        self._delayed.clear()
        self._heap.clear()
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _release_drains(self) -> None:
        for waiter in self._drains:
            if not waiter.done():
                waiter.set_result(None)
        self._drains.clear()


class _MeteredQueue(RateLimitingQueue[T]):
    """A named queue recording workqueue metrics on its registry (see `WorkQueueMetrics`)."""

    def __init__(
        self,
        rate_limiter: RateLimiter | None = None,
        name: str = "",
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        super().__init__(rate_limiter, name, clock, registry)
        assert registry is not None  # RateLimitingQueue.__new__ picks this class only then
        self._metrics = WorkQueueMetrics(name, self._clock, registry)

    def _waiting(self) -> int:
        """The keys `workqueue_depth` counts: ready, or in flight and added again."""
        return len(self._ready) + len(self._parked)

    def add(self, item: T, priority: int = 0) -> None:
        waiting = self._waiting()
        super().add(item, priority)
        if self._waiting() > waiting:
            self._metrics.added(item)

    def add_after(self, item: T, seconds: float, priority: int = 0) -> None:
        if seconds > 0 and not self._shutting_down:
            self._metrics.retried()
        super().add_after(item, seconds, priority)

    async def get(self) -> T:
        item = await super().get()
        self._metrics.got(item)
        return item

    def done(self, item: T) -> None:
        if item in self._processing:
            self._metrics.done(item)
        super().done(item)

    def _release(self, item: T, priority: int) -> None:
        self._metrics.added(item)
        super()._release(item, priority)
