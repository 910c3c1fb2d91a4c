"""Backtest: refill at a fixed threshold (A) against refill by days of cover (B).

Run from the repository root (stdlib only, deterministic for a seed, well under a minute)::

    .venv/bin/python bench/forecast_backtest.py            # 20 sets, 90 days, seed 2026
    .venv/bin/python bench/forecast_backtest.py --seed 7 --run-every 1   # ~2 minutes

The simulation drives the shipped planner (:func:`voucherbot.planning.planner.plan`, which calls
:func:`voucherbot.planning.forecast.forecast`) with synthetic coupon sets, one active workflow and a
:class:`~voucherbot.config.Config` per policy:

* **Demand.** 20 coupon sets with different hourly demand over ``--days`` days: steady (slow to
  hot), weekly cycles (weekend peaks, and one weekday-only), bursty (newsletter blasts of
  thousands of codes within an hour or three), idle, trending up or down, a campaign that starts
  and one that stops, a monthly season. Every hour's demand is a Poisson draw around the
  set's rate times a day/night curve (busy evenings, quiet nights). The same demand is replayed
  for both policies; demand that finds a set empty is lost.
* **Runs.** Every ``--run-every`` hours (default 4: a cron job) the bot records a snapshot of
  every set (what the ledger does), plans, and orders the refills; each import lands
  ``--delay`` hours later (default 1) and, until then, is "in flight" (the planner skips the
  set). Every set starts with 5,000 codes.
* **Policy B, days of cover:** ``min_days_left = 2`` and ``cover_days = 7`` (``--cover-days``)
  with ``safety_factor = 1.2``, the default ``[forecast]`` settings, and the documented
  ``min_available = 500`` / ``refill_to = 5000`` as the safety net and as the fallback while a
  set has too little history.
* **Policy A, fixed threshold:** ``min_available = 500`` for every set, and ``refill_to = R``.
  A policy that leaves sets empty less often also hands out more codes (demand that finds a set
  empty needs no replacing), so B cannot be made to issue as few codes as A by shrinking its
  cover; instead ``R`` is tuned (bisection) until A issues the same total number of codes as B,
  within 1 %: A gets the same budget of codes, spent as bigger fixed refills. A with the
  documented ``refill_to = 5000`` is reported too.

Reported per policy: codes issued (sum of refills), refills, **empty hours** (set-hours that
ended with nothing available), codes missed (demand that found a set empty) and **idle codes**
(the average number of available codes over all sets, hour by hour). The script exits 1 if B
does not leave sets empty for fewer hours than A, or if the totals do not match within 3 %.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voucherbot.config import Config, RuleSettings  # noqa: E402
from voucherbot.config.settings import ForecastSettings  # noqa: E402
from voucherbot.connectif.models import CouponSet, Import, Workflow  # noqa: E402
from voucherbot.planning.forecast import Snapshot  # noqa: E402
from voucherbot.planning.planner import plan  # noqa: E402

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
INITIAL_STOCK = 5000
WORKFLOW = Workflow("wf-1", "Always on", "active")
#: the share of a day's demand in each hour (quiet nights, busy evenings); sums to 1
DIURNAL = [0.2, 0.15, 0.1, 0.1, 0.1, 0.2, 0.4, 0.7, 1.0, 1.2, 1.3, 1.4,
           1.5, 1.4, 1.3, 1.3, 1.4, 1.6, 1.9, 2.1, 2.0, 1.6, 1.0, 0.5]  # fmt: skip
_TOTAL = sum(DIURNAL)
DIURNAL = [d / _TOTAL for d in DIURNAL]


# --- demand --------------------------------------------------------------------------------------

Profile = Callable[[float, int], float]  # (day since start, weekday) -> codes a day


def steady(rate: float) -> Profile:
    return lambda day, weekday: rate


def weekly(weekday_rate: float, weekend_rate: float) -> Profile:
    return lambda day, weekday: weekend_rate if weekday >= 5 else weekday_rate


def trend(first: float, last: float, days: int) -> Profile:
    return lambda day, weekday: first + (last - first) * min(day / days, 1.0)


def step(before: float, after: float, at_day: float) -> Profile:
    return lambda day, weekday: before if day < at_day else after


def season(low: float, high: float, period: float) -> Profile:
    mid, amp = (low + high) / 2, (high - low) / 2
    return lambda day, weekday: mid + amp * math.sin(2 * math.pi * day / period)


@dataclass(frozen=True)
class SetSpec:
    name: str
    profile: Profile
    bursts_per_week: float = 0.0  #: newsletter blasts
    burst_size: tuple[int, int] = (0, 0)  #: codes per blast (uniform range)


def set_specs(days: int) -> list[SetSpec]:
    return [
        SetSpec("steady 20/day", steady(20)),
        SetSpec("steady 50/day", steady(50)),
        SetSpec("steady 150/day", steady(150)),
        SetSpec("steady 600/day", steady(600)),
        SetSpec("steady 1,500/day", steady(1500)),
        SetSpec("hot 4,000/day", steady(4000)),
        SetSpec("hot 8,000/day", steady(8000)),
        SetSpec("weekend 100/800", weekly(100, 800)),
        SetSpec("weekend 400/2,000", weekly(400, 2000)),
        SetSpec("weekdays 1,000/100", weekly(1000, 100)),
        SetSpec("bursty 100 + 2-5k", steady(100), 1.4, (2000, 5000)),
        SetSpec("bursty 300 + 1-3k", steady(300), 2.3, (1000, 3000)),
        SetSpec("blast 50 + 8k", steady(50), 0.5, (6000, 10000)),
        SetSpec("idle", steady(0)),
        SetSpec("idle 2/day", steady(2)),
        SetSpec("trend 100->3,000", trend(100, 3000, days)),
        SetSpec("trend 3,000->100", trend(3000, 100, days)),
        SetSpec("launch day 30", step(200, 2500, 30)),
        SetSpec("ends day 45", step(2000, 0, 45)),
        SetSpec("season 200-1,800", season(200, 1800, 30)),
    ]


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 40:  # normal approximation, plenty for demand counts
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def simulate_demand(specs: list[SetSpec], hours: int, seed: int) -> list[list[int]]:
    """Codes asked for, per set and hour (the same for both policies)."""
    rng = random.Random(seed)
    demand = []
    for spec in specs:
        row = []
        burst_left = 0
        burst_rate = 0
        for h in range(hours):
            t = START + timedelta(hours=h)
            rate = spec.profile(h / 24, t.weekday()) * DIURNAL[t.hour]
            n = poisson(rng, rate)
            if spec.bursts_per_week and rng.random() < spec.bursts_per_week / (7 * 24):
                size = rng.randint(*spec.burst_size)
                burst_left = rng.randint(1, 3)
                burst_rate = size // burst_left
            if burst_left:
                n += burst_rate
                burst_left -= 1
            row.append(n)
        demand.append(row)
    return demand


# --- the bot, run after run ----------------------------------------------------------------------


@dataclass
class Outcome:
    issued: int = 0
    refills: int = 0
    empty_hours: int = 0
    missed: int = 0
    idle_sum: int = 0  #: Σ over hours of Σ available
    hours: int = 0
    per_set_empty: list[int] = field(default_factory=list)

    @property
    def idle(self) -> float:
        return self.idle_sum / max(self.hours, 1)


def run_policy(
    config: Config, demand: list[list[int]], names: list[str], *, run_every: int, delay: int
) -> Outcome:
    n_sets, hours = len(demand), len(demand[0])
    ids = [f"{i:024x}" for i in range(1, n_sets + 1)]
    available = [INITIAL_STOCK] * n_sets
    assigned = [0] * n_sets
    quantity = [INITIAL_STOCK] * n_sets
    keep = math.ceil(config.forecast.window_days * 24 / run_every) + 2
    history: list[deque[Snapshot]] = [deque(maxlen=keep) for _ in range(n_sets)]
    pending: list[tuple[int, int, int]] = []  # (lands at hour, set index, codes)
    in_flight: dict[int, Import] = {}
    out = Outcome(per_set_empty=[0] * n_sets)
    next_import = 1
    for h in range(hours):
        now = START + timedelta(hours=h)
        for land in [p for p in pending if p[0] <= h]:
            _, i, count = land
            available[i] += count
            quantity[i] += count
            in_flight.pop(i, None)
            pending.remove(land)
        if h % run_every == 0:
            sets = []
            for i in range(n_sets):
                history[i].append(Snapshot(now, available[i], assigned[i], quantity[i]))
                sets.append(CouponSet(ids[i], names[i], "multiple", assigned=assigned[i],
                                      quantity=quantity[i], available=available[i],
                                      used_in_workflows=(WORKFLOW.id,)))  # fmt: skip
            the_plan = plan(
                sets, [WORKFLOW], config, list(in_flight.values()), now,
                history={ids[i]: list(history[i]) for i in range(n_sets)},
            )  # fmt: skip
            for d in the_plan.refills:
                i = ids.index(d.coupon_set.id)
                pending.append((h + delay, i, d.count))
                in_flight[i] = Import(f"imp-{next_import}", "inProgress",
                                      coupon_set_id=d.coupon_set.id, created_at=now)  # fmt: skip
                next_import += 1
                out.issued += d.count
                out.refills += 1
        for i in range(n_sets):
            served = min(available[i], demand[i][h])
            available[i] -= served
            assigned[i] += served
            out.missed += demand[i][h] - served
            if available[i] == 0:
                out.empty_hours += 1
                out.per_set_empty[i] += 1
        out.idle_sum += sum(available)
        out.hours += 1
    return out


def policy_a(refill_to: int) -> Config:
    return Config(defaults=RuleSettings(min_available=500, refill_to=refill_to))


def policy_b(cover_days: float) -> Config:
    rule = RuleSettings(min_available=500, refill_to=5000, min_days_left=2.0,
                        cover_days=cover_days, safety_factor=1.2)  # fmt: skip
    return Config(defaults=rule, forecast=ForecastSettings())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--run-every", type=int, default=4, help="hours between runs")
    parser.add_argument("--delay", type=int, default=1, help="hours until an import lands")
    parser.add_argument("--cover-days", type=float, default=7.0, help="policy B's cover_days")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    specs = set_specs(args.days)
    names = [s.name for s in specs]
    demand = simulate_demand(specs, args.days * 24, args.seed)
    runs = 0

    def run(config: Config) -> Outcome:
        nonlocal runs
        runs += 1
        return run_policy(config, demand, names, run_every=args.run_every, delay=args.delay)

    b = run(policy_b(args.cover_days))
    default_a = run(policy_a(5000))
    # Tune A's refill_to until A issues as many codes as B (issued grows with refill_to).
    low, high = 1000, 200_000
    tried: list[tuple[int, Outcome]] = [(5000, default_a)]
    while high - low > 50:
        refill_to = (low + high) // 2
        a = run(policy_a(refill_to))
        tried.append((refill_to, a))
        if abs(b.issued - a.issued) <= 0.005 * b.issued:
            break
        low, high = (refill_to, high) if a.issued < b.issued else (low, refill_to)
    refill_to, a = min(tried, key=lambda t: abs(t[1].issued - b.issued))

    total_demand = sum(map(sum, demand))
    print(f"{len(specs)} sets, {args.days} days of hourly demand (seed {args.seed}): "
          f"{total_demand:,} codes asked for; a run every {args.run_every} h, imports land "
          f"{args.delay} h later; every set starts with {INITIAL_STOCK:,} codes")  # fmt: skip
    print(f"A: fixed threshold: min_available 500, refill_to {refill_to:,} (tuned to B's total)")
    print(
        f"B: days of cover: min_days_left 2, cover_days {args.cover_days:g}, safety_factor "
        "1.2 (with min_available 500 / refill_to 5000 as safety net and fallback)"
    )
    print()
    header = (f"{'policy':<18}{'codes issued':>14}{'refills':>9}{'empty hours':>13}"
              f"{'codes missed':>14}{'idle codes':>12}")  # fmt: skip
    print(header)
    print("-" * len(header))
    rows = (("A fixed threshold", a), ("B days of cover", b), ("A, refill_to 5000", default_a))
    for label, o in rows:
        print(f"{label:<18}{o.issued:>14,}{o.refills:>9,}{o.empty_hours:>13,}{o.missed:>14,}"
              f"{o.idle:>12,.0f}")  # fmt: skip
    print()
    print(
        "empty hours: set-hours that ended with nothing available; codes missed: demand that "
        "found a set empty;"
    )
    print("idle codes: available codes summed over all sets, averaged over the hours")
    print()
    print("Empty hours per set (A / B):")
    for name, ea, eb in zip(names, a.per_set_empty, b.per_set_empty, strict=True):
        if ea or eb:
            print(f"  {name:<22}{ea:>6,} /{eb:>6,}")
    gap = (b.issued - a.issued) / a.issued
    print()
    print(
        f"Codes issued: B {gap:+.1%} against A. Empty hours: B {b.empty_hours:,}, A "
        f"{a.empty_hours:,}. Idle codes: B {b.idle:,.0f}, A {a.idle:,.0f}."
    )
    print(f"({runs} simulations in {time.perf_counter() - started:.1f} s)")
    ok = b.empty_hours < a.empty_hours and abs(gap) <= 0.03
    if not ok:
        print("FAIL: days of cover did not leave sets empty for fewer hours at the same total")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
