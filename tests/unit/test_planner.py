"""The planner, table-driven: every rule key, every skip reason, rule precedence, ordering,
and the forecast keys (min_days_left, cover_days, safety_factor) with their fallbacks."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from voucherbot.config import Config, parse_config
from voucherbot.connectif.models import CouponSet, Import, Workflow
from voucherbot.planning.forecast import Snapshot
from voucherbot.planning.planner import Action, Skip, cap_by_expiry, plan

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
WORKFLOWS = [
    Workflow("wa", "Welcome series", "active"),
    Workflow("wb", "Cart reminder", "active"),
    Workflow("wd", "Draft idea", "draft"),
    Workflow("wf", "Old campaign", "finalized"),
]


def cs(
    set_id: str = "s1",
    *,
    name: str | None = None,
    type: str = "multiple",
    available: int | None = 100,
    quantity: int | None = 1000,
    workflows: tuple[str, ...] = ("wa",),
    assigned: int = 0,
) -> CouponSet:
    return CouponSet(
        id=set_id,
        name=name or f"Set {set_id}",
        type=type,
        assigned=assigned,
        available=available,
        quantity=quantity,
        used_in_workflows=workflows,
    )


def imp(
    set_id: str,
    status: str,
    minutes_ago: float,
    import_id: str = "i1",
    *,
    success: int | None = None,
    ended_seconds_ago: float | None = None,
) -> Import:
    """An import created ``minutes_ago``; a finished one brought 100 codes unless told."""
    if success is None:
        success = 100 if status == "finished" else 0
    ended = None if ended_seconds_ago is None else NOW - timedelta(seconds=ended_seconds_ago)
    return Import(
        id=import_id,
        status=status,
        coupon_set_id=set_id,
        success=success,
        created_at=NOW - timedelta(minutes=minutes_ago),
        finished_at=ended,
    )


def config(text: str = "") -> Config:
    return parse_config(text.encode())


def decide(
    coupon_set: CouponSet,
    rules: str = "",
    imports: list[Import] | None = None,
    workflows: list[Workflow] | None = None,
) -> Any:
    result = plan(
        [coupon_set],
        WORKFLOWS if workflows is None else workflows,
        config(rules),
        imports or [],
        NOW,
    )
    (decision,) = result.decisions
    return decision


CASES: list[tuple[str, CouponSet, str, list[Import], Action, Skip | None, int, str]] = [
    # id, set, rules, imports, action, skip, count, words in reason
    (
        "below-threshold",
        cs(available=100),
        "",
        [],
        Action.REFILL,
        None,
        4900,
        "available 100 < 500; 1 active workflow",
    ),
    (
        "at-threshold",
        cs(available=500),
        "",
        [],
        Action.SKIP,
        Skip.ABOVE_THRESHOLD,
        0,
        "available 500 is not below the threshold 500",
    ),
    (
        "single",
        cs(type="single", available=None, quantity=None),
        "",
        [],
        Action.SKIP,
        Skip.SINGLE,
        0,
        "single set",
    ),
    (
        "disabled-default",
        cs(),
        "[defaults]\nenabled = false",
        [],
        Action.SKIP,
        Skip.DISABLED,
        0,
        "disabled by defaults",
    ),
    (
        "disabled-rule",
        cs(name="Black Friday"),
        "[[rule]]\nname='bf'\nmatch={name='black*'}\nenabled=false",
        [],
        Action.SKIP,
        Skip.DISABLED,
        0,
        "disabled by rule 'bf'",
    ),
    (
        "no-workflow",
        cs(workflows=()),
        "",
        [],
        Action.SKIP,
        Skip.NO_ACTIVE_WORKFLOW,
        0,
        "no workflow uses it",
    ),
    (
        "only-inactive",
        cs(workflows=("wd", "wf")),
        "",
        [],
        Action.SKIP,
        Skip.NO_ACTIVE_WORKFLOW,
        0,
        "none of the 2 workflows that use it is active",
    ),
    (
        "dangling-ref",
        cs(workflows=("gone",)),
        "",
        [],
        Action.SKIP,
        Skip.NO_ACTIVE_WORKFLOW,
        0,
        "none of the 1 workflow",
    ),
    (
        "no-active-needed",
        cs(workflows=()),
        "[defaults]\nrequire_active_workflow = false",
        [],
        Action.REFILL,
        None,
        4900,
        "no active workflow required",
    ),
    (
        "two-active",
        cs(workflows=("wa", "wb", "wd")),
        "",
        [],
        Action.REFILL,
        None,
        4900,
        "2 active workflows",
    ),
    (
        "in-flight-queued",
        cs(),
        "",
        [imp("s1", "queued", 1)],
        Action.SKIP,
        Skip.IN_FLIGHT,
        0,
        "import i1 is still queued",
    ),
    (
        "in-flight-running",
        cs(),
        "",
        [imp("s1", "inProgress", 1)],
        Action.SKIP,
        Skip.IN_FLIGHT,
        0,
        "still inProgress",
    ),
    ("other-set-in-flight", cs(), "", [imp("s2", "queued", 1)], Action.REFILL, None, 4900, ""),
    ("finished-import-ok", cs(), "", [imp("s1", "finished", 1)], Action.REFILL, None, 4900, ""),
    (
        "cooldown",
        cs(),
        "[defaults]\ncooldown = '6h'",
        [imp("s1", "finished", 90)],
        Action.SKIP,
        Skip.COOLDOWN,
        0,
        "last import 90 min ago; cooldown is 6.0 h",
    ),
    (
        "cooldown-over",
        cs(),
        "[defaults]\ncooldown = '1h'",
        [imp("s1", "finished", 61)],
        Action.REFILL,
        None,
        4900,
        "",
    ),
    (
        "cooldown-uses-latest",
        cs(),
        "[defaults]\ncooldown = '1h'",
        [imp("s1", "finished", 600, "old"), imp("s1", "finished", 5, "new")],
        Action.SKIP,
        Skip.COOLDOWN,
        0,
        "last import 5 min ago; cooldown is 60 min",
    ),
    # a refill that failed starts no cooldown: the set is tried again at once
    (
        "cooldown-not-after-error",
        cs(),
        "[defaults]\ncooldown = '1h'",
        [imp("s1", "finished", 600, "old"), imp("s1", "error", 5, "new")],
        Action.REFILL,
        None,
        4900,
        "available 100 < 500",
    ),
    (
        "cooldown-not-after-cancel",
        cs(),
        "[defaults]\ncooldown = '1h'",
        [imp("s1", "cancelled", 5)],
        Action.REFILL,
        None,
        4900,
        "",
    ),
    (
        "cooldown-not-after-nothing-imported",
        cs(),
        "[defaults]\ncooldown = '1h'",
        [imp("s1", "finished", 5, success=0)],
        Action.REFILL,
        None,
        4900,
        "",
    ),
    # the counters trail an import by up to counter_lag (15 s): they may not show it yet
    (
        "counters-lag",
        cs(),
        "",
        [imp("s1", "finished", 1, ended_seconds_ago=5)],
        Action.SKIP,
        Skip.COUNTERS_LAG,
        0,
        "import i1 ended 5 s ago; Connectif's counters may not show its "
        "codes yet (they trail imports by up to counter_lag 15 s)",
    ),
    (
        "counters-lag-errored-with-rows",
        cs(),
        "",
        [imp("s1", "error", 1, success=7, ended_seconds_ago=3)],
        Action.SKIP,
        Skip.COUNTERS_LAG,
        0,
        "ended 3 s ago",
    ),
    (
        "counters-lag-no-end-time",
        cs(),
        "",
        [imp("s1", "finished", 0.1)],
        Action.SKIP,
        Skip.COUNTERS_LAG,
        0,
        "ended 6 s ago",
    ),
    (
        "counters-lag-over",
        cs(),
        "",
        [imp("s1", "finished", 1, ended_seconds_ago=16)],
        Action.REFILL,
        None,
        4900,
        "",
    ),
    (
        "counters-lag-nothing-added",
        cs(),
        "",
        [imp("s1", "error", 1, success=0, ended_seconds_ago=2)],
        Action.REFILL,
        None,
        4900,
        "",
    ),
    (
        "counters-lag-configured",
        cs(),
        "[connectif]\ncounter_lag = '1m'",
        [imp("s1", "finished", 1, ended_seconds_ago=30)],
        Action.SKIP,
        Skip.COUNTERS_LAG,
        0,
        "counter_lag 60 s",
    ),
    (
        "percent",
        cs(available=99, quantity=1000),
        "[defaults]\nmin_available_percent = 10",
        [],
        Action.REFILL,
        None,
        4901,
        "available 99 < 100",
    ),
    (
        "percent-above",
        cs(available=100, quantity=1000),
        "[defaults]\nmin_available_percent = 10",
        [],
        Action.SKIP,
        Skip.ABOVE_THRESHOLD,
        0,
        "threshold 100",
    ),
    (
        "percent-at-target",
        cs(available=4000, quantity=100000),
        "[defaults]\nmin_available_percent = 10\nrefill_to = 3000",
        [],
        Action.SKIP,
        Skip.AT_TARGET,
        0,
        "already reaches refill_to 3,000",
    ),
    (
        "max-per-run",
        cs(available=0),
        "[defaults]\nmax_per_run = 1000",
        [],
        Action.REFILL,
        None,
        1000,
        "capped at max_per_run 1,000",
    ),
    (
        "refill-to",
        cs(available=10),
        "[defaults]\nrefill_to = 700",
        [],
        Action.REFILL,
        None,
        690,
        "",
    ),
    ("null-available", cs(available=None), "", [], Action.REFILL, None, 5000, "available 0 < 500"),
    (
        "rule-by-id",
        cs("target"),
        "[[rule]]\nmatch={id='target'}\nmin_available=50\nrefill_to=60",
        [],
        Action.SKIP,
        Skip.ABOVE_THRESHOLD,
        0,
        "threshold 50",
    ),
    (
        "first-rule-wins",
        cs(name="WELCOME-10"),
        "[[rule]]\nmatch={name='WEL*'}\nmin_available=150\nrefill_to=300\n"
        "[[rule]]\nmatch={name='*'}\nenabled=false",
        [],
        Action.REFILL,
        None,
        200,
        "< 150",
    ),
    (
        "unmatched-rule-uses-defaults",
        cs(name="Other"),
        "[[rule]]\nmatch={name='WEL*'}\nenabled=false",
        [],
        Action.REFILL,
        None,
        4900,
        "",
    ),
]


@pytest.mark.parametrize(
    ("set_", "rules", "imports", "action", "skip", "count", "words"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_decisions(
    set_: CouponSet,
    rules: str,
    imports: list[Import],
    action: Action,
    skip: Skip | None,
    count: int,
    words: str,
) -> None:
    d = decide(set_, rules, imports)
    assert (d.action, d.skip, d.count) == (action, skip, count), d.reason
    assert words in d.reason


def test_rule_label_and_settings_are_reported() -> None:
    d = decide(
        cs(name="WELCOME-10"),
        "[[rule]]\nname='welcome'\nmatch={name='WEL*'}\nmin_available=150\nrefill_to=300",
    )
    assert d.rule_label == "rule 'welcome'" and d.threshold == 150
    assert d.settings.refill_to == 300
    assert [w.name for w in d.active_workflows] == ["Welcome series"]
    assert decide(cs()).rule_label == "defaults"


def test_custom_active_statuses() -> None:
    rules = "[connectif]\nactive_workflow_statuses = ['draft']"
    assert decide(cs(workflows=("wd",)), rules).action is Action.REFILL
    assert decide(cs(workflows=("wa",)), rules).skip is Skip.NO_ACTIVE_WORKFLOW


def test_unknown_statuses_and_dangling_refs_are_warnings_not_errors() -> None:
    workflows = [*WORKFLOWS, Workflow("wx", "Mystery", "archived"), Workflow("wn", "No status")]
    result = plan([cs(workflows=("wx", "wn", "ghost"))], workflows, config(), [], NOW)
    assert result.decisions[0].skip is Skip.NO_ACTIVE_WORKFLOW
    text = "\n".join(result.warnings)
    assert "workflow 'Mystery' (wx) has unknown status 'archived'" in text
    assert "workflow 'No status' (wn) has unknown status '(none)'" in text
    assert "references unknown workflow(s) ghost" in text


def test_refills_come_first_most_urgent_first_and_order_is_deterministic() -> None:
    sets = [
        cs("full", available=5000),
        cs("half", available=250),
        cs("single", type="single", available=None, quantity=None),
        cs("empty", available=0),
        cs("tenth", available=50),
        cs("b-tie", name="B", available=50),
        cs("a-tie", name="A", available=50),
    ]
    first = plan(sets, WORKFLOWS, config(), [], NOW)
    again = plan(list(reversed(sets)), list(reversed(WORKFLOWS)), config(), [], NOW)
    assert first == again
    order = [d.coupon_set.id for d in first.decisions]
    assert order[:5] == ["empty", "a-tie", "b-tie", "tenth", "half"]
    assert set(order[5:]) == {"full", "single"}
    assert [d.is_refill for d in first.decisions] == [True] * 5 + [False] * 2
    assert first.total_codes == 5000 + 4950 * 3 + 4750


def test_plan_reads_nothing_but_its_arguments() -> None:
    """Same input, same output, whatever the wall clock says: now is an argument."""
    rules = "[defaults]\ncooldown = '1h'"
    imports = [imp("s1", "finished", 30)]
    early = plan([cs()], WORKFLOWS, config(rules), imports, NOW)
    later = plan([cs()], WORKFLOWS, config(rules), imports, NOW + timedelta(hours=1))
    assert early.decisions[0].skip is Skip.COOLDOWN
    assert later.decisions[0].is_refill


@pytest.mark.parametrize("rules", ["", "[defaults]\nenabled = false"], ids=["on", "disabled"])
def test_a_set_held_by_an_unresolved_batch_is_skipped_and_warned_about(rules: str) -> None:
    why = "batch 3 is unresolved: two imports could be its own"
    result = plan(
        [cs(available=0), cs("s2", available=0)],
        WORKFLOWS,
        config(rules),
        [],
        NOW,
        held={"s1": why},
    )
    by_id = {d.coupon_set.id: d for d in result.decisions}
    assert (by_id["s1"].skip, by_id["s1"].reason) == (Skip.UNRESOLVED, why)
    assert by_id["s2"].skip is (Skip.DISABLED if rules else None)
    assert result.warnings == (f"coupon set 'Set s1' (s1) is held: {why}",)


def test_weak_code_shapes_are_warned_about() -> None:
    rules = "[defaults.code]\nlength = 5\n[security]\nguess_rate = 10\nmin_guess_time = '30d'"
    result = plan([cs(available=0)], WORKFLOWS, config(rules), [], NOW)
    (warning,) = result.warnings
    assert warning.startswith("coupon set 'Set s1' (s1), defaults: codes are too easy to guess")
    assert "at 10 guesses a second" in warning and "5,000 live codes" in warning
    assert plan([cs(available=0)], WORKFLOWS, config(), [], NOW).warnings == ()


# --- forecasts: min_days_left, cover_days, safety_factor ---------------------------------------

ASSIGNED = 100_000


def fcs(set_id: str = "s1", available: int = 2000, **kwargs: Any) -> CouponSet:
    """A set whose counters continue the histories below (assigned 100,000 now)."""
    return cs(set_id, available=available, quantity=None, assigned=ASSIGNED, **kwargs)


def daily(per_day: float, available: int, days: int = 10) -> list[Snapshot]:
    """One snapshot a day for ``days`` days before NOW, at a steady ``per_day``; the set's
    current counters (``available`` now, ASSIGNED) are the planner's newest snapshot."""
    return [
        Snapshot(
            NOW - timedelta(days=d),
            available + round(per_day * d),
            ASSIGNED - round(per_day * d),
            None,
        )
        for d in range(days, 0, -1)
    ]


SHORT = [Snapshot(NOW - timedelta(hours=2), 2100, ASSIGNED - 10, None)]
DAYS7 = "[defaults]\nmin_days_left = 7\n"
COVER = "[defaults]\ncover_days = 30\n"
BOTH = "[defaults]\nmin_days_left = 7\ncover_days = 30\n"

FORECAST_CASES: list[
    tuple[str, CouponSet, str, list[Snapshot] | None, Action, Skip | None, int, str]
] = [
    # id, set, rules, history (None: plan without history), action, skip, count, reason
    (
        "days-trigger",
        fcs(available=2000),
        DAYS7,
        daily(410, 2000),
        Action.REFILL,
        None,
        3000,
        "empties in 4.9 days < min_days_left 7; burn 410/day; 1 active workflow",
    ),
    (
        "days-not-within",
        fcs(available=4000),
        DAYS7,
        daily(410, 4000),
        Action.SKIP,
        Skip.ABOVE_THRESHOLD,
        0,
        "available 4,000 is not below the threshold 500; empties in "
        "9.8 days, not within min_days_left 7; burn 410/day",
    ),
    (
        "days-trigger-but-at-refill-to",
        fcs(available=6000),
        DAYS7,
        daily(1000, 6000),
        Action.SKIP,
        Skip.AT_TARGET,
        0,
        "available 6,000 already reaches refill_to 5,000",
    ),
    (
        "no-demand",
        fcs(available=2000),
        DAYS7,
        daily(0, 2000),
        Action.SKIP,
        Skip.ABOVE_THRESHOLD,
        0,
        "available 2,000 is not below the threshold 500; no demand, "
        "not within min_days_left 7; burn 0/day",
    ),
    (
        "cover",
        fcs(available=2000),
        BOTH,
        daily(410, 2000),
        Action.REFILL,
        None,
        12760,
        "empties in 4.9 days < min_days_left 7; burn 410/day; 1 active workflow; "
        "to 14,760 = 30 days × 410/day × 1.2",
    ),
    (
        "cover-safety-1.5",
        fcs(available=2000),
        BOTH + "safety_factor = 1.5",
        daily(410, 2000),
        Action.REFILL,
        None,
        16450,
        "to 18,450 = 30 days × 410/day × 1.5",
    ),
    (
        "cover-safety-1",
        fcs(available=2000),
        BOTH + "safety_factor = 1",
        daily(410, 2000),
        Action.REFILL,
        None,
        10300,
        "to 12,300 = 30 days × 410/day × 1",
    ),
    (
        "cover-below-threshold",
        fcs(available=100),
        COVER,
        daily(410, 100),
        Action.REFILL,
        None,
        14660,
        "available 100 < 500; 1 active workflow; to 14,760 = 30 days × 410/day × 1.2",
    ),
    (
        "cover-floor-is-the-threshold",
        fcs(available=100),
        COVER,
        daily(1, 100),
        Action.REFILL,
        None,
        400,
        "to 500, the threshold (30 days × 1/day × 1.2 is less)",
    ),
    (
        "cover-capped",
        fcs(available=0),
        COVER,
        daily(5000, 0),
        Action.REFILL,
        None,
        50000,
        "to 180,000 = 30 days × 5,000/day × 1.2; capped at max_per_run 50,000",
    ),
    (
        "cover-wins-over-refill-to",
        fcs(available=100),
        COVER + "refill_to = 900",
        daily(10, 100),
        Action.REFILL,
        None,
        400,
        "to 500, the threshold",
    ),
    (
        "cover-only-above-threshold",
        fcs(available=2000),
        COVER,
        daily(410, 2000),
        Action.SKIP,
        Skip.ABOVE_THRESHOLD,
        0,
        "available 2,000 is not below the threshold 500",
    ),
    (
        "fallback-no-history",
        fcs(available=100),
        BOTH,
        None,
        Action.REFILL,
        None,
        4900,
        "available 100 < 500; 1 active workflow; forecast unknown: no history; using "
        "min_available and refill_to",
    ),
    (
        "fallback-short-history",
        fcs(available=100),
        BOTH,
        SHORT,
        Action.REFILL,
        None,
        4900,
        "forecast unknown: not enough history (2 snapshots over 2 h; need 3 over 24 h); using "
        "min_available and refill_to",
    ),
    (
        "fallback-no-snapshots-at-all",
        fcs(available=100),
        COVER,
        [],
        Action.REFILL,
        None,
        4900,
        "forecast unknown: not enough history (1 snapshot; need 3 over 24 h); using refill_to",
    ),
    (
        "fallback-above-threshold",
        fcs(available=2000),
        DAYS7,
        SHORT,
        Action.SKIP,
        Skip.ABOVE_THRESHOLD,
        0,
        "available 2,000 is not below the threshold 500; forecast "
        "unknown: not enough history (2 snapshots over 2 h; need 3 over 24 h); using min_available",
    ),
    (
        "fallback-percent",
        fcs(
            available=2000,
        ),
        DAYS7 + "min_available_percent = 1",
        None,
        Action.SKIP,
        Skip.ABOVE_THRESHOLD,
        0,
        "using min_available_percent",
    ),
    (
        "forecast-informs-only",
        fcs(available=100),
        "",
        daily(410, 100),
        Action.REFILL,
        None,
        4900,
        "available 100 < 500; 1 active workflow",
    ),
    (
        "rule-turns-it-off",
        fcs(available=2000, name="Quiet"),
        DAYS7 + "[[rule]]\nmatch={name='Q*'}\nmin_days_left=false",
        daily(410, 2000),
        Action.SKIP,
        Skip.ABOVE_THRESHOLD,
        0,
        "available 2,000 is not below the threshold 500",
    ),
    (
        "rule-inherits-it",
        fcs(available=2000, name="Hot"),
        BOTH + "[[rule]]\nmatch={name='H*'}\nsafety_factor=2",
        daily(410, 2000),
        Action.REFILL,
        None,
        22600,
        "to 24,600 = 30 days × 410/day × 2",
    ),
]


@pytest.mark.parametrize(
    ("set_", "rules", "history", "action", "skip", "count", "words"),
    [c[1:] for c in FORECAST_CASES],
    ids=[c[0] for c in FORECAST_CASES],
)
def test_forecast_decisions(
    set_: CouponSet,
    rules: str,
    history: list[Snapshot] | None,
    action: Action,
    skip: Skip | None,
    count: int,
    words: str,
) -> None:
    hist = None if history is None else {set_.id: history}
    (d,) = plan([set_], WORKFLOWS, config(rules), [], NOW, history=hist).decisions
    assert (d.action, d.skip, d.count) == (action, skip, count), d.reason
    assert words in d.reason
    if words.endswith("1 active workflow") or words.endswith("not below the threshold 500"):
        assert d.reason.endswith(words)  # nothing more said
    if history is None:
        assert d.forecast is None
    else:
        assert d.forecast is not None


def test_cooldown_and_in_flight_apply_to_forecast_refills() -> None:
    rules = DAYS7 + "cooldown = '6h'"
    hist = {"s1": daily(410, 2000)}
    cool = plan([fcs()], WORKFLOWS, config(rules), [imp("s1", "finished", 60)], NOW, history=hist)
    assert cool.decisions[0].skip is Skip.COOLDOWN
    busy = plan([fcs()], WORKFLOWS, config(rules), [imp("s1", "queued", 1)], NOW, history=hist)
    assert busy.decisions[0].skip is Skip.IN_FLIGHT


def test_decisions_carry_the_forecast_and_target() -> None:
    sets = [
        fcs("hot", available=2000),
        fcs("new", available=300),
        cs("one", type="single", available=None, quantity=None),
    ]
    history = {"hot": daily(410, 2000)}
    result = plan(sets, WORKFLOWS, config(BOTH), [], NOW, history=history)
    by_id = {d.coupon_set.id: d for d in result.decisions}
    hot = by_id["hot"].forecast
    assert hot is not None and hot.known
    assert hot.burn_per_day == pytest.approx(410)
    assert hot.days_left == pytest.approx(2000 / 410)
    assert hot.empty_at == NOW + timedelta(days=2000 / 410)  # counted from now
    assert hot.samples == 10 and hot.span_days == pytest.approx(10)
    assert by_id["hot"].target == 14760
    new = by_id["new"].forecast
    assert new is not None and not new.known  # only its current counters
    assert by_id["new"].target == 5000  # refill_to while the forecast is unknown
    assert by_id["one"].forecast is None and by_id["one"].target is None
    without = plan(sets, WORKFLOWS, config(BOTH), [], NOW)
    assert all(d.forecast is None for d in without.decisions)


def test_urgency_accounts_for_days_left() -> None:
    """Lowest trigger ratio first: available/threshold or days_left/min_days_left."""
    sets = [
        fcs("slow-low", available=100),  # 100/500 = 0.2; 100 days left
        fcs("hot", available=1500),  # 1500/500 = 3; 1.5 days / 7 = 0.21
        fcs("hotter", available=700),  # 700/500 = 1.4; 0.7 days / 7 = 0.1
        fcs("cold-empty", available=0),  # 0
        fcs("warm", available=2000),  # 4 days / 7 = 0.57
        fcs("unknown", available=300),  # 300/500 = 0.6, no history
    ]
    history = {
        "slow-low": daily(1, 100),
        "hot": daily(1000, 1500),
        "hotter": daily(1000, 700),
        "cold-empty": daily(2, 0),
        "warm": daily(500, 2000),
    }
    result = plan(sets, WORKFLOWS, config(DAYS7), [], NOW, history=history)
    assert [d.coupon_set.id for d in result.decisions] == [
        "cold-empty",
        "hotter",
        "slow-low",
        "hot",
        "warm",
        "unknown",
    ]
    assert all(d.is_refill for d in result.decisions)
    hot = next(d for d in result.decisions if d.coupon_set.id == "hot")
    assert hot.urgency == pytest.approx(1.5 / 7)


def test_ties_in_urgency_go_to_the_set_that_empties_first() -> None:
    sets = [
        fcs("a", available=250, name="A"),
        fcs("b", available=250, name="B"),
        fcs("c", available=250, name="C"),
    ]
    history = {"a": daily(10, 250), "b": daily(1000, 250)}  # 25 days, 0.25 days, unknown
    result = plan(sets, WORKFLOWS, config(), [], NOW, history=history)
    assert {d.urgency for d in result.decisions} == {0.5}
    assert [d.coupon_set.id for d in result.decisions] == ["b", "a", "c"]


def test_plans_with_history_are_deterministic() -> None:
    sets = [fcs(f"s{i}", available=300 * i) for i in range(1, 8)]
    history: dict[str, list[Snapshot]] = {
        s.id: daily(50 * i, s.available or 0) for i, s in enumerate(sets, 1)
    }
    first = plan(sets, WORKFLOWS, config(BOTH), [], NOW, history=history)
    rng = random.Random(1)
    shuffled: Mapping[str, Sequence[Snapshot]] = {
        k: rng.sample(v, len(v)) for k, v in reversed(history.items())
    }
    again = plan(list(reversed(sets)), WORKFLOWS, config(BOTH), [], NOW, history=shuffled)
    assert first == again


def test_history_ignores_snapshots_after_now() -> None:
    future = [*daily(410, 2000), Snapshot(NOW + timedelta(hours=1), 0, ASSIGNED + 9999, None)]
    (d,) = plan([fcs()], WORKFLOWS, config(DAYS7), [], NOW, history={"s1": future}).decisions
    assert d.forecast is not None and d.forecast.burn_per_day == pytest.approx(410)


def test_forecast_settings_come_from_the_rules() -> None:
    rules = BOTH + "[forecast]\nmin_snapshots = 20\n"
    (d,) = plan(
        [fcs()], WORKFLOWS, config(rules), [], NOW, history={"s1": daily(410, 2000)}
    ).decisions
    assert d.forecast is not None and not d.forecast.known
    assert d.skip is Skip.ABOVE_THRESHOLD and d.reason.endswith(
        "forecast unknown: not enough history (11 snapshots over 10 days; need 20 over 24 h); "
        "using min_available"
    )  # refill_to is not mentioned: nothing to size
    assert d.urgency == 4  # 2,000 / 500: days left do not count while unknown
    assert math.isfinite(d.urgency)


# --- the shop's end date -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ends_in", "action", "skip", "count", "words"),
    [
        # 410/day for 10 days is 4,100: 2,100 more than the 2,000 available
        (timedelta(days=10), Action.REFILL, None, 2100, "capped at 2,100: the forecast demand"),
        (timedelta(days=40), Action.REFILL, None, 12760, "to 14,760 = 30 days"),  # not capped
        (timedelta(days=3), Action.SKIP, Skip.UNTIL_EXPIRY, 0, "available 2,000 covers"),
        (-timedelta(minutes=1), Action.SKIP, Skip.SHOP_EXPIRED, 0, "stopped redeeming on"),
    ],
)
def test_refills_are_capped_by_the_demand_until_the_shops_end_date(
    ends_in: timedelta, action: Action, skip: Skip | None, count: int, words: str
) -> None:
    history = {"s1": daily(410, 2000)}
    the_plan = plan([fcs(), fcs("s2")], WORKFLOWS, config(BOTH), [], NOW, history=history)
    capped = cap_by_expiry(the_plan, {"s1": NOW + ends_in})
    by_id = {d.coupon_set.id: d for d in capped.decisions}
    d = by_id["s1"]
    assert (d.action, d.skip, d.count) == (action, skip, count), d.reason
    assert words in d.reason
    assert by_id["s2"] == {x.coupon_set.id: x for x in the_plan.decisions}["s2"]  # no end date
    assert [x.is_refill for x in capped.decisions] == sorted(
        (x.is_refill for x in capped.decisions), reverse=True
    )  # refills still come first


def test_without_a_forecast_the_end_date_is_named_but_does_not_cap() -> None:
    the_plan = plan([cs(available=10)], WORKFLOWS, config(), [], NOW)
    (d,) = cap_by_expiry(the_plan, {"s1": NOW + timedelta(days=1)}).decisions
    assert d.is_refill and d.count == the_plan.decisions[0].count
    assert "the shop's codes end 2026-11-28 03:00 UTC (forecast unknown: not capped" in d.reason
