"""Warnings by time left (``[notify] empty_within``): a set that will empty within that time
and that the bot will not refill (disabled by its rule, no active workflow among those that
use it, held by an unresolved batch, its shop's codes ended) is posted to the ``[notify]``
webhook, once a set a day (the ledger remembers the day), not at every run.

A set counts as emptying within the time when it is empty now, or its forecast says so; a
set with no forecast yet is not guessed at.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from voucherbot.config import Config
from voucherbot.ledger import Ledger
from voucherbot.planning.actions import Skip
from voucherbot.planning.planner import Decision, Plan
from voucherbot.report.attention import STUCK
from voucherbot.report.notify import empty_soon_message, post
from voucherbot.text import format_days

#: skips only a person can lift (the reasons :data:`~voucherbot.report.attention.STUCK` names)
_WONT_REFILL = (Skip.DISABLED, Skip.NO_ACTIVE_WORKFLOW, Skip.UNRESOLVED, Skip.SHOP_EXPIRED)


def empty_soon(plan: Plan, within_days: float) -> list[tuple[Decision, str]]:
    """The sets that empty within ``within_days`` and will not be refilled, with a line each,
    the soonest first."""
    due: list[tuple[float, Decision, str]] = []
    for d in plan.decisions:
        if d.skip not in _WONT_REFILL or not d.coupon_set.is_multiple:
            continue
        if d.skip is Skip.NO_ACTIVE_WORKFLOW and not d.workflow_ids:
            continue  # no workflow hands its codes out: nobody misses them
        available = d.coupon_set.available
        days = 0.0 if available == 0 else (d.forecast.days_left if d.forecast else None)
        if days is None or math.isinf(days) or days > within_days:
            continue
        when = "is EMPTY" if days == 0 else f"empties in {format_days(days)}"
        line = (
            f"{d.coupon_set.name} ({d.coupon_set.id}) {when} ({available or 0:,} left) and "
            f"will NOT be refilled: {STUCK[str(d.skip)]}"
        )
        due.append((days, d, line))
    return [(d, line) for _, d, line in sorted(due, key=lambda item: item[0])]


def warn_empty_soon(
    config: Config, plan: Plan, ledger: Ledger, now: datetime, source: str
) -> Sequence[str]:
    """Post today's new warnings (see the module doc); the lines posted. Never raises for
    the webhook: a failed post is logged, and tried again at the next run."""
    if config.notify.empty_within is None or not config.notify.url:
        return ()
    day = now.date().isoformat()
    due = empty_soon(plan, config.notify.empty_within / 86400)
    fresh = [(d, line) for d, line in due if not ledger.warned(d.coupon_set.id, "empty", day)]
    if not fresh:
        return ()
    lines = [line for _, line in fresh]
    message = empty_soon_message(lines, source, now, config.store)
    if post(config.notify, message, "it is tried again at the next run"):
        for d, _ in fresh:
            ledger.mark_warned(d.coupon_set.id, "empty", day)
        return lines
    return ()
