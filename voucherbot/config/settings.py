"""The settings dataclasses of the parts that are not rules: polling, forecasts, the import
policy and notifications. Plain values, checked when built, so that the pure planner and the
I/O modules read them from here and never from each other."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from voucherbot.errors import ConfigError


@dataclass(frozen=True)
class PollSettings:
    """How to wait for imports: first interval, growth, longest interval, overall deadline."""

    interval: float = 2.0
    growth: float = 1.5
    max_interval: float = 60.0
    timeout: float = 1800.0

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.max_interval < self.interval or self.growth < 1:
            raise ConfigError("poll settings need 0 < interval <= max_interval and growth >= 1")
        if self.timeout <= 0:
            raise ConfigError("the poll timeout must be positive")


@dataclass(frozen=True)
class ForecastSettings:
    """How :func:`forecast` reads the history (``[forecast]`` in rules.toml)."""

    window_days: float = 14.0  #: only this much history counts
    half_life_days: float = 3.0  #: demand this old weighs half as much as demand now
    min_snapshots: int = 3  #: fewer (usable intervals + 1) gives "unknown"
    min_span_hours: float = 24.0  #: usable intervals covering less time give "unknown"

    def __post_init__(self) -> None:
        if not (0 < self.window_days < math.inf and 0 < self.half_life_days < math.inf):
            raise ValueError("window_days and half_life_days must be positive and finite")
        if self.min_snapshots < 2:
            raise ValueError("min_snapshots must be at least 2 (one interval)")
        if not 0 <= self.min_span_hours <= self.window_days * 24:
            raise ValueError("min_span_hours must be between 0 and the window")


@dataclass(frozen=True)
class ImportPolicy:
    """How imports are sent and confirmed (``[connectif]`` keys of the same names)."""

    #: POSTs of one batch at most (the first included); E0401 answers are not counted
    post_attempts: int = 3
    #: how long after the upload began an import must be listed before it counts as absent
    lookup_delay: float = 10.0
    #: how much earlier than voucherbot's mark the server may date the batch's import
    clock_skew: float = 10.0
    #: pages of GET /imports/ read, at most, to find a batch's import
    lookup_pages: int = 20
    #: Connectif lists imports newest first (undocumented; the sandbox does): then the list
    #: is read only back to the batch's mark, not to its end
    newest_first: bool = False
    #: how long Connectif's set counters may trail an import (its docs: "up to ~10 s")
    counter_lag: float = 15.0

    def __post_init__(self) -> None:
        if not 1 <= self.post_attempts <= 10:
            raise ConfigError("'post_attempts' must be between 1 and 10")
        if not 1 <= self.lookup_pages <= 1000:
            raise ConfigError("'lookup_pages' must be between 1 and 1000")
        for name in ("lookup_delay", "clock_skew", "counter_lag"):
            if not 0 <= getattr(self, name) <= 3600:
                raise ConfigError(f"'{name}' must be between 0 and 3600 seconds")


LEVELS = ("failures", "all")
NOTIFY_KEYS = ("url", "url_env", "level", "timeout")


@dataclass(frozen=True)
class NotifySettings:
    url: str | None = field(default=None, repr=False)  #: may hold a token: never shown
    level: str = "failures"
    timeout: float = 10.0
