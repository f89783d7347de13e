"""Rate limiters deciding how long a work-queue item waits before it is retried.

A `RateLimiter` answers `when(item)` (seconds to wait before the next attempt; the call counts as
one more attempt), `forget(item)` (the item succeeded: reset what is tracked for it) and
`num_requeues(item)` (attempts counted since the last `forget`). The limiters follow client-go's
`workqueue` rate limiters; time-based ones take a `Clock` so tests never sleep.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Protocol

from framework.clock import REAL_CLOCK, Clock


class RateLimiter(Protocol):
    """How long an item waits before its next attempt."""

    def when(self, item: Hashable) -> float:
        """Seconds until `item` may be processed again; records one more attempt."""
        ...

    def forget(self, item: Hashable) -> None:
        """Stop tracking `item` (it succeeded)."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """Attempts recorded for `item` since it was last forgotten."""
        ...


class _PerItemFailures:
    """Counts failures per item; the base of the per-item limiters."""

    def __init__(self) -> None:
        self._failures: dict[Hashable, int] = {}

    def _record(self, item: Hashable) -> int:
        """Count one more failure of `item`; return how many it had before."""
        previous = self._failures.get(item, 0)
        self._failures[item] = previous + 1
        return previous

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class ItemExponentialFailureRateLimiter(_PerItemFailures):
    """Per item: `base_delay * 2**failures`, capped at `max_delay` (never overflows)."""

    def __init__(self, base_delay: float, max_delay: float) -> None:
        super().__init__()
        self.base_delay = base_delay
        self.max_delay = max_delay

    def when(self, item: Hashable) -> float:
        exponent = self._record(item)
        try:
            backoff = self.base_delay * 2.0**exponent
        except OverflowError:
            return self.max_delay
        return min(backoff, self.max_delay)


class ItemFastSlowRateLimiter(_PerItemFailures):
    """Per item: `fast_delay` for the first `max_fast_attempts` attempts, then `slow_delay`."""

    def __init__(self, fast_delay: float, slow_delay: float, max_fast_attempts: int) -> None:
        super().__init__()
        self.fast_delay = fast_delay
        self.slow_delay = slow_delay
        self.max_fast_attempts = max_fast_attempts

    def when(self, item: Hashable) -> float:
        attempts = self._record(item) + 1
        return self.fast_delay if attempts <= self.max_fast_attempts else self.slow_delay


class BucketRateLimiter:
    """One token bucket shared by all items: `qps` tokens a second, holding at most `burst`.

    The bucket starts full. Each `when` reserves a token, as golang.org/x/time/rate's `Reserve`
    does: the bucket may go into debt, and the answer is the time until the reserved token
    exists (0 while tokens remain). `forget` does nothing and `num_requeues` is always 0.
    """

    def __init__(self, qps: float, burst: int, clock: Clock = REAL_CLOCK) -> None:
        if qps <= 0:
            raise ValueError("qps must be positive")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.now()

    def when(self, item: Hashable) -> float:
        if math.isinf(self.qps):
            return 0.0
        now = self._clock.now()
        elapsed = max(now - self._last, 0.0)
        self._last = max(now, self._last)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps) - 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, item: Hashable) -> None:
        return None

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest delay of several limiters; every limiter sees every call."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        return max([limiter.when(item) for limiter in self.limiters])

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter(clock: Clock = REAL_CLOCK) -> MaxOfRateLimiter:
    """controller-runtime's default: exponential 5 ms .. 1000 s per item, max'd with an overall
    token bucket of 10 qps and burst 100."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(qps=10.0, burst=100, clock=clock),
    )
