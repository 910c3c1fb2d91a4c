"""The runs: ``voucherbot run`` (the cron job) and ``voucherbot refill`` (one set), each under
the ledger's lock and recorded with its outcome and cost."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from voucherbot.app.account import make_plan
from voucherbot.app.shopside import SinkFor, shop_ends
from voucherbot.codes import CodeSpec
from voucherbot.config import Config
from voucherbot.config.settings import PollSettings
from voucherbot.connectif.client import ConnectifClient
from voucherbot.connectif.models import CouponSet
from voucherbot.connectif.poll import ProgressCallback
from voucherbot.errors import ConfigError, NotFoundError, VoucherbotError
from voucherbot.ledger import BatchStatus, Ledger
from voucherbot.planning.planner import (
    Action,
    Decision,
    ImportActivity,
    Plan,
    Skip,
    cap_by_expiry,
)
from voucherbot.refill.batch import Refiller
from voucherbot.refill.queue import run_plan
from voucherbot.refill.results import RefillResult, RunResult

KINDS = ("list", "get", "import", "poll", "error-report")


def request_stats(client: ConnectifClient, wall: float) -> dict[str, Any]:
    """What a run cost: requests by kind, 429s met, time waited for the budget, wall time."""
    counts = {kind: client.stats.get(kind, 0) for kind in KINDS}
    return {
        "requests": counts,
        "total": sum(counts.values()),
        "rateLimited": client.stats["429"],
        "budgetWait": round(client.budget.waited, 3),
        "wall": round(wall, 3),
    }


def describe_stats(stats: Mapping[str, Any]) -> str:
    """One line for people: ``requests: 42 (list 30, poll 9, import 3); 429s: 0; ...``."""
    used = ", ".join(f"{kind} {n}" for kind, n in stats["requests"].items() if n)
    return (
        f"requests: {stats['total']} ({used or 'none'}); 429s: {stats['rateLimited']}; "
        f"waited for the request budget {stats['budgetWait']:.1f} s; "
        f"wall time {stats['wall']:.1f} s"
    )


@contextmanager
def recorded_run(
    ledger: Ledger, command: str, config: Config, client: ConnectifClient
) -> Iterator[int]:
    """Hold the lock and record the run, with its outcome, whatever happens inside."""
    with ledger.lock(f"voucherbot {command}"):
        run_id = ledger.start_run(command, config.digest)
        started = time.monotonic()
        outcome = "crashed"
        try:
            yield run_id
            outcome = "done"
        except VoucherbotError as exc:
            outcome = f"error: {exc}"
            raise
        except KeyboardInterrupt:
            outcome = "interrupted"
            raise
        finally:
            stats = request_stats(client, time.monotonic() - started)
            if outcome == "done":
                outcome = ledger.run_outcome(run_id)
            ledger.finish_run(run_id, outcome, stats)


def run(
    client: ConnectifClient,
    config: Config,
    ledger: Ledger,
    *,
    poll: PollSettings | None = None,
    on_progress: ProgressCallback | None = None,
    on_total: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    confirmed: bool = False,
    on_phase: Callable[[str], None] | None = None,
    on_locked: Callable[[], None] | None = None,
) -> RunResult:
    """The cron job: settle what earlier runs left open, plan, refill, follow, record.

    ``on_locked`` is called once the run holds the ledger's lock: its work begins.

    ``on_total`` is told the codes of the imports about to be followed (for a progress bar),
    ``on_phase`` what a long refill is doing before its import starts; ``clock`` and
    ``sleep`` time the polling (a simulation can pass a virtual clock). A plan of more codes
    than [limits] allows is refused before any is generated (above ``confirm_above`` unless
    ``confirmed``).
    """
    refiller = make_refiller(
        client,
        config,
        ledger,
        poll,
        on_progress,
        on_total,
        clock=clock,
        sleep=sleep,
        on_phase=on_phase,
    )
    with recorded_run(ledger, "run", config, client) as run_id:
        if on_locked is not None:
            on_locked()
        refiller.run_id = run_id
        settled = refiller.settle()
        the_plan, _ = make_plan(client, config, ledger, run_id, lean=True)
        the_plan = capped_by_shop(the_plan, refiller.sink_for)
        config.check_count(the_plan.total_codes, "this run's refills", confirmed=confirmed)
        return run_plan(refiller, the_plan, settled)


def capped_by_shop(the_plan: Plan, sink_for: SinkFor) -> Plan:
    """The plan's refills held to what their shops can still redeem (the end date a shop
    connector reads), with a warning for each shop that could not be read."""
    ends, notes = shop_ends(the_plan.refills, sink_for)
    capped = cap_by_expiry(the_plan, ends)
    return replace(capped, warnings=(*capped.warnings, *notes)) if notes else capped


def make_refiller(
    client: ConnectifClient,
    config: Config,
    ledger: Ledger,
    poll: PollSettings | None,
    on_progress: ProgressCallback | None,
    on_total: Callable[[int], None] | None,
    **timing: Any,
) -> Refiller:
    """A Refiller for the configuration, its shop sinks checked before any API call."""
    refiller = Refiller(
        client=client,
        ledger=ledger,
        poll=poll or config.poll,
        on_progress=on_progress,
        on_total=on_total,
        policy=config.imports,
        config=config,
        max_in_flight=config.max_imports_in_flight,
        **timing,
    )
    refiller.check_sinks()
    return refiller


# Over 60 lines with its signature and docstring; the body is the steps it names.
def refill_set(
    client: ConnectifClient,
    set_id: str,
    *,
    count: int | None = None,
    to: int | None = None,
    spec: CodeSpec | None = None,
    config: Config | None = None,
    ledger: Ledger | None = None,
    poll: PollSettings | None = None,
    dry_run: bool = False,
    on_progress: ProgressCallback | None = None,
    on_total: Callable[[int], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
    confirmed: bool = False,
) -> RunResult:
    """Top up one ``multiple`` coupon set with ``count`` new codes, or up to ``to`` available.

    Settles open batches first, and refuses a set that still has a refill in flight, in the
    ledger or at Connectif (another ledger's import, say), or whose counters may not show an
    import that just ended (with ``to``). Takes the code shape from ``spec``, else the rule in
    ``config`` that matches the set. A ``ledger`` is required unless ``dry_run``: it is what
    keeps a code from being issued twice (``Ledger.memory()`` remembers nothing). A count above
    [limits] is refused before anything is generated, in a dry run too (above ``confirm_above``
    unless ``confirmed``).
    """
    config = config or Config()
    _check_amount(count, to)

    def wanted_for(coupon_set: CouponSet) -> int:
        """The codes to import: ``count``, or up to ``to``; within [limits]."""
        wanted = count if count is not None else max(0, (to or 0) - (coupon_set.available or 0))
        config.check_count(wanted, f"refill of {set_id}", confirmed=confirmed)
        return wanted

    if count is not None:  # known now: refused before anything is settled or read
        config.check_count(count, f"refill of {set_id}", confirmed=confirmed)
    if dry_run:
        coupon_set = _refillable(client, set_id)
        wanted = wanted_for(coupon_set)
        return RunResult(Plan(()), (RefillResult(coupon_set, wanted, dry_run=True),))
    if ledger is None:
        raise ConfigError(
            "refill_set needs a ledger (Ledger.open(path)): without one nothing keeps a code "
            "from being issued twice; pass Ledger.memory() only where that is what you want"
        )
    refiller = make_refiller(client, config, ledger, poll, on_progress, on_total, on_phase=on_phase)
    with recorded_run(ledger, "refill", config, client) as run_id:
        refiller.run_id = run_id
        settled = tuple(refiller.settle())
        coupon_set = _refillable(client, set_id)
        read_at = client.now()
        wanted = wanted_for(coupon_set)
        refused = _not_now(
            client, config, ledger, coupon_set, wanted, read_at, strict=to is not None
        )
        if refused is not None:
            return RunResult(Plan(()), (refused,), settled)
        if wanted == 0:
            return RunResult(Plan(()), (RefillResult(coupon_set, 0),), settled)
        return run_plan(refiller, Plan((_asked_for(config, coupon_set, wanted, spec),)), settled)


def _check_amount(count: int | None, to: int | None) -> None:
    if (count is None) == (to is None):
        raise ConfigError("give exactly one of --count N or --to N")
    if count is not None and count < 1:
        raise ConfigError(f"--count must be at least 1, not {count}")
    if to is not None and to < 1:
        raise ConfigError(f"--to must be at least 1, not {to}")


def _not_now(
    client: ConnectifClient,
    config: Config,
    ledger: Ledger,
    coupon_set: CouponSet,
    wanted: int,
    read_at: datetime,
    *,
    strict: bool,
) -> RefillResult | None:
    """Why the set cannot be refilled now, as its result: a batch of its own still open (in
    flight or unresolved), or an import in flight for it at Connectif (with ``strict``, also
    one whose end its counters may not show yet); None when it can be."""
    busy = [b for b in ledger.open_batches() if b.coupon_set_id == coupon_set.id]
    if busy:
        what = (
            "is unresolved"
            if busy[0].status == BatchStatus.UNRESOLVED
            else f"(import {busy[0].import_id}) is still in flight"
        )
        return RefillResult(
            coupon_set,
            wanted,
            batch_id=busy[0].id,
            error=f"batch {busy[0].id} {what} for this set; a set never gets two refills at once",
        )
    activity = ImportActivity.of(
        client.iter_imports(max_pages=max(1, config.import_pages)),
        read_at,
        config.imports.counter_lag,
    )
    held = activity.hold(coupon_set.id, read_at)
    if held is not None and (held[0] is Skip.IN_FLIGHT or strict):
        return RefillResult(
            coupon_set,
            wanted,
            error=f"{held[1]}; a set never gets two refills at once, try again when it has "
            "ended and the counters show it",
        )
    return None


def _asked_for(
    config: Config, coupon_set: CouponSet, wanted: int, spec: CodeSpec | None
) -> Decision:
    """The one refill a person asked for, under the set's rule (its code shape from ``spec``)."""
    rule, settings = config.rule_for(coupon_set.id, coupon_set.name)
    if spec is not None:
        settings = replace(settings, code=spec)
    return Decision(
        coupon_set,
        Action.REFILL,
        f"refill of {wanted:,} codes asked for",
        count=wanted,
        rule=rule,
        settings=settings,
    )


def _refillable(client: ConnectifClient, set_id: str) -> CouponSet:
    """The coupon set, if it exists and is a ``multiple`` set; else a clear ConfigError."""
    try:
        coupon_set = client.get_coupon_set(set_id)
    except NotFoundError:
        raise ConfigError(
            f"there is no coupon set with id {set_id!r}; list the sets with 'voucherbot report'"
        ) from None
    if not coupon_set.is_multiple:
        raise ConfigError(
            f"coupon set {coupon_set.name!r} ({set_id}) is a {coupon_set.type!r} set with one "
            "shared code; only 'multiple' sets hold codes to refill"
        )
    return coupon_set
