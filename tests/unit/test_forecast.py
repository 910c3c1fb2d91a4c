"""The depletion forecast (voucherbot.planning.forecast), on synthetic histories with known answers.

Tolerances: steady demand must come out exact (to 1e-9 relative), whatever the spacing, gaps,
refills or resets, because every weighting of a constant rate is that rate. Uneven demand
(bursts, a weekly cycle, a step) is compared with an independent numerical integration of the
documented weighting (1-minute midpoint rule) to 1e-3 relative, and with plain-language bounds.
"""

from __future__ import annotations

import ast
import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from voucherbot.config.settings import ForecastSettings
from voucherbot.planning.forecast import Forecast, Snapshot, forecast
from voucherbot.text import format_days, format_rate, format_span

NOW = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

Rate = Callable[[datetime], int]  # codes handed out in the hour starting at t


def history(
    per_hour: Rate,
    *,
    days: float,
    every: timedelta = HOUR,
    end: datetime = NOW,
    stock: int = 1_000_000,
    assigned: int = 0,
) -> list[Snapshot]:
    """Snapshots every ``every`` over the ``days`` before ``end`` of a set whose demand in each
    hour is ``per_hour(start of the hour)``; ``stock`` codes at the start, never refilled."""
    start = end - timedelta(days=days)
    snaps = []
    t = start
    used = 0
    next_snap = start
    while t <= end:
        if t >= next_snap:
            snaps.append(Snapshot(t, stock - used, assigned + used, stock + assigned))
            next_snap += every
        used += per_hour(t)
        t += HOUR
    return snaps


def reference_rate(per_hour: Rate, *, days: float, half_life: float = 3.0) -> float:
    """The documented weighting, integrated numerically (minute steps), codes per day."""
    num = den = 0.0
    start = NOW - timedelta(days=days)
    t = start
    while t < NOW:
        rate = per_hour(t) * 24.0
        for minute in range(60):
            age = (NOW - t).total_seconds() / 86400 - (minute + 0.5) / 1440
            w = 2 ** (-age / half_life)
            num += rate * w
            den += w
        t += HOUR
    return num / den


def steady(n: int) -> Rate:
    return lambda t: n


# --- steady demand: exact ---------------------------------------------------------------------


def test_steady_demand_gives_the_rate_days_left_and_empty_time() -> None:
    snaps = history(steady(5), days=10, stock=3000)  # 120 a day
    fc = forecast(snaps, NOW)
    assert fc.known
    assert fc.burn_per_day == pytest.approx(120, rel=1e-9)
    left = 3000 - 5 * 240
    assert fc.days_left == pytest.approx(left / 120, rel=1e-9)
    assert fc.empty_at == NOW + timedelta(days=left / 120)
    assert fc.samples == 240 and fc.span_days == pytest.approx(10)
    assert fc.note == "weighted over 10 days (240 intervals, half-life 3 days)"


@pytest.mark.parametrize("every", [HOUR, 6 * HOUR, DAY, 3 * DAY + 5 * HOUR])
def test_steady_demand_is_exact_for_any_spacing(every: timedelta) -> None:
    snaps = history(steady(7), days=13, every=every)
    assert forecast(snaps, NOW).burn_per_day == pytest.approx(168, rel=1e-9)


def test_steady_demand_from_minute_snapshots() -> None:
    snaps = [Snapshot(NOW - timedelta(minutes=m), 10**6, 10**6 - 2 * m, None)
             for m in range(3 * 1440 + 1)]  # fmt: skip
    assert forecast(snaps, NOW).burn_per_day == pytest.approx(2 * 1440, rel=1e-9)


def test_refills_in_between_do_not_count_as_demand() -> None:
    """A refill raises available and quantity, not assigned: the rate stays 192 a day."""
    refills = {NOW - timedelta(days=7): 5000, NOW - timedelta(hours=70): 3000}
    snaps, extra = [], 0
    for s in history(steady(8), days=10, stock=1500):
        extra += refills.get(s.taken_at, 0)
        snaps.append(
            Snapshot(s.taken_at, s.available + extra, s.assigned, (s.quantity or 0) + extra)
        )
    fc = forecast(snaps, NOW)
    assert fc.burn_per_day == pytest.approx(192, rel=1e-9)
    assert snaps[-1].available == 1500 - 1920 + 8000
    assert fc.days_left == pytest.approx(7580 / 192, rel=1e-9)


def test_a_counter_that_goes_backwards_is_left_out_not_negative() -> None:
    """assigned drops (reset, or the set was recreated): that interval is dropped and the
    chain goes on from the snapshot after the drop."""
    before = history(steady(4), days=5, end=NOW - 5 * DAY, assigned=50_000)
    after = history(steady(4), days=5 - 1 / 24, end=NOW)  # restarts from 0
    fc = forecast(before + after, NOW)
    assert fc.burn_per_day == pytest.approx(96, rel=1e-9)
    assert fc.samples == len(before) - 1 + len(after) - 1
    assert fc.note.endswith("; left out: 1 interval where assigned went down")


def test_intervals_with_nothing_available_are_left_out() -> None:
    """While the set is empty nobody can be handed a code: that is not a lack of demand."""
    snaps = history(steady(10), days=4, stock=960)  # runs out exactly at NOW
    assert snaps[-1].available == 0
    dry = [Snapshot(NOW + timedelta(hours=h), 0, snaps[-1].assigned, None) for h in (1, 2, 3)]
    fc = forecast(snaps + dry, NOW + 3 * HOUR)
    assert fc.burn_per_day == pytest.approx(240, rel=1e-9)  # not dragged down by the empty hours
    assert fc.note.endswith("; left out: 3 intervals with nothing available")
    assert fc.days_left == 0 and fc.empty_at == NOW + 3 * HOUR


def test_no_demand_with_enough_history_never_empties() -> None:
    fc = forecast(history(steady(0), days=3), NOW)
    assert (fc.known, fc.burn_per_day, fc.days_left, fc.empty_at) == (True, 0.0, math.inf, None)


def test_long_gaps_spread_their_demand_evenly() -> None:
    early = history(steady(3), days=3, end=NOW - 9 * DAY)
    late = history(steady(3), days=2, end=NOW)
    # the 7-day gap between them: assigned rises by the same 72 a day
    late = [
        Snapshot(s.taken_at, s.available, s.assigned + early[-1].assigned + 7 * 72, None)
        for s in late
    ]
    fc = forecast(early + late, NOW)
    assert fc.burn_per_day == pytest.approx(72, rel=1e-9)
    assert fc.span_days == pytest.approx(12)


def test_an_interval_across_the_window_start_counts_for_its_part_inside() -> None:
    snaps = [Snapshot(NOW - timedelta(days=d), 10_000, 100 * (30 - d), None) for d in (30, 10, 5)]
    snaps.append(Snapshot(NOW, 10_000, 3000, None))
    fc = forecast(snaps, NOW)
    assert fc.burn_per_day == pytest.approx(100, rel=1e-9)
    assert fc.samples == 3 and fc.span_days == pytest.approx(14)


def test_history_older_than_the_window_is_ignored() -> None:
    old = history(steady(100), days=10, end=NOW - 14 * DAY)
    recent = history(steady(2), days=14, end=NOW, assigned=old[-1].assigned)
    fc = forecast(old + recent, NOW)
    assert fc.burn_per_day == pytest.approx(48, rel=1e-9)
    short = forecast(old + recent, NOW, ForecastSettings(window_days=30))
    assert (short.burn_per_day or 0) > 48


# --- uneven demand: against the reference integration ------------------------------------------


def test_recent_demand_weighs_more() -> None:
    """192 a day for 8 days, then 384 a day for 2: the estimate leans to the new rate."""

    def per_hour(t: datetime) -> int:
        return 16 if t >= NOW - 2 * DAY else 8

    fc = forecast(history(per_hour, days=10), NOW)
    expected = reference_rate(per_hour, days=10)
    assert fc.burn_per_day == pytest.approx(expected, rel=1e-3)
    plain_mean = (8 * 192 + 2 * 384) / 10  # what an unweighted average would say
    assert plain_mean < expected < 384
    assert fc.burn_per_day == pytest.approx(270.9, abs=0.1)  # the stated estimate


def test_bursty_demand_matches_the_reference_and_recent_bursts_matter_more() -> None:
    base = 2  # 48 a day

    def burst_at(when: datetime) -> Rate:
        return lambda t: base + (1000 if t == when else 0)

    recent = burst_at(NOW - 1 * DAY)
    old = burst_at(NOW - 10 * DAY)
    fc_recent = forecast(history(recent, days=14), NOW)
    fc_old = forecast(history(old, days=14), NOW)
    assert fc_recent.burn_per_day == pytest.approx(reference_rate(recent, days=14), rel=1e-3)
    assert fc_old.burn_per_day == pytest.approx(reference_rate(old, days=14), rel=1e-3)
    assert 48 < (fc_old.burn_per_day or 0) < 48 + 1000 / 14 < (fc_recent.burn_per_day or 0)
    assert (fc_recent.burn_per_day or 0) == pytest.approx(239.8, abs=0.1)  # the stated estimate


def test_bursty_random_demand_matches_the_reference() -> None:
    rng = random.Random(7)
    hours = {
        NOW - timedelta(hours=h): (
            rng.choice([0, 0, 1, 3]) if rng.random() > 0.02 else rng.randint(200, 800)
        )
        for h in range(1, 14 * 24 + 1)
    }

    def per_hour(t: datetime) -> int:
        return hours.get(t, 0)

    fc = forecast(history(per_hour, days=14), NOW)
    assert fc.burn_per_day == pytest.approx(reference_rate(per_hour, days=14), rel=1e-3)


@pytest.mark.parametrize("phase", range(7))
def test_weekly_cycle_stays_near_the_weekly_mean(phase: int) -> None:
    """Weekdays 48 a day, weekends 240: the weekly mean is 102.9. A 3-day half-life follows
    the cycle somewhat (high after a weekend, low before one) but stays within 35 %."""
    now = NOW + timedelta(days=phase)

    def per_hour(t: datetime) -> int:
        return 10 if t.weekday() >= 5 else 2

    snaps = history(per_hour, days=28, end=now)
    fc = forecast(snaps, now)
    mean = (5 * 48 + 2 * 240) / 7
    assert fc.burn_per_day == pytest.approx(mean, rel=0.35)
    shifted = NOW  # reference_rate integrates back from NOW: shift the cycle instead
    expected = reference_rate(lambda t: per_hour(t + (now - shifted)), days=14)
    assert fc.burn_per_day == pytest.approx(expected, rel=1e-3)


def test_weekly_cycle_averages_out_over_the_week() -> None:
    def per_hour(t: datetime) -> int:
        return 10 if t.weekday() >= 5 else 2

    rates = [
        forecast(
            history(per_hour, days=28, end=NOW + timedelta(days=p)), NOW + timedelta(days=p)
        ).burn_per_day
        or 0.0
        for p in range(7)
    ]
    assert sum(rates) / 7 == pytest.approx((5 * 48 + 2 * 240) / 7, rel=0.02)
    assert max(rates) == rates[0]  # Monday, right after the weekend
    assert min(rates) == rates[5]  # Saturday, after five quiet days


# --- too little history: unknown, never a guess -----------------------------------------------


@pytest.mark.parametrize(
    ("snaps", "note"),
    [
        ([], "not enough history (no snapshots; need 3 over 24 h)"),
        ([Snapshot(NOW, 100, 5, 105)], "not enough history (1 snapshot; need 3 over 24 h)"),
        (
            [Snapshot(NOW - 3 * HOUR, 100, 5, 105), Snapshot(NOW, 90, 15, 105)],
            "not enough history (2 snapshots over 3 h; need 3 over 24 h)",
        ),
        (
            [Snapshot(NOW - timedelta(hours=h), 100, 50 - h, None) for h in range(10)],
            "not enough history (10 snapshots over 9 h; need 3 over 24 h)",
        ),
        (
            [Snapshot(NOW - 2 * DAY, 100, 5, None), Snapshot(NOW, 100, 9, None)],
            "not enough history (2 snapshots over 2 days; need 3 over 24 h)",
        ),
        (
            [Snapshot(NOW - 20 * DAY, 100, 5, None)],
            "not enough history (no snapshots; need 3 over 24 h)",  # only one, too old
        ),
        (
            [Snapshot(NOW - timedelta(days=d), 100, 7 + d, None) for d in range(3)],
            "not enough history (3 snapshots; need 3 over 24 h); left out: 2 intervals where "
            "assigned went down",
        ),
    ],
    ids=[
        "empty",
        "single-point",
        "two-points",
        "short-span",
        "one-interval",
        "too-old",
        "all-backwards",
    ],
)
def test_too_little_history_is_unknown(snaps: list[Snapshot], note: str) -> None:
    fc = forecast(snaps, NOW)
    assert not fc.known
    assert (fc.burn_per_day, fc.days_left, fc.empty_at) == (None, None, None)
    assert fc.note == note


def test_settings_decide_what_is_enough() -> None:
    snaps = [Snapshot(NOW - 2 * HOUR, 100, 0, None), Snapshot(NOW, 90, 10, None)]
    loose = ForecastSettings(min_snapshots=2, min_span_hours=1)
    assert forecast(snaps, NOW, loose).burn_per_day == pytest.approx(120)
    exact = [Snapshot(NOW - timedelta(hours=h), 10, 24 - h, None) for h in (24, 12, 0)]
    assert forecast(exact, NOW).known  # exactly 3 snapshots over exactly 24 h is enough


# --- input hygiene ------------------------------------------------------------------------------


def test_unsorted_and_duplicated_snapshots_give_the_same_answer() -> None:
    snaps = history(steady(3), days=6, every=3 * HOUR)
    shuffled = snaps + snaps[::5]
    random.Random(3).shuffle(shuffled)
    assert forecast(shuffled, NOW) == forecast(snaps, NOW)


def test_for_a_duplicated_time_the_highest_counters_win_in_any_order() -> None:
    snaps = history(steady(3), days=3, every=6 * HOUR)
    stale = Snapshot(snaps[-1].taken_at, snaps[-1].available, snaps[-1].assigned - 40, None)
    a = forecast([*snaps, stale], NOW)
    b = forecast([stale, *snaps], NOW)
    assert a == b == forecast(snaps, NOW)


def test_snapshots_after_now_are_ignored() -> None:
    snaps = history(steady(3), days=3)
    future = Snapshot(NOW + HOUR, 0, 10**6, None)
    assert forecast([*snaps, future], NOW) == forecast(snaps, NOW)


def test_other_time_zones_are_the_same_moments() -> None:
    cet = timezone(timedelta(hours=1))
    snaps = history(steady(3), days=3)
    moved = [
        Snapshot(s.taken_at.astimezone(cet), s.available, s.assigned, s.quantity) for s in snaps
    ]
    assert forecast(moved, NOW.astimezone(cet)).burn_per_day == forecast(snaps, NOW).burn_per_day


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="now must be a timezone-aware datetime"):
        forecast([], datetime(2026, 3, 2))
    with pytest.raises(ValueError, match=r"Snapshot\.taken_at must be a timezone-aware"):
        forecast([Snapshot(datetime(2026, 3, 1), 1, 1, 1)], NOW)


def test_unknown_available_gives_a_rate_but_no_days() -> None:
    snaps = history(steady(3), days=3)
    last = snaps[-1]
    fc = forecast([*snaps[:-1], Snapshot(last.taken_at, None, last.assigned, None)], NOW)
    assert fc.burn_per_day == pytest.approx(72)
    assert (fc.days_left, fc.empty_at) == (None, None)
    assert fc.note.endswith("; available unknown")


def test_days_left_counts_from_the_newest_snapshot() -> None:
    snaps = history(steady(1), days=3, end=NOW - DAY, stock=240)
    fc = forecast(snaps, NOW)
    assert fc.days_left == pytest.approx(7)  # 168 left at 24 a day
    assert fc.empty_at == NOW - DAY + 7 * DAY


def test_an_empty_date_beyond_the_calendar_is_none() -> None:
    snaps = [Snapshot(NOW - timedelta(days=d), 10**15, 3 - d, None) for d in (3, 2, 1, 0)]
    fc = forecast(snaps, NOW)
    assert fc.days_left == pytest.approx(10**15)
    assert fc.empty_at is None


def test_very_old_data_does_not_underflow() -> None:
    settings = ForecastSettings(window_days=3000, half_life_days=0.5)
    snaps = [
        Snapshot(NOW - timedelta(days=d), 10, 10 * (3000 - d), None) for d in (2900, 2800, 2700)
    ]
    fc = forecast(snaps, NOW, settings)
    assert fc.burn_per_day == pytest.approx(10, rel=1e-9)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window_days": 0},
        {"half_life_days": -1},
        {"min_snapshots": 1},
        {"min_span_hours": 15 * 24},
        {"window_days": math.inf},
    ],
)
def test_settings_are_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ForecastSettings(**kwargs)  # type: ignore[arg-type]


def test_known_is_whether_there_is_a_rate() -> None:
    assert Forecast(0.0, math.inf, None, 3, 1.0, "").known
    assert not Forecast(None, None, None, 0, 0.0, "").known


@pytest.mark.parametrize(
    ("func", "value", "text"),
    [
        (format_rate, 410.4, "410/day"), (format_rate, 1234.5, "1,234/day"),
        (format_rate, 12.25, "12.2/day"), (format_rate, 3.0, "3/day"), (format_rate, 0, "0/day"),
        (format_rate, 0.0417, "0.042/day"),
        (format_days, 2.31, "2.3 days"), (format_days, 1.0, "1 day"),
        (format_days, 0.4, "0.4 days"),
        (format_days, 45.0, "45 days"), (format_days, 1234.4, "1,234 days"),
        (format_days, math.inf, "never"),
        (format_span, 3 * 3600, "3 h"), (format_span, 23.5 * 3600, "23.5 h"),
        (format_span, 14 * 86400, "14 days"), (format_span, 2.5 * 86400, "2.5 days"),
    ],
)  # fmt: skip
def test_formatting(func: Callable[[float], str], value: float, text: str) -> None:
    assert func(value) == text


def test_the_module_is_pure() -> None:
    """No I/O, no clock: the only imports are maths, dataclasses, datetime types, itertools,
    its settings and the text helpers."""
    path = Path(__file__).resolve().parents[2] / "voucherbot" / "planning" / "forecast.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    assert modules <= {
        "__future__",
        "math",
        "collections.abc",
        "dataclasses",
        "datetime",
        "itertools",
        "voucherbot.config.settings",
        "voucherbot.text",
    }
    assert "now(" not in path.read_text(encoding="utf-8")
