"""RateBudget: the configured requests per minute is never exceeded, and the server is obeyed."""

from __future__ import annotations

import bisect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import FakeClock
from voucherbot.connectif.ratelimit import RateBudget
from voucherbot.errors import RateLimitedError


def budget(clock: FakeClock, rpm: int, **kw: float) -> RateBudget:
    return RateBudget(rpm, clock=clock.monotonic, wall=clock.time, sleep=clock.sleep, **kw)  # type: ignore[arg-type]


def max_in_any_window(times: list[float], window: float = 60.0) -> int:
    times = sorted(times)
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


@settings(max_examples=60, deadline=None)
@given(
    rpm=st.integers(min_value=1, max_value=200),
    gaps=st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=400),
)
def test_never_more_than_the_budget_in_any_rolling_minute(rpm: int, gaps: list[float]) -> None:
    clock = FakeClock()
    b = budget(clock, rpm)
    sent = []
    for gap in gaps:
        clock.sleep(gap)
        b.acquire()
        sent.append(clock.now)
    assert max_in_any_window(sent) <= rpm


def test_sustained_rate_is_close_to_the_budget() -> None:
    clock = FakeClock()
    b = budget(clock, 100)
    start = clock.now
    for _ in range(1000):
        b.acquire()
    minutes = (clock.now - start) / 60
    assert 1000 / minutes == pytest.approx(100, rel=0.05)


def test_burst_is_allowed_without_waiting() -> None:
    clock = FakeClock()
    b = budget(clock, 100)
    for _ in range(10):
        assert b.acquire() == 0
    assert b.acquire() > 0
    assert b.waited > 0


def test_server_remaining_zero_pauses_until_reset() -> None:
    clock = FakeClock()
    b = budget(clock, 100)
    b.observe({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(clock.time()) + 20)})
    assert b.acquire() == pytest.approx(20)


def test_server_remaining_drains_the_bucket() -> None:
    clock = FakeClock()
    b = budget(clock, 100)
    b.observe({"X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "0"})
    assert b.acquire() == 0
    assert b.acquire() > 0


def test_waits_are_capped_for_absurd_reset_times() -> None:
    clock = FakeClock()
    b = budget(clock, 100, max_wait=30)
    b.observe({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(clock.time()) + 29)})
    assert b.acquire() == pytest.approx(29, abs=1)


def test_a_reset_beyond_the_longest_wait_refuses_the_next_request_instead_of_stalling() -> None:
    clock = FakeClock()
    b = budget(clock, 100, max_wait=30)
    b.observe({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(clock.time()) + 86400)})
    with pytest.raises(RateLimitedError, match="resets in 86,400 s, more than 30 s"):
        b.acquire()
    assert clock.sleeps == []


def test_garbage_headers_are_ignored() -> None:
    clock = FakeClock()
    b = budget(clock, 100)
    b.observe({"X-RateLimit-Remaining": "lots", "X-RateLimit-Reset": "soon"})
    assert b.acquire() == 0


def test_budget_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RateBudget(0)
