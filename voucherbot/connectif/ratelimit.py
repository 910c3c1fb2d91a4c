"""The request budget: how fast voucherbot may call the Connectif API.

Connectif allows about 100 requests a minute per account, and the shop's own Connectif plugin
spends from the same allowance. :class:`RateBudget` keeps voucherbot inside a configured
``requests_per_minute`` with two mechanisms:

* a **token bucket** (capacity ``burst``, refilled at ``requests_per_minute / 60`` tokens per
  second) that spreads requests out instead of firing them all at once, and
* a **rolling-window guard** that remembers when the last ``requests_per_minute`` requests were
  sent, so no 60-second window ever holds more than the budget. The bucket alone would allow
  ``burst`` extra requests in a minute that starts with a full bucket.

It also obeys the server: ``X-RateLimit-Remaining: 0`` (or a 429) pauses every request until
``X-RateLimit-Reset`` (Unix epoch seconds), and a smaller ``Remaining`` than the bucket holds
drains the bucket to match. Waits are capped by ``max_wait`` so a server clock far off cannot
park a cron job for hours.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from voucherbot.errors import RateLimitedError

log = logging.getLogger("voucherbot.ratelimit")  # its name in logs since before the subpackages

WINDOW_SECONDS = 60.0


class RateBudget:
    """A token bucket plus a rolling 60-second window, shared by every request of one client."""

    def __init__(
        self,
        requests_per_minute: int = 100,
        *,
        burst: int | None = None,
        max_wait: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if requests_per_minute < 1:
            raise ValueError("requests_per_minute must be at least 1")
        self.requests_per_minute = requests_per_minute
        self.capacity = float(
            burst if burst is not None else max(1, min(10, requests_per_minute // 10))
        )
        self.rate = requests_per_minute / WINDOW_SECONDS
        self.max_wait = max_wait
        self._clock = clock
        self._wall = wall
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._refusal: str | None = None
        self._lock = threading.Lock()
        #: seconds spent waiting for the budget, in total
        self.waited = 0.0

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        while self._sent and self._sent[0] <= now - WINDOW_SECONDS:
            self._sent.popleft()

    def _wait_needed(self, now: float) -> float:
        waits = [0.0, self._paused_until - now]
        if self._tokens < 1.0:
            waits.append((1.0 - self._tokens) / self.rate)
        if len(self._sent) >= self.requests_per_minute:
            waits.append(self._sent[0] + WINDOW_SECONDS - now)
        return max(waits)

    def acquire(self) -> float:
        """Block until one request may be sent, take its token, and return the seconds waited.
        Raises :class:`RateLimitedError` once the server has said its limit resets further
        away than ``max_wait``."""
        if self._refusal is not None:
            raise RateLimitedError(self._refusal, status=429)
        waited = 0.0
        with self._lock:
            while True:
                now = self._clock()
                self._refill(now)
                wait = self._wait_needed(now)
                if wait <= 0:
                    break
                # at least a millisecond: a float remainder must not spin the loop
                wait = min(max(wait, 0.001), self.max_wait)
                if wait >= 10:  # a long pause says so: it is the account's rate limit
                    log.warning(
                        "waiting %.0f s for the request budget (Connectif's rate limit)", wait
                    )
                self._sleep(wait)
                waited += wait
            self._tokens -= 1.0
            self._sent.append(now)
            self.waited += waited
        return waited

    def wall(self) -> float:
        """The wall-clock time (Unix seconds) this budget uses for reset times."""
        return self._wall()

    def pause_until_epoch(self, reset_epoch: float) -> None:
        """Hold every request until the server's reset time (Unix seconds). After a reset
        further away than ``max_wait``, the next request is refused (:class:`RateLimitedError`):
        waiting for it at every request would stall a run for hours without a word."""
        delay = reset_epoch - self._wall()
        if delay > self.max_wait:  # the answer in hand is kept; the next request is refused
            self._refusal = (
                f"the server's rate limit is used up and resets in {delay:,.0f} s, more than "
                f"{self.max_wait:g} s; the account's request budget is spent elsewhere, run "
                "later"
            )
            return
        with self._lock:
            delay = min(max(0.0, delay), self.max_wait)
            self._paused_until = max(self._paused_until, self._clock() + delay)

    def pause_for(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (capped by max_wait)."""
        with self._lock:
            delay = min(max(0.0, seconds), self.max_wait)
            self._paused_until = max(self._paused_until, self._clock() + delay)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Follow ``X-RateLimit-Remaining``/``X-RateLimit-Reset`` from a response, when present."""
        remaining = _int_header(headers, "X-RateLimit-Remaining")
        if remaining is None:
            return
        with self._lock:
            self._tokens = min(self._tokens, float(remaining))
        if remaining <= 0:
            reset = _int_header(headers, "X-RateLimit-Reset")
            if reset is not None:
                self.pause_until_epoch(reset)
            else:
                self.pause_for(WINDOW_SECONDS)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    # inf, nan or a count beyond any clock: not a header to follow
    return int(number) if math.isfinite(number) and abs(number) < 2**53 else None
