"""Depletion forecast (PURE: no I/O, no clock): how fast a coupon set burns, and when it empties.

:func:`forecast` takes the snapshots recorded for one coupon set (time, ``assigned``,
``available``, ``quantity``), ``now`` and the :class:`ForecastSettings`, and returns a
:class:`Forecast`: the burn rate in codes per day, the days left and the expected empty time,
or "unknown" with the reason. It never guesses: too little history gives ``burn_per_day=None``.

Method
------

1. **Clean up.** Snapshots taken after ``now`` are ignored. The rest are sorted by time;
   when several share a timestamp, the one with the highest counters is kept. Only the window
   ``[now - window, now]`` is used, plus the last snapshot before it, so that an interval that
   straddles the window's start counts for the part inside the window.
2. **Intervals, not levels.** Demand is read from the *increase of ``assigned``* between two
   consecutive snapshots. A refill raises ``available`` and ``quantity`` but not ``assigned``,
   so refills never look like (negative) demand. An interval whose ``assigned`` went *down*
   (the counter was reset, or the set was recreated) is left out, not counted as negative
   demand, and the chain starts again from the snapshot after the drop. An interval that
   starts and ends with nothing available is left out too: demand cannot be seen while there
   is nothing to hand out. A long gap between runs is fine: its increase is spread evenly over
   its duration.
3. **Recent demand weighs more.** Each interval ``[t0, t1]`` has the demand rate
   ``r = Δassigned / Δt``. Its weight is the integral of an exponential decay
   ``2 ** (-age / half_life)`` over the interval (age measured back from ``now``), so the
   rate is the decay-weighted average of the demand over the covered time::

       burn = Σ r_i · W_i / Σ W_i,   W_i = ∫[t0_i, t1_i] 2 ** (-(now - t) / half_life) dt

   which is ``Σ w·Δassigned / Σ w·Δt`` with ``w`` the mean decay over each interval. With
   steady demand every weighting gives that demand exactly; with a half-life of 3 days,
   demand from a week ago counts about a fifth as much as today's.
4. **Enough history, or unknown.** The rate is known only when at least
   ``min_snapshots - 1`` usable intervals cover at least ``min_span`` in all. Otherwise
   the forecast is unknown and its note says what is missing, e.g. "not enough history
   (2 snapshots over 3 h; need 3 over 24 h)".
5. **Days left** = ``available`` of the newest snapshot / burn, counted from that snapshot
   (the planner passes the set's current counters as the newest snapshot, so it counts from
   ``now``); ``empty_at`` = the newest snapshot's time + days left. A known burn of 0 gives
   ``math.inf`` days and no empty date.

Defaults (:class:`ForecastSettings`, ``[forecast]`` in rules.toml): a 14-day window, a
3-day half-life, at least 3 snapshots spanning at least 24 hours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from voucherbot.config.settings import ForecastSettings
from voucherbot.text import format_span, plural

__all__ = [
    "DEFAULT_SETTINGS",
    "Forecast",
    "ForecastSettings",
    "Snapshot",
    "forecast",
]

_DAY = 86400.0
_LN2 = math.log(2)


@dataclass(frozen=True)
class Snapshot:
    """One coupon set's counters at one moment (what the ledger records at every run)."""

    taken_at: datetime  #: timezone-aware
    available: int | None
    assigned: int
    quantity: int | None


@dataclass(frozen=True)
class Forecast:
    """The burn rate of one set and when it empties; ``burn_per_day`` None means unknown."""

    burn_per_day: float | None  #: codes assigned per day; None = unknown
    #: available / burn; None if unknown (or available unknown); math.inf if burn is 0
    days_left: float | None
    empty_at: datetime | None  #: when available reaches 0; None if unknown or never
    samples: int  #: usable intervals
    span_days: float  #: the time the usable intervals cover
    note: str  #: how it was made, or why it is unknown

    @property
    def known(self) -> bool:
        return self.burn_per_day is not None


def _aware(when: datetime, what: str) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, not {when!r}")


#: a snapshot with its time in seconds, ordered so that the last of a timestamp has the highest
#: counters: (seconds, assigned, available or -1, quantity or -1, snapshot)
_Point = tuple[float, int, int, int, Snapshot]


def _point(snap: Snapshot) -> _Point:
    _aware(snap.taken_at, "Snapshot.taken_at")
    available = -1 if snap.available is None else snap.available
    quantity = -1 if snap.quantity is None else snap.quantity
    return (snap.taken_at.timestamp(), snap.assigned, available, quantity, snap)


def _prepare(snapshots: Sequence[Snapshot], now: float, start: float) -> list[_Point]:
    """The snapshots in the window ``(start, now]``, and the last one at or before ``start``,
    sorted by time, one per timestamp (the one with the highest counters)."""
    before: _Point | None = None
    inside: list[_Point] = []
    for snap in snapshots:
        point = _point(snap)
        if point[0] > now:
            continue
        if point[0] <= start:
            if before is None or point[:4] > before[:4]:
                before = point
        else:
            inside.append(point)
    inside.sort(key=lambda p: p[:4])
    out: list[_Point] = [before] if before is not None and inside else []
    for point in inside:
        if out and out[-1][0] == point[0]:
            out[-1] = point  # sorted: the last of a timestamp has the highest counters
        else:
            out.append(point)
    return out


DEFAULT_SETTINGS = ForecastSettings()


def forecast(
    snapshots: Sequence[Snapshot], now: datetime, settings: ForecastSettings = DEFAULT_SETTINGS
) -> Forecast:
    """The burn rate, days left and empty time of one set from its snapshots (module doc)."""
    _aware(now, "now")
    end = now.timestamp()
    start = end - settings.window_days * _DAY
    points = _prepare(snapshots, end, start)

    # (rate per day, age of the interval's newer end, its length), in days
    pieces: list[tuple[float, float, float]] = []
    backwards = empty = 0
    span = 0.0
    for a, b in pairwise(points):
        (t_a, assigned_a, available_a), (t_b, assigned_b, available_b) = a[:3], b[:3]
        delta = assigned_b - assigned_a
        if delta < 0:
            backwards += 1
            continue
        if available_a == 0 and available_b == 0:
            empty += 1
            continue
        length = (t_b - max(t_a, start)) / _DAY
        if length <= 0:
            continue
        pieces.append((delta / ((t_b - t_a) / _DAY), (end - t_b) / _DAY, length))
        span += length

    samples = len(pieces)
    dropped = _dropped(backwards, empty)
    enough = (
        samples >= settings.min_snapshots - 1
        and span * 24 >= settings.min_span_hours - 1e-9
        and samples > 0
    )
    if not enough:
        need = f"need {settings.min_snapshots} over {format_span(settings.min_span_hours * 3600)}"
        seen = plural(len(points), "snapshot") if points else "no snapshots"
        if span > 0:
            seen += f" over {format_span(span * _DAY)}"
        note = f"not enough history ({seen}; {need})"
        return Forecast(None, None, None, samples, span, note + dropped)

    burn = _weighted_rate(pieces, settings.half_life_days)
    note = (
        f"weighted over {format_span(span * _DAY)} ({plural(samples, 'interval')}, "
        f"half-life {format_span(settings.half_life_days * _DAY)})"
    )
    newest = points[-1][-1]
    if newest.available is None:
        return Forecast(burn, None, None, samples, span, note + "; available unknown" + dropped)
    available = max(newest.available, 0)
    if burn <= 0:
        return Forecast(0.0, math.inf, None, samples, span, note + dropped)
    days = available / burn
    try:
        empty_at: datetime | None = newest.taken_at + timedelta(days=days)
    except OverflowError:  # centuries away
        empty_at = None
    return Forecast(burn, days, empty_at, samples, span, note + dropped)


def _weighted_rate(pieces: Sequence[tuple[float, float, float]], half_life: float) -> float:
    """Σ r·W / Σ W with W the integral of 2**(-age/half_life) over each interval.

    Every weight is scaled by 2**(youngest age / half_life), which cancels out in the ratio
    and keeps old data from underflowing to zero.
    """
    youngest = min(age for _, age, _ in pieces)
    k = _LN2 / half_life
    num = den = 0.0
    for rate, age, length in pieces:
        # ∫ from age to age+length of e^(-k·a) da, times e^(k·youngest)
        weight = math.exp(-k * (age - youngest)) * -math.expm1(-k * length) / k
        num += rate * weight
        den += weight
    if den <= 0:  # every interval is so old that its weight vanished: plain average
        total = sum(length for _, _, length in pieces)
        return sum(rate * length for rate, _, length in pieces) / total
    return num / den


def _dropped(backwards: int, empty: int) -> str:
    parts = []
    if backwards:
        parts.append(f"{plural(backwards, 'interval')} where assigned went down")
    if empty:
        parts.append(f"{plural(empty, 'interval')} with nothing available")
    return "; left out: " + " and ".join(parts) if parts else ""
