"""framework.clock: FakeClock ordering, sleepers, cancellation, wall time; RealClock basics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from framework.clock import REAL_CLOCK, FakeClock, RealClock


def test_fake_clock_starts_where_told_and_moves_only_on_advance() -> None:
    clock = FakeClock(start=10.0)
    assert clock.now() == 10.0
    assert clock.now() == 10.0
    clock.advance(2.5)
    assert clock.now() == 12.5


def test_fake_clock_refuses_to_go_backwards() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1.0)


def test_advance_runs_due_callbacks_in_deadline_order_ties_in_scheduling_order() -> None:
    clock = FakeClock()
    fired: list[tuple[str, float]] = []

    def record(name: str) -> None:
        fired.append((name, clock.now()))

    for name, delay in (("c", 3.0), ("a", 1.0), ("b1", 2.0), ("b2", 2.0), ("late", 9.0)):
        clock.call_later(delay, partial(record, name))
    clock.advance(5.0)
    assert fired == [("a", 1.0), ("b1", 2.0), ("b2", 2.0), ("c", 3.0)]
    assert clock.now() == 5.0
    assert clock.pending_timers() == 1
    assert clock.next_deadline() == 9.0


def test_callback_scheduled_during_advance_runs_if_due_within_the_same_advance() -> None:
    clock = FakeClock()
    fired: list[float] = []

    def first() -> None:
        fired.append(clock.now())
        clock.call_later(1.0, lambda: fired.append(clock.now()))

    clock.call_later(1.0, first)
    clock.advance(3.0)
    assert fired == [1.0, 2.0]


def test_negative_delay_is_due_immediately() -> None:
    clock = FakeClock(start=5.0)
    fired: list[float] = []
    clock.call_later(-3.0, lambda: fired.append(clock.now()))
    clock.advance(0.0)
    assert fired == [5.0]


def test_cancelled_timer_never_runs_and_is_not_pending() -> None:
    clock = FakeClock()
    fired: list[str] = []
    handle = clock.call_later(1.0, lambda: fired.append("cancelled"))
    clock.call_later(2.0, lambda: fired.append("kept"))
    handle.cancel()
    assert clock.pending_timers() == 1
    assert clock.next_deadline() == 2.0
    clock.advance(5.0)
    assert fired == ["kept"]
    assert clock.next_deadline() is None


async def test_sleep_wakes_only_after_advance_reaches_its_deadline() -> None:
    clock = FakeClock()
    sleeper = asyncio.create_task(clock.sleep(5.0))
    await asyncio.sleep(0)
    assert clock.pending_timers() == 1
    clock.advance(4.999)
    await asyncio.sleep(0)
    assert not sleeper.done()
    clock.advance(0.001)
    await asyncio.wait_for(sleeper, timeout=5)
    assert clock.now() == pytest.approx(5.0)


async def test_sleepers_wake_in_deadline_order() -> None:
    clock = FakeClock()
    woke: list[str] = []

    async def sleep_then_record(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [
        asyncio.create_task(sleep_then_record(name, seconds))
        for name, seconds in (("slow", 3.0), ("fast", 1.0), ("middle", 2.0))
    ]
    await asyncio.sleep(0)
    clock.advance(10.0)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
    assert woke == ["fast", "middle", "slow"]


async def test_sleep_zero_yields_without_a_timer() -> None:
    clock = FakeClock()
    await asyncio.wait_for(clock.sleep(0), timeout=5)
    await asyncio.wait_for(clock.sleep(-1), timeout=5)
    assert clock.pending_timers() == 0


async def test_cancelling_a_sleeper_cancels_its_timer() -> None:
    clock = FakeClock()
    sleeper = asyncio.create_task(clock.sleep(5.0))
    await asyncio.sleep(0)
    assert clock.pending_timers() == 1
    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    assert clock.pending_timers() == 0
    clock.advance(10.0)  # firing nothing for the cancelled sleeper


def test_fake_wall_clock_follows_monotonic_time() -> None:
    start = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    clock = FakeClock(start=100.0, wall_start=start)
    assert clock.wall() == start
    clock.advance(90.5)
    assert clock.wall() == start + timedelta(seconds=90.5)
    assert clock.wall().tzinfo is UTC


def test_fake_wall_clock_default_start_is_aware_utc() -> None:
    assert FakeClock().wall() == datetime(2026, 1, 1, tzinfo=UTC)


def test_real_clock_is_monotonic_and_wall_is_aware_utc() -> None:
    first = REAL_CLOCK.now()
    second = REAL_CLOCK.now()
    assert second >= first
    wall = RealClock().wall()
    assert wall.tzinfo is UTC
    assert abs(wall - datetime.now(UTC)) < timedelta(minutes=1)


async def test_real_clock_call_later_and_sleep_use_the_running_loop() -> None:
    fired = asyncio.Event()
    ran: list[str] = []
    cancelled = REAL_CLOCK.call_later(0.0, lambda: ran.append("cancelled"))
    handle = REAL_CLOCK.call_later(0.0, fired.set)
    cancelled.cancel()
    await asyncio.wait_for(fired.wait(), timeout=5)
    assert ran == []
    handle.cancel()  # cancelling a timer that already ran is harmless
    await asyncio.wait_for(REAL_CLOCK.sleep(-1.0), timeout=5)
