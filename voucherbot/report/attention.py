"""What needs a person, first: the top of every report format.

In this order:

1. **Stuck**: a set that is empty, below its threshold, or empty within ``soon`` days (its
   ``min_days_left``, else :data:`SOON_DAYS`), and that the bot will *not* refill, for a reason
   only a person can change: disabled by its rule, no active workflow (among the workflows
   that use it: a set no workflow uses is nobody's loss), held by an unresolved batch, its
   shop's codes ended; or a refill from a code pool with fewer codes left than it needs. The
   emptiest first.
2. **Failing**: a set whose latest refills failed, one after another.
3. **Leaking**: a set with codes redeemed in the shop that Connectif never assigned.
4. **Refills**: what the bot will do: each refill's size and, with a forecast, the days of
   cover it buys (``(available + count) / burn_per_day``).

Sets that only wait (an import in flight, the counters' lag, a cooldown) are the bot's
business, not a person's, and are not listed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voucherbot.text import format_days, plural

if TYPE_CHECKING:
    from voucherbot.report.model import Report, ReportRow

#: Days left below which a set that will not be refilled needs a person (without
#: ``min_days_left``).
SOON_DAYS = 7.0
#: Skips that only a person can lift.
STUCK = {
    "disabled": "disabled by its rule",
    "no-active-workflow": "no active workflow uses it",
    "unresolved-batch": "held by an unresolved batch (voucherbot resolve)",
    "shop-expired": "its codes have ended in the shop",
}


@dataclass(frozen=True)
class Item:
    """One line of the attention list: its kind, its set, and what to say."""

    kind: str  #: "stuck", "failing", "leak" or "refill"
    row: ReportRow
    text: str  #: the whole line, the set's name first

    @property
    def needs_person(self) -> bool:
        return self.kind != "refill"


def attention(report: Report) -> tuple[Item, ...]:
    """The attention list of a report (see the module doc), most pressing first."""
    rows = report.rows
    stuck = sorted((r for r in rows if _stuck(r)), key=_emptiness)
    items = [Item("stuck", r, _stuck_text(r)) for r in stuck]
    items += [Item("failing", r, _failing_text(r)) for r in rows if r.failures]
    items += [
        Item("leak", r, f"{r.name}: {plural(r.shop_facts.leaked, 'code')} redeemed in the shop "
             "that Connectif never assigned (a leak)")
        for r in rows
        if r.shop_facts is not None and r.shop_facts.leaked
    ]  # fmt: skip
    items += [Item("refill", r, _refill_text(r)) for r in rows if r.is_refill]
    return tuple(items)


def headline(report: Report) -> str:
    """The report's first sentence: what needs a person, else the summary."""
    people = {i.row.set_id for i in attention(report) if i.needs_person}
    if not people:
        return report.summary
    verb = "needs" if len(people) == 1 else "need"
    return f"{plural(len(people), 'set')} {verb} a person. {report.summary}"


def _low(r: ReportRow) -> bool:
    if r.type != "multiple" or r.available is None:
        return False
    if r.available == 0 or r.below_threshold:
        return True
    return r.days_left is not None and r.days_left < (r.soon_days or SOON_DAYS)


def _stuck(r: ReportRow) -> bool:
    if r.is_refill:
        left = r.pool_remaining
        return left is not None and left < r.count
    if r.skip == "no-active-workflow" and not r.workflows:
        return False  # no workflow hands its codes out: nobody misses them
    return _low(r) and r.skip in STUCK


def _emptiness(r: ReportRow) -> tuple[float, float, str]:
    days = r.days_left if r.days_left is not None else math.inf
    return (float(r.available or 0), days, r.name)


def _level(r: ReportRow) -> str:
    text = (
        f"{r.available or 0:,} of {r.quantity:,} left"
        if r.quantity
        else f"{r.available or 0:,} left"
    )
    if r.available == 0:
        text = "EMPTY"
    if r.days_left is not None and not math.isinf(r.days_left) and r.available:
        text += f", empty in {format_days(r.days_left)}"
    return text


def _stuck_text(r: ReportRow) -> str:
    users = len(r.active_workflows)
    used = f"used by {plural(users, 'active workflow')}" if users else "no active workflow"
    if r.is_refill:
        return (
            f"{r.name}: {_level(r)}; its code pool has only {r.pool_remaining or 0:,} of the "
            f"{r.count:,} codes the refill needs: add codes to the pool"
        )
    why = STUCK[r.skip or ""]
    if r.skip == "no-active-workflow":
        return f"{r.name}: {_level(r)}; will NOT be refilled: {why}"
    return f"{r.name}: {_level(r)}, {used}; will NOT be refilled: {why}"


def _failing_text(r: ReportRow) -> str:
    runs = "refill" if r.failures == 1 else f"{r.failures} refills in a row"
    said = f": {r.last_error}" if r.last_error else ""
    return f"{r.name}: the last {runs} failed{said}"


def _refill_text(r: ReportRow) -> str:
    after = (r.available or 0) + r.count
    text = f"{r.name}: refill {r.count:,} codes, to {after:,} available"
    if r.burn_per_day:
        text += f", about {format_days(after / r.burn_per_day)} of cover"
    return text
