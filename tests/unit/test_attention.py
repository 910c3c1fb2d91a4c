"""What needs a person comes first (voucherbot.report.attention), in every format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from voucherbot.config import parse_config
from voucherbot.connectif.models import CouponSet, Workflow
from voucherbot.planning.forecast import Snapshot
from voucherbot.planning.planner import plan
from voucherbot.report.attention import attention, headline
from voucherbot.report.formats import render
from voucherbot.report.model import Report, SetRecord, build_report

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
WORKFLOWS = (
    Workflow("wa", "Welcome series", "active"),
    Workflow("wb", "Cart reminder", "active"),
    Workflow("wd", "Draft idea", "draft"),
)
RULES = b"""
[defaults]
min_days_left = 3

[[rule]]
name = "paused"
match = { id = "paused" }
enabled = false
"""


def cs(set_id: str, available: int, quantity: int, *workflows: str) -> CouponSet:
    return CouponSet(
        id=set_id,
        name=f"Set {set_id}",
        type="multiple",
        assigned=quantity - available,
        available=available,
        quantity=quantity,
        used_in_workflows=workflows,
    )


SETS = (
    cs("paused", 0, 500, "wa", "wb"),  # empty, two active workflows, disabled by its rule
    cs("low", 100, 5000, "wa"),  # refilled by the bot
    cs("draft", 20, 1000, "wd"),  # low, its only workflow a draft
    cs("unused", 5, 1000),  # low, but no workflow hands it out
    cs("fine", 4000, 5000, "wa"),
    cs("broken", 4000, 5000, "wb"),  # fine now, but its refills keep failing
)


def report(records: dict[str, SetRecord] | None = None) -> Report:
    history = {
        "low": [
            Snapshot(NOW - timedelta(days=d), 100 + 200 * d, 4900 - 200 * d, None)
            for d in (3, 2, 1)
        ]
    }
    the_plan = plan(SETS, WORKFLOWS, parse_config(RULES), [], NOW, history=history)
    return build_report(
        the_plan, WORKFLOWS, generated_at=NOW, source="https://x", history=history,
        records=records,
    )  # fmt: skip


RECORDS = {"broken": SetRecord(failures=3, last_error="import imp-9 ended as error")}


def test_what_needs_a_person_comes_first_then_the_refills() -> None:
    built = report(RECORDS)
    items = attention(built)
    assert [(i.kind, i.row.set_id) for i in items] == [
        ("stuck", "paused"),
        ("stuck", "draft"),
        ("failing", "broken"),
        ("refill", "low"),
    ]
    texts = [i.text for i in items]
    assert texts[0] == (
        "Set paused: EMPTY, used by 2 active workflows; will NOT be refilled: disabled by its rule"
    )
    assert texts[1] == (
        "Set draft: 20 of 1,000 left; will NOT be refilled: no active workflow uses it"
    )
    assert texts[2] == "Set broken: the last 3 refills in a row failed: import imp-9 ended as error"
    # 200 a day: 100 + 4,900 codes last 25 days
    assert texts[3] == "Set low: refill 4,900 codes, to 5,000 available, about 25 days of cover"
    assert headline(built) == "3 sets need a person. 1 of 6 sets needs codes: 4,900 codes in all."


def test_a_quiet_report_says_so() -> None:
    quiet = Report(NOW, "https://x", tuple(r for r in report().rows if r.set_id == "fine"))
    assert attention(quiet) == () and headline(quiet) == "No set needs codes (1 set checked)."


def test_every_format_starts_with_the_attention_list() -> None:
    built = report(RECORDS)
    first = "Set paused: EMPTY, used by 2 active workflows"
    for fmt in ("table", "markdown", "html"):
        text = " ".join(render(built, fmt).split())
        at = text.index(first)
        assert at < text.index("Set broken: the last 3 refills") < text.index("Set low: refill")
        assert at < text.index("fine"), fmt  # before the full list
        assert text.index("3 sets need a person.") < at
