"""framework.ratelimit: each limiter's delay sequence (client-go's default_rate_limiters_test
figures), overflow caps, the token bucket's reservations, and the default controller limiter."""

from __future__ import annotations

import pytest

from framework.clock import FakeClock
from framework.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    default_controller_rate_limiter,
)

MS = 0.001


def whens(limiter: RateLimiter, item: str, times: int) -> list[float]:
    return [limiter.when(item) for _ in range(times)]


def test_exponential_doubles_per_item_and_forget_resets() -> None:
    limiter = ItemExponentialFailureRateLimiter(1 * MS, 1.0)
    assert whens(limiter, "one", 5) == pytest.approx([1 * MS, 2 * MS, 4 * MS, 8 * MS, 16 * MS])
    assert limiter.num_requeues("one") == 5
    assert whens(limiter, "two", 2) == pytest.approx([1 * MS, 2 * MS])
    assert limiter.num_requeues("two") == 2
    limiter.forget("one")
    assert limiter.num_requeues("one") == 0
    assert limiter.when("one") == pytest.approx(1 * MS)
    assert limiter.num_requeues("two") == 2


def test_exponential_caps_at_max_delay() -> None:
    limiter = ItemExponentialFailureRateLimiter(1 * MS, 1.0)
    assert whens(limiter, "one", 12)[-3:] == pytest.approx([0.512, 1.0, 1.0])


def test_exponential_never_overflows() -> None:
    limiter = ItemExponentialFailureRateLimiter(1 * MS, 1000.0)
    whens(limiter, "one", 5)
    assert limiter.when("one") == pytest.approx(32 * MS)
    whens(limiter, "overflow1", 1000)
    assert limiter.when("overflow1") == 1000.0
    whens(limiter, "overflow1", 2000)  # 2**2000 does not fit a float
    assert limiter.when("overflow1") == 1000.0

    limiter = ItemExponentialFailureRateLimiter(60.0, 1000 * 3600.0)
    whens(limiter, "two", 2)
    assert limiter.when("two") == 4 * 60.0
    whens(limiter, "overflow2", 1000)
    assert limiter.when("overflow2") == 1000 * 3600.0


def test_fast_slow_switches_after_max_fast_attempts() -> None:
    limiter = ItemFastSlowRateLimiter(5 * MS, 10.0, 3)
    assert whens(limiter, "one", 5) == [5 * MS, 5 * MS, 5 * MS, 10.0, 10.0]
    assert limiter.num_requeues("one") == 5
    assert whens(limiter, "two", 2) == [5 * MS, 5 * MS]
    assert limiter.num_requeues("two") == 2
    limiter.forget("one")
    assert limiter.num_requeues("one") == 0
    assert limiter.when("one") == 5 * MS


def test_max_of_takes_the_longest_and_forwards_forget() -> None:
    limiter = MaxOfRateLimiter(
        ItemFastSlowRateLimiter(5 * MS, 3.0, 3),
        ItemExponentialFailureRateLimiter(1 * MS, 1.0),
    )
    assert whens(limiter, "one", 5) == pytest.approx([5 * MS, 5 * MS, 5 * MS, 3.0, 3.0])
    assert limiter.num_requeues("one") == 5
    assert whens(limiter, "two", 2) == pytest.approx([5 * MS, 5 * MS])
    assert limiter.num_requeues("two") == 2
    limiter.forget("one")
    assert limiter.num_requeues("one") == 0
    assert limiter.when("one") == pytest.approx(5 * MS)


def test_max_of_needs_a_limiter() -> None:
    with pytest.raises(ValueError, match="at least one"):
        MaxOfRateLimiter()


def test_bucket_starts_full_then_reserves_future_tokens() -> None:
    clock = FakeClock()
    limiter = BucketRateLimiter(qps=10.0, burst=3, clock=clock)
    assert whens(limiter, "a", 3) == [0.0, 0.0, 0.0]
    # The bucket is empty: each reservation waits for the next token in turn.
    assert whens(limiter, "b", 3) == pytest.approx([0.1, 0.2, 0.3])
    assert limiter.num_requeues("a") == 0
    limiter.forget("a")  # the bucket is shared: forgetting one item gives nothing back
    assert limiter.when("c") == pytest.approx(0.4)


def test_bucket_refills_at_qps_up_to_burst() -> None:
    clock = FakeClock()
    limiter = BucketRateLimiter(qps=10.0, burst=2, clock=clock)
    whens(limiter, "x", 2)
    assert limiter.when("x") == pytest.approx(0.1)  # in debt by one token
    clock.advance(0.25)  # 2.5 tokens earned: 1.5 left after the debt
    assert limiter.when("x") == 0.0
    assert limiter.when("x") == pytest.approx(0.05)
    clock.advance(100.0)  # refills to burst, not beyond
    assert whens(limiter, "x", 3) == pytest.approx([0.0, 0.0, 0.1])


def test_bucket_rejects_non_positive_qps() -> None:
    with pytest.raises(ValueError, match="qps"):
        BucketRateLimiter(qps=0.0, burst=1)


def test_bucket_with_infinite_qps_never_waits() -> None:
    limiter = BucketRateLimiter(qps=float("inf"), burst=0, clock=FakeClock())
    assert whens(limiter, "x", 5) == [0.0] * 5


def test_default_controller_limiter_is_exponential_then_bucket_bound() -> None:
    clock = FakeClock()
    limiter = default_controller_rate_limiter(clock)
    assert whens(limiter, "one", 3) == pytest.approx([0.005, 0.010, 0.020])
    assert limiter.num_requeues("one") == 3
    # 3 tokens used; 97 more distinct items still fit the burst of 100 ...
    assert [limiter.when(f"item-{i}") for i in range(97)] == pytest.approx([0.005] * 97)
    # ... then the 10 qps bucket dominates the per-item backoff.
    assert limiter.when("item-97") == pytest.approx(0.1)
    assert limiter.when("item-98") == pytest.approx(0.2)
    whens(limiter, "slow", 30)
    assert limiter.when("slow") == 1000.0  # capped by the exponential limiter
    limiter.forget("one")
    assert limiter.num_requeues("one") == 0
