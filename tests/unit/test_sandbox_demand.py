"""Simulated demand and the sandbox clock (voucherbot.sandbox.demand).

Demand moves only when the clock is advanced, so these tests run in-process against the state
(and the WSGI app for the HTTP endpoints) without waiting.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from werkzeug.test import Client

from voucherbot.sandbox import SandboxConfig, SandboxState, make_app
from voucherbot.sandbox.data import CouponSetRecord, iso
from voucherbot.sandbox.demand import CALM_FACTOR, DAY, WEEKEND_FACTOR, segments

WEEK = 7 * DAY


def state_of(**config: Any) -> SandboxState:
    return SandboxState(SandboxConfig(**config))


def counters(state: SandboxState) -> dict[str, tuple[int | None, int, int | None]]:
    return {cs.id: (cs.available, cs.assigned, cs.quantity) for cs in state.coupon_sets()}


def uses_active(state: SandboxState, cs: CouponSetRecord) -> bool:
    return any(state.get_workflow(w).status == "active" for w in cs.workflow_ids)


def consuming_set(state: SandboxState, *, per_day: float, available: int = 1_000_000) -> str:
    """A multiple set used by an active workflow, with the given rate and a deep stock."""
    set_id = next(
        cs.id for cs in state.coupon_sets() if cs.type == "multiple" and uses_active(state, cs)
    )
    state.set_demand_rate(set_id, per_day)
    state.set_available(set_id, available)
    return set_id


def consumed(state: SandboxState, set_id: str, seconds: float) -> int:
    before = state.get_set(set_id)
    state.advance(seconds)
    after = state.get_set(set_id)
    assert after.quantity == before.quantity
    assert after.assigned - before.assigned == (before.available or 0) - (after.available or 0)
    return after.assigned - before.assigned


# --- rates ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(1, 11))
def test_seeded_rates_have_hot_moderate_and_idle_sets(seed: int) -> None:
    state = state_of(seed=seed)
    rates = state.demand_rates()
    sets = state.coupon_sets()
    busy = sorted(
        (rates[cs.id] for cs in sets if cs.type == "multiple" and uses_active(state, cs)),
        reverse=True,
    )
    assert 1000 <= busy[0] <= 3000 and 300 <= busy[1] < 1000
    assert busy.count(0.0) == 1
    assert all(10 <= rate <= 150 for rate in busy[2:-1])
    for cs in sets:
        assert state.demand_rate(cs.id) == rates[cs.id]
        if not uses_active(state, cs):
            assert rates[cs.id] == 0.0 and not state.consuming(cs.id)
        elif cs.type == "single":
            assert 5 <= rates[cs.id] <= 50
    assert sum(state.consuming(cs.id) for cs in sets) >= 5


def test_rates_are_deterministic_by_seed_and_the_data_does_not_change() -> None:
    one, again, other = state_of(seed=8), state_of(seed=8), state_of(seed=9)
    assert one.demand_rates() == again.demand_rates()
    assert sorted(one.demand_rates().values()) != sorted(other.demand_rates().values())
    quiet = state_of(seed=8, demand=False)
    assert [cs.to_json() for cs in quiet.coupon_sets()] == [
        cs.to_json() for cs in one.coupon_sets()
    ]
    assert set(quiet.demand_rates().values()) == {0.0}


@pytest.mark.parametrize("pattern", ["steady", "weekly", "bursty"])
def test_same_seed_same_advances_same_counters(pattern: str) -> None:
    one, two = state_of(seed=3, demand_pattern=pattern), state_of(seed=3, demand_pattern=pattern)
    one.advance(WEEK)
    for _ in range(7 * 4):
        two.advance(DAY / 4)
    assert counters(one) == counters(two)
    assert counters(one) != counters(state_of(seed=3))


def test_set_demand_rate_validates() -> None:
    state = state_of()
    set_id = state.coupon_sets()[0].id
    for bad in (-1, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match="demand rate"):
            state.set_demand_rate(set_id, bad)
    with pytest.raises(KeyError):
        state.set_demand_rate("nope", 5)
    with pytest.raises(KeyError):
        state.demand_rate("nope")
    with pytest.raises(ValueError, match="demand_pattern"):
        SandboxConfig(demand_pattern="lunar")
    with pytest.raises(ValueError, match="finite"):
        state.advance(float("inf"))


# --- exact counting -----------------------------------------------------------------------


def test_a_day_and_a_week_hand_out_exactly_rate_times_time() -> None:
    state = state_of()
    set_id = consuming_set(state, per_day=1000)
    assert consumed(state, set_id, DAY) == 1000
    assert consumed(state, set_id, WEEK) == 7000
    state.set_demand_rate(set_id, 2453)
    assert consumed(state, set_id, DAY) == 2453


def test_remainders_are_carried_so_totals_stay_exact() -> None:
    state = state_of()
    set_id = consuming_set(state, per_day=100)
    hourly = [consumed(state, set_id, 3600) for _ in range(24)]
    assert set(hourly) == {4, 5} and sum(hourly) == 100
    state.set_demand_rate(set_id, 37)
    assert sum(consumed(state, set_id, DAY / 10) for _ in range(10)) == 37
    state.set_demand_rate(set_id, 0.7)  # read as 7/10, not as the float just below it
    assert sum(consumed(state, set_id, DAY) for _ in range(10)) == 7
    state.set_demand_rate(set_id, 1440)  # one a minute: 30 s steps alternate 0 and 1
    assert [consumed(state, set_id, 30) for _ in range(4)] == [0, 1, 0, 1]


def test_stock_never_goes_below_zero_and_lost_demand_is_not_owed() -> None:
    state = state_of()
    set_id = consuming_set(state, per_day=1000, available=5)
    assert consumed(state, set_id, DAY) == 5
    emptied = state.get_set(set_id)
    assert emptied.available == 0
    assert consumed(state, set_id, DAY) == 0
    assert state.get_set(set_id).updated_at == emptied.updated_at
    state.set_available(set_id, 10_000)
    assert consumed(state, set_id, DAY) == 1000  # nothing owed from the empty day


def test_idle_inactive_and_unused_sets_do_not_change() -> None:
    state = state_of(seed=2)
    sets = state.coupon_sets()
    idle = [cs.id for cs in sets if uses_active(state, cs) and state.demand_rate(cs.id) == 0]
    inactive = next(cs for cs in sets if cs.workflow_ids and not uses_active(state, cs))
    unused = next(cs for cs in sets if not cs.workflow_ids)
    for cs in (inactive, unused):
        state.set_demand_rate(cs.id, 5000)
        assert not state.consuming(cs.id)
    quiet = [*idle, inactive.id, unused.id]
    before = {cs.id: cs.to_json() for cs in state.coupon_sets()}
    state.advance(WEEK)
    after = {cs.id: cs.to_json() for cs in state.coupon_sets()}
    assert idle and all(after[i] == before[i] for i in quiet)
    assert any(after[i] != before[i] for i in after if i not in quiet)

    state.set_workflow_status(inactive.workflow_ids[0], "active")  # the workflow starts
    assert state.consuming(inactive.id)
    assert consumed(state, inactive.id, DAY / 5) == min(1000, inactive.available or 0)
    with pytest.raises(ValueError, match="status"):
        state.set_workflow_status(inactive.workflow_ids[0], "running")


def test_single_sets_consume_their_uses() -> None:
    seed, state = next(
        (seed, state)
        for seed in range(1, 60)
        for state in [state_of(seed=seed)]
        if any(cs.type == "single" and cs.workflow_ids for cs in state.coupon_sets())
    )
    for cs in state.coupon_sets():
        if cs.type == "single" and cs.workflow_ids:
            state.set_workflow_status(cs.workflow_ids[0], "active")
            state.set_demand_rate(cs.id, 96)
            before = state.get_set(cs.id)
            state.advance(DAY / 2)
            after = state.get_set(cs.id)
            assert after.assigned - before.assigned == min(48, before.available or 48), seed
            if before.available is None:
                assert after.available is None and after.quantity is None
            else:
                assert after.available == before.available - (after.assigned - before.assigned)


# --- patterns -----------------------------------------------------------------------------


def test_weekly_pattern_slows_down_at_the_weekend() -> None:
    state = state_of(demand_pattern="weekly")
    set_id = consuming_set(state, per_day=0)  # no rate while aligning: nothing carried
    now = datetime.fromtimestamp(state.now(), UTC)
    saturday = (now + timedelta(days=(5 - now.weekday()) % 7 or 7)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    state.advance(max(0.0, saturday.timestamp() - state.now()))
    assert datetime.fromtimestamp(state.now(), UTC).weekday() == 5
    state.set_demand_rate(set_id, 1000)
    assert [consumed(state, set_id, DAY) for _ in range(3)] == [400, 400, 1000]
    assert consumed(state, set_id, WEEK) == 5800


def test_weekly_segments_follow_the_utc_calendar() -> None:
    friday_noon = Fraction(int(datetime(2026, 1, 2, 12, tzinfo=UTC).timestamp()))
    segs = segments("weekly", friday_noon, friday_noon + 3 * DAY)
    assert [(s - friday_noon, e - friday_noon, f) for s, e, f in segs] == [
        (0, DAY / 2, 1),
        (DAY / 2, DAY * 5 / 2, WEEKEND_FACTOR),
        (DAY * 5 / 2, 3 * DAY, 1),
    ]


def test_bursty_pattern_has_bursts_but_keeps_the_mean() -> None:
    state = state_of(demand_pattern="bursty", seed=5)
    set_id = consuming_set(state, per_day=2400)
    hours = [consumed(state, set_id, 3600) for _ in range(24 * 10)]
    assert set(hours) >= {100 * 18 // 23, 600}  # calm hours and burst hours
    assert 0.8 < sum(hours) / 24_000 < 1.2
    segs = segments("bursty", Fraction(0), Fraction(30 * DAY), key=12345)
    assert {f for _, _, f in segs} == {CALM_FACTOR, 6}
    assert sum((e - s) * f for s, e, f in segs) != 30 * DAY  # a mean, not a constant


@pytest.mark.parametrize("pattern", ["steady", "weekly", "bursty"])
def test_advancing_thirty_days_is_instant(pattern: str) -> None:
    state = state_of(demand_pattern=pattern)
    before = counters(state)
    started = time.perf_counter()
    state.advance(30 * DAY)
    assert time.perf_counter() - started < 0.5
    assert counters(state) != before


# --- the clock, timestamps and imports -------------------------------------------------------


def test_updated_at_moves_with_the_counters() -> None:
    state = state_of()
    set_id = consuming_set(state, per_day=1440)  # one code a minute
    start = state.now()
    state.advance(3600)
    moved = state.get_set(set_id)
    assert start + 3599 < moved.updated_at <= state.now()
    state.set_demand_rate(set_id, 24)  # one an hour: the last code left near 8 h, not at 8.5 h
    state.advance(8.5 * 3600)
    assert state.get_set(set_id).updated_at <= start + 9 * 3600 + 1


def test_real_time_passing_hands_out_nothing() -> None:
    state = state_of()
    consuming_set(state, per_day=86_400 * 100)  # a hundred codes a second, if time counted
    before = counters(state)
    time.sleep(0.1)
    state.settle()
    assert counters(state) == before


def test_an_import_raises_available_then_demand_lowers_it() -> None:
    state = state_of()
    set_id = consuming_set(state, per_day=24, available=0)
    before = state.get_set(set_id)
    imp = state.create_import(set_id, [f"D{n}" for n in range(50)])
    state.advance(DAY)
    assert state.get_import(imp.id).status == "finished"
    after = state.get_set(set_id)
    assert after.available == 50 - 24
    assert after.assigned == before.assigned + 24
    assert after.quantity == (before.quantity or 0) + 50


def test_imports_and_demand_are_interleaved_in_time_order() -> None:
    state = state_of(import_queue_delay=DAY / 2)  # the import lands half-way through the day
    set_id = consuming_set(state, per_day=24, available=0)
    imp = state.create_import(set_id, [f"H{n}" for n in range(50)])
    before = state.get_set(set_id)
    state.advance(DAY)
    done = state.get_import(imp.id)
    assert done.status == "finished" and done.finished_at is not None
    after = state.get_set(set_id)
    assert after.assigned - before.assigned == 12  # the empty first half-day is lost
    assert after.available == 38 and after.updated_at > done.finished_at


def test_timestamps_come_from_the_sandbox_clock() -> None:
    state = state_of()
    client = Client(make_app(state))
    auth = {"Authorization": f"apiKey {state.api_key}"}
    set_id = consuming_set(state, per_day=1000)
    response = client.post("/_sandbox/clock/advance", json={"seconds": 3 * DAY}, headers=auth)
    now = response.json["now"]
    cs = client.get(f"/coupon-sets/{set_id}", headers=auth).json
    assert cs["updatedAt"] <= now and cs["updatedAt"] > iso(state.now() - 120)
    imp = state.create_import(set_id, ["T1"])
    assert iso(imp.created_at) >= now


# --- the HTTP endpoints -----------------------------------------------------------------------


def test_demand_endpoints() -> None:
    state = state_of(demand_pattern="weekly")
    client = Client(make_app(state))
    auth = {"Authorization": f"apiKey {state.api_key}"}
    assert client.get("/_sandbox/demand").status_code == 401
    doc = client.get("/_sandbox/demand", headers=auth).json
    assert (doc["seeded"], doc["pattern"]) == (True, "weekly")
    assert [s["couponSetId"] for s in doc["sets"]] == [cs.id for cs in state.coupon_sets()]
    for entry in doc["sets"]:
        assert set(entry) == {"couponSetId", "name", "type", "perDay", "consuming"}
        assert entry["perDay"] == state.demand_rate(entry["couponSetId"])
        assert entry["consuming"] == state.consuming(entry["couponSetId"])
    set_id = consuming_set(state, per_day=0)
    response = client.post(
        "/_sandbox/demand", json={"couponSetId": set_id, "perDay": 250}, headers=auth
    )
    assert response.status_code == 200
    assert response.json["perDay"] == 250 and response.json["consuming"] is True
    assert state.demand_rate(set_id) == 250
    for bad, path in [
        ({"couponSetId": "nope", "perDay": 1}, "couponSetId"),
        ({"couponSetId": set_id, "perDay": -1}, "perDay"),
        ({"couponSetId": set_id, "perDay": "5"}, "perDay"),
        ({"couponSetId": set_id}, "perDay"),
        ({"couponSetId": set_id, "perDay": 1, "extra": 1}, "extra"),
        ([], "body"),
    ]:
        response = client.post("/_sandbox/demand", json=bad, headers=auth)
        assert response.status_code == 422
        assert path in [e["path"] for e in response.json["validationErrors"]]
    assert state.demand_rate(set_id) == 250
