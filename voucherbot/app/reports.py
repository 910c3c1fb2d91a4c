"""``voucherbot report`` and the table of a dry run: the plan, read from the account and the
ledger, as a report. Nothing is changed."""

from __future__ import annotations

from dataclasses import replace

from voucherbot.app.account import make_plan
from voucherbot.config import Config
from voucherbot.connectif.client import ConnectifClient
from voucherbot.ledger import Ledger
from voucherbot.planning.planner import Plan, unmatched_rules
from voucherbot.refill.queue import pools_left
from voucherbot.report.model import Report, build_report


def report(
    client: ConnectifClient,
    config: Config,
    ledger: Ledger | None,
    *,
    unmatched: bool = True,
    pools: bool = True,
) -> tuple[Report, Plan]:
    """The report of what the bot would do now, and the plan behind it. ``unmatched`` adds a
    warning for each rule that matches no set; ``pools`` what each code pool has left."""
    the_plan, state = make_plan(client, config, ledger)
    if unmatched:
        the_plan = replace(
            the_plan, warnings=(*the_plan.warnings, *unmatched_rules(config, state.coupon_sets))
        )
    left = None
    if pools:
        left = pools_left(
            the_plan.decisions, ledger.issued if ledger is not None else lambda codes: set()
        )
    built = build_report(
        the_plan,
        state.workflows,
        generated_at=state.read_at,
        source=client.base_url,
        history=state.history,
        pool_remaining=left,
    )
    return built, the_plan
