"""Simulated demand: workflows handing out coupon codes while the sandbox clock moves.

In Connectif a set's ``assigned`` rises and its ``available`` falls as active workflows give
codes to contacts. The sandbox models this with a rate per coupon set, in codes per day:

* **Who consumes.** A set consumes only while its rate is above 0 *and* at least one workflow
  in its ``usedInWorkflows`` is active (a set no active workflow uses has no demand). A
  ``multiple`` set, or a ``single`` set with a maximum number of uses, moves codes from
  ``available`` to ``assigned`` (so ``quantity`` stays ``assigned + available``) and stops at
  ``available == 0``: demand that finds the set empty is lost, as Connectif simply stops
  sending codes. A ``single`` set with unlimited uses only counts ``assigned`` up.
* **Seeded rates** (``SandboxConfig.demand=True``, the default; a ``random.Random`` of its
  own, so the seed data is the same with demand on or off). Of the ``multiple`` sets used by
  an active workflow, in a seeded order: one hot set at 1000-3000 codes/day, one at 300-999,
  one idle at 0, the others moderate at 10-150. ``single`` sets used by an active workflow
  get 5-50 a day. Every other set starts at 0. With ``demand=False`` every rate starts at 0;
  :meth:`~voucherbot.sandbox.state.SandboxState.set_demand_rate` still switches one on.
* **When.** Demand is driven only by advancing the clock
  (:meth:`~voucherbot.sandbox.state.SandboxState.advance`, ``POST /_sandbox/clock/advance``):
  ``advance(dt)`` at sandbox time T hands out the codes due in the window [T, T + dt]. Real
  time passing consumes nothing, so counters read within a real-time window stay put (the
  conformance check reads ``available`` right after an import and expects exactly the rows
  imported) and the same advances always give the same counters. An advance costs
  O(number of sets) for ``steady`` and ``weekly`` (O(sets x hours) for ``bursty``), never
  a loop per second: ``advance(30 * 86400)`` is instant.
* **Exact counting.** Each set carries the fraction of a code it is owed; a step hands out
  ``floor(carry + rate * weighted_time / 86400)`` codes, with exact rational arithmetic, so
  ``advance(86400)`` at 1000/day hands out exactly 1000 and 24 one-hour steps at 100/day
  exactly 100. Imports in progress during an advance are interleaved in time order: demand
  up to the moment rows are applied is handed out first.
* **updatedAt** of a set becomes the moment its last code in the step went out.
* **Patterns** (``SandboxConfig.demand_pattern``). ``steady``: the rate at all times.
  ``weekly``: Monday-Friday at the rate, Saturday and Sunday (UTC, by the sandbox clock) at
  40 % of it; a whole week hands out ``5.8 x rate``. ``bursty``: each hour of *demand time*
  (the total time advanced so far) is, with probability 1/24 and independently per set, a
  burst at 6x the rate, and otherwise runs at 18/23 of it, so the long-run mean is the rate.
  The bursts follow from the seed and the set id only: the same seed and the same advances
  give the same counters whatever the wall clock says.
* Connectif's counters lag up to ~10 s; the sandbox's do not.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction

from voucherbot.sandbox.config import DEMAND_PATTERNS
from voucherbot.sandbox.data import CouponSetRecord

__all__ = ["DEMAND_PATTERNS", "DemandModel", "amount", "check_rate", "seed_rates", "segments"]

DAY = 86_400
HOUR = 3_600
WEEK = 7 * DAY
#: Weekend days run at this share of the rate in the ``weekly`` pattern.
WEEKEND_FACTOR = Fraction(2, 5)
#: In the ``bursty`` pattern, one hour in BURST_ODDS (on average) is a burst.
BURST_ODDS = 24
BURST_FACTOR = Fraction(6)
CALM_FACTOR = (1 - BURST_FACTOR / BURST_ODDS) / (1 - Fraction(1, BURST_ODDS))  # 18/23
#: 1970-01-01 was a Thursday, so Monday 00:00 UTC falls where (t + 3 days) % 1 week == 0.
_TO_MONDAY = 3 * DAY
_MASK = (1 << 64) - 1

#: (start, end, factor): the rate is multiplied by factor from start to end (sandbox clock).
Segment = tuple[Fraction, Fraction, Fraction]


def amount(value: float) -> Fraction:
    """A user-given number as the exact fraction it reads as (0.7 is 7/10, not 0.69999...)."""
    return Fraction(repr(float(value)))


def check_rate(per_day: float) -> float:
    ok = isinstance(per_day, int | float) and not isinstance(per_day, bool)
    if not ok or not math.isfinite(per_day) or per_day < 0:
        raise ValueError("a demand rate must be a finite number of codes per day, 0 or more")
    return float(per_day)


def _set_key(seed: int, set_id: str) -> int:
    digest = hashlib.blake2b(f"{seed}:{set_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _mix(x: int) -> int:
    """splitmix64's finaliser: a well-spread 64-bit hash of x."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def is_burst(key: int, hour: int) -> bool:
    """Whether hour number ``hour`` of demand time is a burst for the set with this key."""
    return _mix((key + hour) & _MASK) % BURST_ODDS == 0


def seed_rates(
    seed: int, sets: Iterable[CouponSetRecord], uses_active: Callable[[CouponSetRecord], bool]
) -> dict[str, float]:
    """The starting rate of every set (codes per day), as documented above."""
    rnd = random.Random(f"voucherbot-sandbox-demand:{seed}")  # noqa: S311 - fake data
    sets = list(sets)
    rates = dict.fromkeys((cs.id for cs in sets), 0.0)
    busy = [cs for cs in sets if cs.type == "multiple" and uses_active(cs)]
    for rank, cs in enumerate(rnd.sample(busy, len(busy))):
        if rank == 0:
            rates[cs.id] = float(rnd.randint(1000, 3000))
        elif rank == 1:
            rates[cs.id] = float(rnd.randint(300, 999))
        elif rank > 2:  # rank 2 stays idle
            rates[cs.id] = float(rnd.randint(10, 150))
    for cs in sets:
        if cs.type == "single" and uses_active(cs):
            rates[cs.id] = float(rnd.randint(5, 50))
    return rates


def segments(
    pattern: str, start: Fraction, end: Fraction, *, key: int = 0, elapsed: Fraction = Fraction(0)
) -> list[Segment]:
    """How the rate is scaled over [start, end]; ``elapsed`` is the demand time at ``start``."""
    if end <= start:
        return []
    if pattern == "steady":
        return [(start, end, Fraction(1))]
    if pattern == "weekly":
        out: list[Segment] = []
        at = start
        while at < end:
            into_week = (at + _TO_MONDAY) % WEEK
            if into_week < 5 * DAY:
                stop, factor = at + 5 * DAY - into_week, Fraction(1)
            else:
                stop, factor = at + WEEK - into_week, WEEKEND_FACTOR
            out.append((at, min(stop, end), factor))
            at = stop
        return out
    if pattern == "bursty":
        return _bursty(start, end, key, elapsed)
    raise ValueError(f"unknown demand pattern {pattern!r}")


def _bursty(start: Fraction, end: Fraction, key: int, elapsed: Fraction) -> list[Segment]:
    """Runs of equal factor over whole hours of demand time, clipped and mapped to the clock."""
    shift = start - elapsed  # clock time = demand time + shift
    first, last = math.floor(elapsed / HOUR), math.ceil((elapsed + end - start) / HOUR)
    out: list[Segment] = []
    run_start, run_burst = first, is_burst(key, first)
    for hour in range(first + 1, last + 1):
        burst = hour < last and is_burst(key, hour)
        if hour == last or burst != run_burst:
            lo = max(start, run_start * HOUR + shift)
            hi = min(end, hour * HOUR + shift)
            out.append((lo, hi, BURST_FACTOR if run_burst else CALM_FACTOR))
            run_start, run_burst = hour, burst
    return out


def _time_at(segs: list[Segment], weight: Fraction) -> Fraction:
    """The moment the weighted time since the first segment's start reaches ``weight``."""
    done = Fraction(0)
    for start, end, factor in segs:
        part = (end - start) * factor
        if done + part >= weight:
            return start + (weight - done) / factor
        done += part
    return segs[-1][1]


@dataclass
class SetDemand:
    """One set's rate (codes per day) and the fraction of a code it is owed."""

    per_day: Fraction
    key: int
    carry: Fraction = field(default=Fraction(0))


class DemandModel:
    """The demand of every coupon set. Not thread-safe: the state calls it under its lock."""

    def __init__(self, pattern: str, seed: int, rates: dict[str, float]) -> None:
        if pattern not in DEMAND_PATTERNS:
            raise ValueError(f"unknown demand pattern {pattern!r}")
        self.pattern = pattern
        self._sets = {
            set_id: SetDemand(amount(check_rate(rate)), _set_key(seed, set_id))
            for set_id, rate in rates.items()
        }
        #: Demand time: the total clock time handed out so far (the ``bursty`` time line).
        self.elapsed = Fraction(0)

    def rate(self, set_id: str) -> float:
        return float(self._sets[set_id].per_day)

    def rates(self) -> dict[str, float]:
        return {set_id: float(d.per_day) for set_id, d in self._sets.items()}

    def add(self, set_id: str, seed: int) -> None:
        """Follow a new set, with no demand until a rate is set."""
        self._sets[set_id] = SetDemand(amount(0), _set_key(seed, set_id))

    def set_rate(self, set_id: str, per_day: float) -> None:
        """Change a rate from now on (the fraction of a code already owed is kept)."""
        self._sets[set_id].per_day = amount(check_rate(per_day))

    def run(
        self,
        sets: Iterable[CouponSetRecord],
        consuming: Callable[[CouponSetRecord], bool],
        start: Fraction,
        end: Fraction,
    ) -> None:
        """Hand out the codes due between ``start`` and ``end`` (sandbox clock)."""
        if end <= start:
            return
        shared = None if self.pattern == "bursty" else segments(self.pattern, start, end)
        for cs in sets:
            demand = self._sets.get(cs.id)
            if demand is None or not demand.per_day or not consuming(cs):
                continue
            segs = shared or segments(
                self.pattern, start, end, key=demand.key, elapsed=self.elapsed
            )
            _hand_out(cs, demand, segs)
        self.elapsed += end - start


def _hand_out(cs: CouponSetRecord, demand: SetDemand, segs: list[Segment]) -> None:
    owed_before = demand.carry
    weight = sum(((stop - begin) * factor for begin, stop, factor in segs), Fraction(0))
    total = owed_before + demand.per_day * weight / DAY
    due = math.floor(total)
    demand.carry = total - due
    handed = due if cs.available is None else min(due, cs.available)
    if handed <= 0:
        return
    cs.assigned += handed
    if cs.available is not None:
        cs.available -= handed
    last = _time_at(segs, (handed - owed_before) * DAY / demand.per_day)
    cs.updated_at = max(cs.updated_at, float(last))
