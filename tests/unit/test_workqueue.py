"""framework.workqueue: client-go's queue, delaying-queue and rate-limiting-queue scenarios and
controller-runtime's priority-queue scenarios, on a FakeClock.

`get_now` and `drain_now` are also used by the other test_workqueue_* modules.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import TypeVar

import pytest

from framework.clock import FakeClock
from framework.ratelimit import ItemExponentialFailureRateLimiter
from framework.workqueue import RateLimitingQueue, ShutDown

T = TypeVar("T", bound=Hashable)
MS = 0.001


def get_now(queue: RateLimitingQueue[T]) -> T:
    """`await queue.get()` for an item that must be ready: fails if `get` would suspend."""
    coroutine = queue.get()
    try:
        coroutine.send(None)
    except StopIteration as stop:
        item: T = stop.value
        return item
    coroutine.close()
    raise AssertionError("get() suspended although an item should be ready")


def drain_now(queue: RateLimitingQueue[T]) -> list[T]:
    """Get and finish every ready item, in the order `get` hands them out."""
    items = []
    while len(queue):
        item = get_now(queue)
        queue.done(item)
        items.append(item)
    return items


def new_queue(clock: FakeClock | None = None) -> RateLimitingQueue[str]:
    return RateLimitingQueue[str](clock=clock or FakeClock())


async def settle() -> None:
    """Let every task that can run, run."""
    for _ in range(5):
        await asyncio.sleep(0)


# --- client-go queue_test.go ---


def test_get_hands_out_a_ready_item_without_suspending() -> None:
    queue = new_queue()
    queue.add("foo")
    assert get_now(queue) == "foo"


def test_len_counts_distinct_ready_items() -> None:
    queue = new_queue()
    queue.add("foo")
    assert len(queue) == 1
    queue.add("bar")
    assert len(queue) == 2
    queue.add("foo")  # already there
    assert len(queue) == 2


def test_collapse_duplicate_adds() -> None:
    queue = new_queue()
    queue.add("bar")
    queue.add("bar")
    assert get_now(queue) == "bar"
    assert len(queue) == 0


def test_reinsert_while_processing_is_handed_out_after_done() -> None:
    queue = new_queue()
    queue.add("foo")
    item = get_now(queue)
    queue.add(item)
    assert len(queue) == 0  # not ready while in flight
    queue.done(item)
    assert len(queue) == 1
    assert get_now(queue) == "foo"
    queue.done("foo")
    assert len(queue) == 0


def test_add_while_processing_keeps_other_items_flowing() -> None:
    queue = new_queue()
    queue.add("foo")
    queue.add("bar")
    assert get_now(queue) == "foo"
    queue.add("foo")
    assert get_now(queue) == "bar"
    queue.add("baz")
    assert get_now(queue) == "baz"  # foo still waits for done
    queue.done("foo")
    assert get_now(queue) == "foo"


async def test_collapse_while_processing_waits_for_done() -> None:
    queue = new_queue()
    queue.add("bar")
    item = await queue.get()
    queue.add("bar")
    queue.add("bar")
    other_worker = asyncio.create_task(queue.get())
    await settle()
    assert not other_worker.done()  # the same key is never held twice
    queue.done(item)
    assert await asyncio.wait_for(other_worker, timeout=5) == "bar"
    queue.done("bar")
    assert len(queue) == 0


def test_done_of_an_item_not_in_flight_is_ignored() -> None:
    queue = new_queue()
    queue.done("never-added")
    queue.add("foo")
    queue.done("foo")  # ready, not in flight: stays ready
    assert len(queue) == 1
    assert get_now(queue) == "foo"


async def test_get_waits_for_an_add() -> None:
    queue = new_queue()
    getter = asyncio.create_task(queue.get())
    await settle()
    assert not getter.done()
    queue.add("foo")
    assert await asyncio.wait_for(getter, timeout=5) == "foo"


async def test_shut_down_hands_out_what_is_ready_then_raises() -> None:
    queue = new_queue()
    queue.add("foo")
    queue.add("bar")
    queue.shut_down()
    assert queue.shutting_down
    queue.add("baz")  # dropped
    assert len(queue) == 2
    assert await queue.get() == "foo"
    assert await queue.get() == "bar"
    with pytest.raises(ShutDown):
        await queue.get()


async def test_shut_down_wakes_every_waiting_getter() -> None:
    queue = new_queue()
    getters = [asyncio.create_task(queue.get()) for _ in range(3)]
    await settle()
    queue.shut_down()
    results = await asyncio.wait_for(asyncio.gather(*getters, return_exceptions=True), timeout=5)
    assert all(isinstance(result, ShutDown) for result in results)


async def test_drain_waits_for_every_in_flight_item() -> None:
    queue = new_queue()
    queue.add("foo")
    queue.add("bar")
    foo, bar = await queue.get(), await queue.get()
    drain = asyncio.create_task(queue.shut_down_with_drain())
    await settle()
    assert queue.shutting_down
    with pytest.raises(ShutDown):
        await queue.get()
    queue.done(foo)
    await settle()
    assert not drain.done()
    queue.done(bar)
    await asyncio.wait_for(drain, timeout=5)


async def test_drain_returns_at_once_when_nothing_is_in_flight() -> None:
    queue = new_queue()
    queue.add("ready-but-not-taken")
    await asyncio.wait_for(queue.shut_down_with_drain(), timeout=5)
    assert await queue.get() == "ready-but-not-taken"


async def test_drain_with_a_dirty_item_hands_it_out_again() -> None:
    queue = new_queue()
    queue.add("foo")
    gotten = await queue.get()
    queue.add("foo")  # dirty: re-added while in flight
    drain = asyncio.create_task(queue.shut_down_with_drain())
    await settle()
    with pytest.raises(ShutDown):
        await queue.get()
    queue.done(gotten)
    again = await queue.get()  # the dirty item became ready again
    assert again == "foo"
    queue.done(again)
    with pytest.raises(ShutDown):
        await queue.get()
    await asyncio.wait_for(drain, timeout=5)


async def test_shut_down_forces_a_waiting_drain_to_return() -> None:
    queue = new_queue()
    queue.add("foo")
    queue.add("bar")
    await queue.get()
    await queue.get()
    drain = asyncio.create_task(queue.shut_down_with_drain())
    await settle()
    assert not drain.done()
    queue.shut_down()  # a second SIGTERM
    await asyncio.wait_for(drain, timeout=5)


async def test_drain_without_shut_down_releases_when_the_last_item_finishes() -> None:
    queue = new_queue()
    queue.add("foo")
    item = await queue.get()
    drains = [asyncio.create_task(queue.shut_down_with_drain()) for _ in range(2)]
    await settle()
    queue.done(item)
    await asyncio.wait_for(asyncio.gather(*drains), timeout=5)


# --- client-go delaying_queue_test.go ---


def test_add_after_becomes_ready_at_its_time() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add_after("foo", 50 * MS)
    assert len(queue) == 0
    clock.advance(49 * MS)
    assert len(queue) == 0
    clock.advance(11 * MS)
    assert len(queue) == 1
    assert drain_now(queue) == ["foo"]
    clock.advance(10.0)
    assert len(queue) == 0


@pytest.mark.parametrize(("first", "second"), [(50 * MS, 70 * MS), (70 * MS, 50 * MS)])
def test_delayed_duplicates_collapse_to_the_earliest(first: float, second: float) -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add_after("foo", first)
    queue.add_after("foo", second)
    assert len(queue) == 0
    clock.advance(60 * MS)
    assert drain_now(queue) == ["foo"]
    clock.advance(20 * MS)
    assert len(queue) == 0  # the later duplicate was absorbed


def test_add_two_fire_early() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add_after("foo", 1.0)
    queue.add_after("bar", 50 * MS)
    clock.advance(60 * MS)
    assert drain_now(queue) == ["bar"]
    queue.add_after("baz", 2.0)
    clock.advance(1.0)
    assert drain_now(queue) == ["foo"]
    clock.advance(2.0)
    assert drain_now(queue) == ["baz"]


def test_delayed_items_fire_in_ready_time_order() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add_after("foo", 1.0)
    queue.add_after("bar", 500 * MS)
    queue.add_after("baz", 250 * MS)
    assert len(queue) == 0
    clock.advance(2.0)
    assert len(queue) == 3
    assert drain_now(queue) == ["baz", "bar", "foo"]


def test_add_after_without_positive_delay_adds_now() -> None:
    queue = new_queue()
    queue.add_after("zero", 0.0)
    queue.add_after("negative", -5.0)
    assert drain_now(queue) == ["zero", "negative"]


def test_add_now_supersedes_a_pending_delay() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add_after("foo", 10.0)
    queue.add("foo")
    assert drain_now(queue) == ["foo"]
    clock.advance(10.0)
    assert len(queue) == 0


def test_add_after_of_a_ready_item_keeps_it_ready() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add("foo")
    queue.add_after("foo", 10.0)
    assert drain_now(queue) == ["foo"]
    clock.advance(10.0)
    assert len(queue) == 0


def test_one_timer_serves_every_delayed_item() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    for index in range(500):
        queue.add_after(f"item-{index}", 1.0 + (index * 7919 % 500) / 100)
    assert clock.pending_timers() == 1
    clock.advance(3.0)
    assert clock.pending_timers() == 1
    clock.advance(10.0)
    assert len(queue) == 500
    assert clock.pending_timers() == 0


def test_an_earlier_delay_rearms_the_timer() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add_after("late", 10.0)
    queue.add_after("early", 1.0)
    assert clock.pending_timers() == 1
    assert clock.next_deadline() == 1.0
    clock.advance(1.0)
    assert drain_now(queue) == ["early"]
    assert clock.next_deadline() == 10.0


def test_delay_due_while_in_flight_waits_for_done() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add("foo")
    item = get_now(queue)
    queue.add_after("foo", 1.0)
    clock.advance(2.0)
    assert len(queue) == 0
    queue.done(item)
    assert drain_now(queue) == ["foo"]


def test_delay_still_pending_after_done_fires_later() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add("foo")
    item = get_now(queue)
    queue.add_after("foo", 1.0)
    queue.done(item)
    assert len(queue) == 0
    clock.advance(1.0)
    assert drain_now(queue) == ["foo"]


def test_add_while_in_flight_supersedes_a_pending_delay() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add("foo")
    item = get_now(queue)
    queue.add_after("foo", 5.0)
    queue.add("foo")
    queue.done(item)
    assert drain_now(queue) == ["foo"]
    clock.advance(5.0)
    assert len(queue) == 0


def test_shut_down_drops_delayed_items_and_later_adds() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add_after("foo", 1.0)
    queue.shut_down()
    assert clock.pending_timers() == 0
    queue.add_after("bar", 1.0)
    queue.add_rate_limited("baz")
    clock.advance(10.0)
    assert len(queue) == 0


# --- client-go rate_limiting_queue_test.go ---


def test_rate_limited_adds_wait_for_the_limiter() -> None:
    clock = FakeClock()
    limiter = ItemExponentialFailureRateLimiter(1 * MS, 1.0)
    queue = RateLimitingQueue[str](rate_limiter=limiter, clock=clock)
    queue.add_rate_limited("one")
    assert clock.next_deadline() == pytest.approx(1 * MS)
    queue.add_rate_limited("one")  # asks for 2 ms; the earlier ready time stands
    assert queue.num_requeues("one") == 2
    queue.add_rate_limited("two")
    queue.add_rate_limited("two")
    assert queue.num_requeues("two") == 2
    queue.forget("one")
    assert queue.num_requeues("one") == 0
    assert len(queue) == 0
    clock.advance(1 * MS)
    assert sorted(drain_now(queue)) == ["one", "two"]
    queue.add_rate_limited("one")
    assert clock.next_deadline() == pytest.approx(2 * MS)  # 1 ms after a forget
    queue.add_rate_limited("two")
    assert clock.next_deadline() == pytest.approx(2 * MS)
    clock.advance(1 * MS)
    assert drain_now(queue) == ["one"]
    clock.advance(3 * MS)
    assert drain_now(queue) == ["two"]


def test_default_rate_limiter_backs_off_exponentially_per_item() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add_rate_limited("x")
    clock.advance(4 * MS)
    assert len(queue) == 0
    clock.advance(1 * MS)
    assert drain_now(queue) == ["x"]
    queue.add_rate_limited("x")
    clock.advance(9 * MS)
    assert len(queue) == 0
    clock.advance(1 * MS)
    assert drain_now(queue) == ["x"]
    assert queue.num_requeues("x") == 2


# --- controller-runtime priorityqueue_test.go ---


def test_higher_priority_first_fifo_within_a_priority() -> None:
    queue = new_queue()
    for item, priority in [("a", 0), ("b", 5), ("c", 0), ("d", -3), ("e", 5), ("f", 1)]:
        queue.add(item, priority)
    assert drain_now(queue) == ["b", "e", "f", "a", "c", "d"]


def test_keeps_the_highest_priority() -> None:
    queue = new_queue()
    queue.add("low", 0)
    queue.add("foo", 2)
    queue.add("foo", 1)  # never lowered
    queue.add("mid", 1)
    assert drain_now(queue) == ["foo", "mid", "low"]


def test_raising_a_priority_moves_the_item_up_exactly_once() -> None:
    queue = new_queue()
    queue.add("a")
    queue.add("b")
    queue.add("c")
    queue.add("c", 3)
    queue.add("b", 1)
    queue.add("b", 2)
    assert len(queue) == 3
    assert drain_now(queue) == ["c", "b", "a"]
    queue.add("b")  # the superseded places of b are gone, not handed out again
    queue.add("z")
    assert drain_now(queue) == ["b", "z"]


def test_in_flight_item_keeps_its_new_priority() -> None:
    queue = new_queue()
    queue.add("foo")
    item = get_now(queue)
    queue.add("foo", 1)
    queue.add("foo", 7)  # raised while waiting for done
    queue.add_after("foo", 1.0, priority=8)
    queue.add("foo", 2)  # never lowered
    queue.add("bar", 7)
    queue.done(item)
    assert drain_now(queue) == ["foo", "bar"]


def test_delayed_item_keeps_its_priority_and_earliest_time() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add_after("foo", 10.0, priority=5)
    queue.add_after("foo", 1.0, priority=0)  # earlier time, lower priority: both kept
    queue.add_after("baz", 1.0, priority=0)
    queue.add_after("baz", 10.0, priority=5)  # later time, higher priority: both kept
    queue.add("bar", 1)
    clock.advance(1.0)
    assert drain_now(queue) == ["foo", "baz", "bar"]


def test_delayed_add_raises_priority_of_a_ready_item() -> None:
    queue = new_queue()
    queue.add("foo")
    queue.add("bar")
    queue.add_after("bar", 10.0, priority=4)
    assert drain_now(queue) == ["bar", "foo"]


def test_add_now_of_a_delayed_item_keeps_its_priority() -> None:
    queue = new_queue()
    queue.add("bar", 1)
    queue.add_after("foo", 10.0, priority=3)
    queue.add("foo")
    assert drain_now(queue) == ["foo", "bar"]


def test_len_counts_ready_items_only() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add("ready")
    queue.add_after("delayed", 1.0)
    queue.add("in-flight")
    queue.add("in-flight-and-dirty")
    assert get_now(queue) == "ready"
    assert get_now(queue) == "in-flight"
    assert get_now(queue) == "in-flight-and-dirty"
    queue.add("in-flight-and-dirty")
    queue.add("other")
    assert len(queue) == 1
    clock.advance(1.0)
    assert len(queue) == 2


def test_lower_priority_levels_are_reached_after_higher_ones_empty() -> None:
    queue = new_queue()
    queue.add("neg", -1)
    queue.add("high", 9)
    assert get_now(queue) == "high"
    assert get_now(queue) == "neg"
    queue.add("zero")
    queue.add("high-again", 9)
    assert drain_now(queue) == ["high-again", "zero"]


# --- waiting getters ---


async def test_cancelled_getter_passes_its_wake_up_on() -> None:
    queue = new_queue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await settle()
    queue.add("foo")  # wakes the first getter ...
    first.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, timeout=5) == "foo"


async def test_cancelled_waiting_getter_leaves_no_trace() -> None:
    queue = new_queue()
    getter = asyncio.create_task(queue.get())
    await settle()
    getter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getter
    queue.add("foo")
    assert get_now(queue) == "foo"


async def test_woken_getter_that_lost_the_race_waits_again() -> None:
    queue = new_queue()
    waiting = asyncio.create_task(queue.get())
    await settle()
    queue.add("foo")  # wakes `waiting`, but a worker that never suspends takes it first
    assert get_now(queue) == "foo"
    await settle()
    assert not waiting.done()
    queue.add("bar")
    assert await asyncio.wait_for(waiting, timeout=5) == "bar"


async def test_real_clock_delays_fire_on_the_loop() -> None:
    queue = RateLimitingQueue[str]()
    queue.add_after("foo", 0.01)
    assert await asyncio.wait_for(queue.get(), timeout=5) == "foo"
