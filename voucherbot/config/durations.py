"""Durations in rules.toml: seconds, or a text such as "90s", "6h", "1d12h" or "1y"."""

from __future__ import annotations

import re
from typing import Any

#: The longest duration any setting takes.
MAX_DURATION = 10 * 365.25 * 86400.0

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(y|d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"y": 365.25 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str) -> float | None:
    """Seconds in "90s", "30m", "6h", "1d12h", "1y" (units y, d, h, m, s); None if unreadable."""
    compact = text.replace(" ", "")
    if not compact:
        return None
    parts = _DURATION.findall(compact)
    if "".join(n + u for n, u in parts).lower() != compact.lower():
        return None
    return sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts)


def duration_seconds(value: Any) -> float | None:
    """Seconds in a TOML value: a number of at least 0, or a duration text; None if neither."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    if isinstance(value, str):
        return parse_duration(value)
    return None
