"""A hypothesis state machine drives the queue on a FakeClock against a plain model.

The model keeps, per key, at most one waiting entry (ready with a priority and an arrival
order, or delayed with a ready time) plus an in-flight flag, and hands out the ready key with
the highest priority and the earliest arrival. Whole-second times keep float sums exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from test_workqueue import get_now

from framework.clock import FakeClock
from framework.workqueue import RateLimitingQueue, ShutDown

keys = st.sampled_from(["a", "b", "c", "d"])
priorities = st.integers(min_value=-2, max_value=2)


@dataclass
class Delayed:
    ready_at: float
    priority: int
    seq: int


@dataclass
class Model:
    now: float = 0.0
    ready: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (priority, order)
    delayed: dict[str, Delayed] = field(default_factory=dict)
    parked: dict[str, int] = field(default_factory=dict)  # in flight and ready again
    in_flight: set[str] = field(default_factory=set)
    shut: bool = False
    arrivals: int = 0
    pushes: int = 0

    def make_ready(self, key: str, priority: int) -> None:
        self.arrivals += 1
        self.ready[key] = (priority, self.arrivals)

    def add(self, key: str, priority: int) -> None:
        if self.shut:
            return
        if key in self.ready:
            self.raise_ready(key, priority)
        elif key in self.parked:
            self.parked[key] = max(self.parked[key], priority)
        else:
            if key in self.delayed:
                priority = max(priority, self.delayed.pop(key).priority)
            if key in self.in_flight:
                self.parked[key] = priority
            else:
                self.make_ready(key, priority)

    def raise_ready(self, key: str, priority: int) -> None:
        if priority > self.ready[key][0]:
            self.make_ready(key, priority)

    def add_after(self, key: str, seconds: float, priority: int) -> None:
        if seconds <= 0:
            self.add(key, priority)
        elif self.shut:
            return
        elif key in self.ready:
            self.raise_ready(key, priority)
        elif key in self.parked:
            self.parked[key] = max(self.parked[key], priority)
        else:
            self.delay(key, self.now + seconds, priority)

    def delay(self, key: str, ready_at: float, priority: int) -> None:
        entry = self.delayed.get(key)
        if entry is None:
            self.delayed[key] = Delayed(ready_at, priority, self.pushes)
        else:
            entry.priority = max(entry.priority, priority)
            if ready_at >= entry.ready_at:
                return
            entry.ready_at, entry.seq = ready_at, self.pushes
        self.pushes += 1

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = sorted(
            (entry.ready_at, entry.seq, key)
            for key, entry in self.delayed.items()
            if entry.ready_at <= self.now
        )
        for _, _, key in due:
            entry = self.delayed.pop(key)
            if key in self.in_flight:
                self.parked[key] = entry.priority
            else:
                self.make_ready(key, entry.priority)

    def get(self) -> str:
        key = min(self.ready, key=lambda k: (-self.ready[k][0], self.ready[k][1]))
        del self.ready[key]
        self.in_flight.add(key)
        return key

    def done(self, key: str) -> None:
        if key not in self.in_flight:
            return
        self.in_flight.remove(key)
        if key in self.parked:
            self.make_ready(key, self.parked.pop(key))

    def shut_down(self) -> None:
        self.shut = True
        self.delayed.clear()


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.queue = RateLimitingQueue[str](clock=self.clock)
        self.model = Model()

    @rule(key=keys, priority=priorities)
    def add(self, key: str, priority: int) -> None:
        self.queue.add(key, priority)
        self.model.add(key, priority)

    @rule(key=keys, seconds=st.integers(min_value=-1, max_value=5), priority=priorities)
    def add_after(self, key: str, seconds: int, priority: int) -> None:
        self.queue.add_after(key, float(seconds), priority)
        self.model.add_after(key, float(seconds), priority)

    @rule(seconds=st.integers(min_value=0, max_value=4))
    def advance(self, seconds: int) -> None:
        self.clock.advance(float(seconds))
        self.model.advance(float(seconds))

    @precondition(lambda self: bool(self.model.ready))
    @rule()
    def get(self) -> None:
        assert get_now(self.queue) == self.model.get()

    @precondition(lambda self: not self.model.ready and self.model.shut)
    @rule()
    def get_after_shut_down(self) -> None:
        with pytest.raises(ShutDown):
            get_now(self.queue)

    @rule(key=keys)
    def done(self, key: str) -> None:
        self.queue.done(key)
        self.model.done(key)

    @rule()
    def shut_down(self) -> None:
        self.queue.shut_down()
        self.model.shut_down()

    @invariant()
    def ready_count_matches(self) -> None:
        assert len(self.queue) == len(self.model.ready)
        assert self.queue.shutting_down == self.model.shut

    @invariant()
    def one_timer_at_most(self) -> None:
        pending = self.clock.pending_timers()
        assert pending <= 1
        if self.model.delayed:
            assert pending == 1


QueueMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40)
TestQueueMachine = QueueMachine.TestCase
