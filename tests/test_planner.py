"""The planner, table-driven: every rule key, every skip reason, rule precedence, ordering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from voucherbot.config import Config, parse_config
from voucherbot.models import CouponSet, Import, Workflow
from voucherbot.planner import Action, Skip, plan

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
WORKFLOWS = [
    Workflow("wa", "Welcome series", "active"),
    Workflow("wb", "Cart reminder", "active"),
    Workflow("wd", "Draft idea", "draft"),
    Workflow("wf", "Old campaign", "finalized"),
]


def cs(set_id: str = "s1", *, name: str | None = None, type: str = "multiple",
       available: int | None = 100, quantity: int | None = 1000,
       workflows: tuple[str, ...] = ("wa",)) -> CouponSet:
    return CouponSet(id=set_id, name=name or f"Set {set_id}", type=type, assigned=0,
                     available=available, quantity=quantity, used_in_workflows=workflows)


def imp(set_id: str, status: str, minutes_ago: float, import_id: str = "i1") -> Import:
    return Import(id=import_id, status=status, coupon_set_id=set_id,
                  created_at=NOW - timedelta(minutes=minutes_ago))


def config(text: str = "") -> Config:
    return parse_config(text.encode())


def decide(coupon_set: CouponSet, rules: str = "", imports: list[Import] | None = None,
           workflows: list[Workflow] | None = None) -> Any:
    result = plan([coupon_set], WORKFLOWS if workflows is None else workflows, config(rules),
                  imports or [], NOW)
    (decision,) = result.decisions
    return decision


CASES: list[tuple[str, CouponSet, str, list[Import], Action, Skip | None, int, str]] = [
    # id, set, rules, imports, action, skip, count, words in reason
    ("below-threshold", cs(available=100), "", [], Action.REFILL, None, 4900,
     "available 100 < 500; 1 active workflow"),
    ("at-threshold", cs(available=500), "", [], Action.SKIP, Skip.ABOVE_THRESHOLD, 0,
     "available 500 is not below the threshold 500"),
    ("single", cs(type="single", available=None, quantity=None), "", [], Action.SKIP,
     Skip.SINGLE, 0, "single set"),
    ("disabled-default", cs(), "[defaults]\nenabled = false", [], Action.SKIP, Skip.DISABLED, 0,
     "disabled by defaults"),
    ("disabled-rule", cs(name="Black Friday"),
     "[[rule]]\nname='bf'\nmatch={name='black*'}\nenabled=false", [], Action.SKIP,
     Skip.DISABLED, 0, "disabled by rule 'bf'"),
    ("no-workflow", cs(workflows=()), "", [], Action.SKIP, Skip.NO_ACTIVE_WORKFLOW, 0,
     "no workflow uses it"),
    ("only-inactive", cs(workflows=("wd", "wf")), "", [], Action.SKIP, Skip.NO_ACTIVE_WORKFLOW,
     0, "none of the 2 workflows that use it is active"),
    ("dangling-ref", cs(workflows=("gone",)), "", [], Action.SKIP, Skip.NO_ACTIVE_WORKFLOW, 0,
     "none of the 1 workflow"),
    ("no-active-needed", cs(workflows=()), "[defaults]\nrequire_active_workflow = false", [],
     Action.REFILL, None, 4900, "no active workflow required"),
    ("two-active", cs(workflows=("wa", "wb", "wd")), "", [], Action.REFILL, None, 4900,
     "2 active workflows"),
    ("in-flight-queued", cs(), "", [imp("s1", "queued", 1)], Action.SKIP, Skip.IN_FLIGHT, 0,
     "import i1 is still queued"),
    ("in-flight-running", cs(), "", [imp("s1", "inProgress", 1)], Action.SKIP, Skip.IN_FLIGHT,
     0, "still inProgress"),
    ("other-set-in-flight", cs(), "", [imp("s2", "queued", 1)], Action.REFILL, None, 4900, ""),
    ("finished-import-ok", cs(), "", [imp("s1", "finished", 1)], Action.REFILL, None, 4900, ""),
    ("cooldown", cs(), "[defaults]\ncooldown = '6h'", [imp("s1", "finished", 90)], Action.SKIP,
     Skip.COOLDOWN, 0, "last import 90 min ago; cooldown is 6.0 h"),
    ("cooldown-over", cs(), "[defaults]\ncooldown = '1h'", [imp("s1", "finished", 61)],
     Action.REFILL, None, 4900, ""),
    ("cooldown-uses-latest", cs(), "[defaults]\ncooldown = '1h'",
     [imp("s1", "finished", 600, "old"), imp("s1", "error", 5, "new")], Action.SKIP,
     Skip.COOLDOWN, 0, "last import 5 min ago; cooldown is 60 min"),
    ("percent", cs(available=99, quantity=1000), "[defaults]\nmin_available_percent = 10",
     [], Action.REFILL, None, 4901, "available 99 < 100"),
    ("percent-above", cs(available=100, quantity=1000),
     "[defaults]\nmin_available_percent = 10", [], Action.SKIP, Skip.ABOVE_THRESHOLD, 0,
     "threshold 100"),
    ("percent-at-target", cs(available=4000, quantity=100000),
     "[defaults]\nmin_available_percent = 10\nrefill_to = 3000", [], Action.SKIP,
     Skip.AT_TARGET, 0, "already reaches refill_to 3,000"),
    ("max-per-run", cs(available=0), "[defaults]\nmax_per_run = 1000", [], Action.REFILL, None,
     1000, "capped at max_per_run 1,000"),
    ("refill-to", cs(available=10), "[defaults]\nrefill_to = 700", [], Action.REFILL, None, 690,
     ""),
    ("null-available", cs(available=None), "", [], Action.REFILL, None, 5000,
     "available 0 < 500"),
    ("rule-by-id", cs("target"), "[[rule]]\nmatch={id='target'}\nmin_available=50\nrefill_to=60",
     [], Action.SKIP, Skip.ABOVE_THRESHOLD, 0, "threshold 50"),
    ("first-rule-wins", cs(name="WELCOME-10"),
     "[[rule]]\nmatch={name='WEL*'}\nmin_available=150\nrefill_to=300\n"
     "[[rule]]\nmatch={name='*'}\nenabled=false", [], Action.REFILL, None, 200, "< 150"),
    ("unmatched-rule-uses-defaults", cs(name="Other"),
     "[[rule]]\nmatch={name='WEL*'}\nenabled=false", [], Action.REFILL, None, 4900, ""),
]


@pytest.mark.parametrize(("set_", "rules", "imports", "action", "skip", "count", "words"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decisions(set_: CouponSet, rules: str, imports: list[Import], action: Action,
                   skip: Skip | None, count: int, words: str) -> None:
    d = decide(set_, rules, imports)
    assert (d.action, d.skip, d.count) == (action, skip, count), d.reason
    assert words in d.reason


def test_rule_label_and_settings_are_reported() -> None:
    d = decide(cs(name="WELCOME-10"),
               "[[rule]]\nname='welcome'\nmatch={name='WEL*'}\nmin_available=150\nrefill_to=300")
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


def test_weak_code_shapes_are_warned_about() -> None:
    rules = "[defaults.code]\nlength = 5\n[security]\nguess_rate = 10\nmin_guess_time = '30d'"
    result = plan([cs(available=0)], WORKFLOWS, config(rules), [], NOW)
    (warning,) = result.warnings
    assert warning.startswith("coupon set 'Set s1' (s1), defaults: codes are too easy to guess")
    assert "at 10 guesses a second" in warning and "5,000 live codes" in warning
    assert plan([cs(available=0)], WORKFLOWS, config(), [], NOW).warnings == ()
