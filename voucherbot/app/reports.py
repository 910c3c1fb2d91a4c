"""``voucherbot report`` and the table of a dry run: the plan, read from the account and the
ledger, as a report. Nothing is changed."""

from __future__ import annotations

from dataclasses import replace

from voucherbot.app.account import make_plan
from voucherbot.app.shopside import SinkFor, shop_facts, sinks
from voucherbot.config import Config
from voucherbot.connectif.client import ConnectifClient
from voucherbot.ledger import Batch, BatchStatus, Ledger
from voucherbot.planning.planner import Plan, cap_by_expiry, unmatched_rules
from voucherbot.refill.queue import pools_left
from voucherbot.report.model import Report, SetRecord, build_report
from voucherbot.text import clean


def report(
    client: ConnectifClient,
    config: Config,
    ledger: Ledger | None,
    *,
    unmatched: bool = True,
    pools: bool = True,
    sink_for: SinkFor | None = None,
) -> tuple[Report, Plan]:
    """The report of what the bot would do now, and the plan behind it. ``unmatched`` adds a
    warning for each rule that matches no set; ``pools`` what each code pool has left. Each
    shop connector is read back (``sink_for`` builds them; default from the environment): the
    end date of its codes caps the plan as a run would, and its redeemed codes are checked
    for leaks (:mod:`voucherbot.app.shopside`)."""
    the_plan, state = make_plan(client, config, ledger)
    facts, notes = shop_facts(the_plan.decisions, sink_for or sinks(), ledger)
    ends = {set_id: f.ends_at for set_id, f in facts.items() if f.ends_at is not None}
    the_plan = cap_by_expiry(the_plan, ends)
    if notes:
        the_plan = replace(the_plan, warnings=(*the_plan.warnings, *notes))
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
        shop_facts=facts,
        records=set_records(ledger) if ledger is not None else None,
    )
    return built, the_plan


def set_records(ledger: Ledger) -> dict[str, SetRecord]:
    """What the ledger knows of each set's latest refills (failures; the finished ones)."""
    return {set_id: _record(batches) for set_id, batches in ledger.recent_batches().items()}


def _record(batches: list[Batch]) -> SetRecord:
    """Of a set's batches, newest first: the failures in a row, and the finished imports."""
    failures = 0
    for b in batches:
        if b.status != BatchStatus.FAILED:
            break
        failures += 1
    refills = tuple(
        sorted(
            (b.import_finished_at or b.settled_at or b.created_at, b.success or b.count)
            for b in batches
            if b.status == BatchStatus.FINISHED
        )
    )
    error = clean(batches[0].error or "") if failures else ""
    return SetRecord(failures, error[:200], refills)
