"""The sandbox's request limiter: N requests per rolling 60-second window, per API key.

Documented sandbox choices (Connectif documents only the 429 and, via an integrator, the three
``X-RateLimit-*`` headers; CONNECTIF_API.md §3):

* The window is keyed by the API key the request presents (a missing key is its own key), and
  the limiter runs before authentication, so wrong keys are limited too.
* ``X-RateLimit-Reset`` is the Unix second (sandbox clock, rounded up) at which the oldest
  request in the window leaves it, i.e. when the next slot frees.
* A request answered 429 is not counted. ``Retry-After`` (whole seconds, at least 1) is sent on
  429 unless switched off.
* A limit of 0 disables limiting and the headers.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset: int
    retry_after: int | None = None

    def headers(self, *, retry_after_header: bool = True) -> dict[str, str]:
        if self.limit <= 0:
            return {}
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if self.retry_after is not None and retry_after_header:
            out["Retry-After"] = str(self.retry_after)
        return out


class RollingWindowLimiter:
    """Not thread-safe on its own: the sandbox state calls it under its lock."""

    def __init__(self, limit: int, window: float = WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str, now: float) -> RateDecision:
        """Count one request for key at now, unless the window is full."""
        if self.limit <= 0:
            return RateDecision(True, 0, 0, math.ceil(now))
        hits = self._prune(key, now)
        if len(hits) >= self.limit:
            frees_at = hits[len(hits) - self.limit] + self.window
            return RateDecision(
                False,
                self.limit,
                0,
                math.ceil(frees_at),
                retry_after=max(1, math.ceil(frees_at - now)),
            )
        hits.append(now)
        self._hits[key] = hits
        return RateDecision(
            True, self.limit, self.limit - len(hits), math.ceil(hits[0] + self.window)
        )

    def _prune(self, key: str, now: float) -> deque[float]:
        hits = self._hits.pop(key, None) or deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        # Drop windows that have emptied, so many distinct (wrong) keys cannot pile up.
        for other in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
            del self._hits[other]
        if hits:
            self._hits[key] = hits
        return hits
