"""The use cases behind `voucherbot run`, `refill` and `report`, callable from Python.

They tie the parts together: a client built from the configuration, the ledger and its run
lock, settling what earlier runs left open, one read of every coupon set, workflow and recent
import, the pure planner, and the :class:`~voucherbot.refill.batch.Refiller`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from voucherbot.codes import CodeSpec
from voucherbot.config import Config
from voucherbot.config.settings import PollSettings
from voucherbot.connectif.client import DEFAULT_BASE_URL, ConnectifClient
from voucherbot.connectif.errors import PERMISSIONS
from voucherbot.connectif.models import CouponSet, Import, Workflow
from voucherbot.connectif.poll import ProgressCallback
from voucherbot.connectif.transport import DEFAULT_TIMEOUT
from voucherbot.errors import ConfigError, NotFoundError, PermissionDeniedError, VoucherbotError
from voucherbot.ledger import Ledger
from voucherbot.planning.forecast import Snapshot
from voucherbot.planning.planner import Action, Decision, ImportActivity, Plan, Skip, plan
from voucherbot.refill.batch import Refiller
from voucherbot.refill.queue import run_plan
from voucherbot.refill.results import RefillResult, RunResult, result_of
from voucherbot.report.notify import RunNotice, send


def make_client(config: Config, env: Mapping[str, str] | None = None) -> ConnectifClient:
    """A client for the configured account: the key from ``CONNECTIF_API_KEY``, the base URL
    from ``CONNECTIF_BASE_URL``, else ``[connectif] base_url``, else Connectif's."""
    env = os.environ if env is None else env
    if env.get("CONNECTIF_BASE_URL"):
        base_url, source = env["CONNECTIF_BASE_URL"], "CONNECTIF_BASE_URL"
    elif config.base_url:
        base_url, source = config.base_url, f"[connectif] base_url in {config.path}"
    else:
        base_url, source = DEFAULT_BASE_URL, "CONNECTIF_BASE_URL"
    return ConnectifClient(
        env.get("CONNECTIF_API_KEY", ""),
        base_url,
        requests_per_minute=config.requests_per_minute,
        timeout=(DEFAULT_TIMEOUT[0], config.timeout),
        deadline=config.request_deadline,
        max_response_bytes=int(config.max_response_mb * 1024 * 1024),
        max_pages=config.max_pages,
        workflow_status_field=config.workflow_status_field,
        base_url_source=source,
        backoff=config.retry_backoff,
    )


@dataclass(frozen=True)
class AccountState:
    """One consistent read of what the planner needs."""

    coupon_sets: tuple[CouponSet, ...]
    workflows: tuple[Workflow, ...]
    imports: tuple[Import, ...]
    read_at: datetime  #: by the server's clock
    #: snapshots of each set's counters from the ledger, by coupon set id (for forecasts)
    history: Mapping[str, Sequence[Snapshot]] = field(default_factory=dict)


def ledger_imports(ledger: Ledger) -> list[Import]:
    """The ledger's batches as imports: the open ones (so the planner leaves their sets
    alone) and the latest closed one of each set (for its cooldown and the counters' lag).
    Unresolved batches are not among them: they hold their sets in their own right."""
    found = []
    for b in [*ledger.open_batches(), *ledger.latest_closed_batches()]:
        if b.status == "unresolved":
            continue
        status = b.import_status or ("queued" if b.is_open else "error")
        if not b.is_open and status not in ("finished", "error", "cancelled"):
            status = "error"
        found.append(
            Import(
                id=b.import_id or f"batch {b.id}",
                status=status,
                coupon_set_id=b.coupon_set_id,
                total=b.count,
                success=b.success or 0,
                created_at=b.submitted_at or b.created_at,
                finished_at=b.import_finished_at,
            )
        )
    return found


def held_sets(ledger: Ledger) -> dict[str, str]:
    """Coupon sets a person must settle first, by id: why (their unresolved batch)."""
    return {
        b.coupon_set_id: f"batch {b.id} is unresolved: {b.error}"
        for b in ledger.open_batches()
        if b.status == "unresolved"
    }


def make_plan(
    client: ConnectifClient,
    config: Config,
    ledger: Ledger | None = None,
    run_id: int | None = None,
    *,
    lean: bool = False,
) -> tuple[Plan, AccountState]:
    """Read the account and plan every set against the rules.

    With a ledger, its batches count as imports (in flight, or the last one of a set for
    its cooldown) and, when ``run_id`` is given, the counters of every set are recorded as
    this run's snapshots. ``lean`` (the cron job) spares the shop's request budget: it reads
    the workflows and imports only when some set could need a refill whatever they say.
    """
    listed: dict[str, CouponSet] = {}
    read_at: datetime | None = None
    twice: set[str] = set()
    for coupon_set in client.iter_coupon_sets():
        # the first page's time: later pages are newer, so the counters' lag is not
        # under-counted for the sets read first
        read_at = read_at or client.now()
        if coupon_set.id in listed:
            twice.add(coupon_set.id)
        else:
            listed[coupon_set.id] = coupon_set
    read_at = read_at or client.now()
    sets = tuple(listed.values())
    doubles = [
        f"the server listed coupon set {set_id} more than once; only its first entry "
        "is used (and it is refilled at most once)"
        for set_id in sorted(twice)
    ]
    known: list[Import] = []
    shortfalls: dict[str, int] = {}
    held: dict[str, str] = {}
    history: Mapping[str, Sequence[Snapshot]] = {}
    if ledger is not None:
        shortfalls = ledger.shortfalls()
        held = held_sets(ledger)
        if run_id is not None:
            ledger.record_snapshots(run_id, sets, read_at)
        known = ledger_imports(ledger)
        history = ledger.snapshots(since=read_at - timedelta(days=config.forecast.window_days + 1))
    if lean:  # every referenced workflow taken as active, no other imports: the most eager plan
        status = min(config.active_workflow_statuses)
        assumed = {w: Workflow(w, w, status) for cs in sets for w in cs.used_in_workflows}
        eager = plan(
            sets,
            assumed.values(),
            config,
            known,
            read_at,
            history=history,
            shortfalls=shortfalls,
            held=held,
        )
        if not eager.refills:
            return _warned(eager, client, doubles), AccountState(sets, (), (), read_at, history)
    workflows = read_workflows(client, config)
    imports = (
        tuple(client.iter_imports(max_pages=config.import_pages)) if config.import_pages else ()
    )
    state = AccountState(sets, workflows or (), imports, read_at, history)
    the_plan = plan(
        sets,
        workflows,
        config,
        [*imports, *known],
        read_at,
        history=history,
        shortfalls=shortfalls,
        held=held,
    )
    return _warned(the_plan, client, doubles), state


def _warned(the_plan: Plan, client: ConnectifClient, doubles: Sequence[str]) -> Plan:
    """The plan with what was wrong in the server's answers in front of its own warnings."""
    bad = dict.fromkeys([*client.warnings, *doubles])
    return replace(the_plan, warnings=(*bad, *the_plan.warnings)) if bad else the_plan


def read_workflows(client: ConnectifClient, config: Config) -> tuple[Workflow, ...] | None:
    """The workflows the plan needs: those of [connectif] active_workflows (taken as
    active, without asking Connectif), else ``GET /workflows/`` when some rule requires an
    active workflow, else None (not read: no rule looks at them).

    ``GET /workflows/`` is known only from third-party code, so a 403 or 404 says which
    permission is missing and both ways to do without it."""
    if config.active_workflows is not None:
        status = min(config.active_workflow_statuses)
        return tuple(Workflow(w, w, status) for w in sorted(config.active_workflows))
    if not config.needs_workflows:
        return None
    ways_out = (
        "or set require_active_workflow = false in the rules that need it, or list "
        "the active workflows' ids in [connectif] active_workflows"
    )
    try:
        return tuple(client.iter_workflows())
    except PermissionDeniedError as exc:
        raise PermissionDeniedError(
            f"Connectif refused GET /workflows/ (403): the API key lacks the "
            f"'{PERMISSIONS['workflows']}' permission, which rules with "
            f"require_active_workflow = true need; enable it on the key, {ways_out}",
            status=exc.status,
        ) from None
    except NotFoundError:
        raise ConfigError(
            "Connectif has no GET /workflows/ for this account (404), which rules with "
            f"require_active_workflow = true need; {ways_out}"
        ) from None


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
def _recorded_run(
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
                row = ledger.db.execute(
                    "SELECT COUNT(*), SUM(status != 'finished' OR "
                    "COALESCE(errors, 0) > 0) FROM batches WHERE run_id = ?",
                    (run_id,),
                ).fetchone()
                outcome = "nothing to do" if not row[0] else ("failed" if row[1] else "ok")
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
) -> RunResult:
    """The cron job: settle what earlier runs left open, plan, refill, follow, record.

    ``on_total`` is told the codes of the imports about to be followed (for a progress bar),
    ``on_phase`` what a long refill is doing before its import starts; ``clock`` and
    ``sleep`` time the polling (a simulation can pass a virtual clock). A plan of more codes
    than [limits] allows is refused before any is generated (above ``confirm_above`` unless
    ``confirmed``).
    """
    refiller = _refiller(
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
    with _recorded_run(ledger, "run", config, client) as run_id:
        refiller.run_id = run_id
        settled = refiller.settle()
        the_plan, _ = make_plan(client, config, ledger, run_id, lean=True)
        config.check_count(the_plan.total_codes, "this run's refills", confirmed=confirmed)
        return run_plan(refiller, the_plan, settled)


def _refiller(
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
        client,
        ledger,
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
    if (count is None) == (to is None):
        raise ConfigError("give exactly one of --count N or --to N")
    if count is not None and count < 1:
        raise ConfigError(f"--count must be at least 1, not {count}")
    if to is not None and to < 1:
        raise ConfigError(f"--to must be at least 1, not {to}")

    def wanted_for(coupon_set: CouponSet) -> int:
        """The codes to import: ``count``, or up to ``to``; within [limits]."""
        wanted = count if count is not None else max(0, (to or 0) - (coupon_set.available or 0))
        config.check_count(wanted, f"refill of {set_id}", confirmed=confirmed)
        return wanted

    if count is not None:  # known now: refused before anything is settled or read
        config.check_count(count, f"refill of {set_id}", confirmed=confirmed)
    empty = Plan(())
    if dry_run:
        coupon_set = _refillable(client, set_id)
        wanted = wanted_for(coupon_set)
        return RunResult(empty, (RefillResult(coupon_set, wanted, dry_run=True),))
    if ledger is None:
        raise ConfigError(
            "refill_set needs a ledger (Ledger.open(path)): without one nothing keeps a code "
            "from being issued twice; pass Ledger.memory() only where that is what you want"
        )
    refiller = _refiller(client, config, ledger, poll, on_progress, on_total, on_phase=on_phase)
    with _recorded_run(ledger, "refill", config, client) as run_id:
        refiller.run_id = run_id
        settled = tuple(refiller.settle())
        coupon_set = _refillable(client, set_id)
        read_at = client.now()
        wanted = wanted_for(coupon_set)
        busy = [b for b in ledger.open_batches() if b.coupon_set_id == coupon_set.id]
        if busy:
            what = (
                "is unresolved"
                if busy[0].status == "unresolved"
                else (f"(import {busy[0].import_id}) is still in flight")
            )
            return RunResult(
                empty,
                (
                    RefillResult(
                        coupon_set,
                        wanted,
                        batch_id=busy[0].id,
                        error=f"batch {busy[0].id} {what} for this set; a set never gets two "
                        "refills at once",
                    ),
                ),
                settled,
            )
        activity = ImportActivity.of(
            client.iter_imports(max_pages=max(1, config.import_pages)),
            read_at,
            config.imports.counter_lag,
        )
        held = activity.hold(coupon_set.id, read_at)
        if held is not None and (held[0] is Skip.IN_FLIGHT or to is not None):
            return RunResult(
                empty,
                (
                    RefillResult(
                        coupon_set,
                        wanted,
                        error=(
                            f"{held[1]}; a set never gets two refills at once, try again when "
                            "it has ended and the counters show it"
                        ),
                    ),
                ),
                settled,
            )
        if wanted == 0:
            return RunResult(empty, (RefillResult(coupon_set, 0),), settled)
        rule, settings = config.rule_for(coupon_set.id, coupon_set.name)
        if spec is not None:
            settings = replace(settings, code=spec)
        decision = Decision(
            coupon_set,
            Action.REFILL,
            f"refill of {wanted:,} codes asked for",
            count=wanted,
            rule=rule,
            settings=settings,
        )
        return run_plan(refiller, Plan((decision,)), settled)


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


def run_notice(
    result: RunResult | None, source: str, started_at: datetime, error: str | None = None
) -> RunNotice:
    """What a run did (or the error that stopped it), for the [notify] webhook."""
    refills: list[tuple[str, str, int, str | None, str]] = []
    failures: list[str] = []
    if result is not None:
        for r in result.all:
            imported = r.final.success if r.final is not None and not r.abandoned else 0
            import_id = r.final.id if r.final is not None else None
            if r.ok:
                status = (
                    "abandoned (never sent)"
                    if r.abandoned
                    else (r.final.status if r.final else "nothing to do")
                )
            else:
                status = "failed"
                failures.append(r.summary(links=False))
            refills.append((r.coupon_set.name, r.coupon_set.id, imported, import_id, status))
    if error is not None:
        failures.append(error)
    return RunNotice(
        ok=not failures, refills=refills, failures=failures, source=source, started_at=started_at
    )


def notify(config: Config, notice: RunNotice) -> bool:
    """Send the run's notification if [notify] asks for it; never raises."""
    return send(config.notify, notice)


def resolve(
    client: ConnectifClient,
    config: Config,
    ledger: Ledger,
    batch_id: int,
    *,
    adopt: str | None = None,
    abandon: bool = False,
    poll: PollSettings | None = None,
    on_progress: ProgressCallback | None = None,
) -> RefillResult:
    """Settle an unresolved batch by hand: adopt the import a person found to be its own
    (``adopt``: the import id; then follow it to its end), or ``abandon`` it (the set is
    planned afresh; its codes are never issued again either way)."""
    if (adopt is None) == (not abandon):
        raise ConfigError("give exactly one of --adopt IMPORT_ID or --abandon")
    with _recorded_run(ledger, "resolve", config, client):
        batch = ledger.find_batch(batch_id)
        if batch is None:
            raise ConfigError(
                f"the ledger has no batch {batch_id}; 'voucherbot history' lists them"
            )
        if batch.status != "unresolved":
            raise ConfigError(
                f"batch {batch_id} is {batch.status}, not unresolved; only an "
                "unresolved batch is settled by hand"
            )
        if abandon:
            done = ledger.update(
                batch.id,
                status="abandoned",
                error=(
                    "abandoned by hand (voucherbot resolve --abandon); its codes are never issued "
                    "again"
                ),
            )
            return result_of(done, resumed=True)
        assert adopt is not None
        try:
            imp = client.get_import(adopt)
        except NotFoundError:
            raise ConfigError(
                f"Connectif has no import {adopt!r}; 'voucherbot imports' lists the recent ones"
            ) from None
        wrong = []
        if imp.coupon_set_id not in (None, batch.coupon_set_id):
            wrong.append(
                f"it imports into coupon set {imp.coupon_set_id}, not {batch.coupon_set_id}"
            )
        if imp.total not in (None, batch.count):
            wrong.append(f"it has {imp.total:,} rows, not the batch's {batch.count:,}")
        if imp.id in ledger.known_import_ids():
            wrong.append("the ledger already has it as another batch's import")
        if imp.type not in (None, "coupons"):
            wrong.append(f"it is a {imp.type} import, not a coupon import")
        if imp.origin == "app":
            wrong.append("it was made in Connectif's app, not through the API")
        skew = timedelta(seconds=config.imports.clock_skew)
        if batch.submitted_at and imp.created_at and imp.created_at < batch.submitted_at - skew:
            wrong.append(
                f"it was created at {imp.created_at:%Y-%m-%d %H:%M:%S} UTC, before the "
                f"batch was sent ({batch.submitted_at:%Y-%m-%d %H:%M:%S} UTC)"
            )
        if wrong:
            raise ConfigError(f"import {imp.id} cannot be batch {batch_id}'s: " + "; ".join(wrong))
        refiller = _refiller(client, config, ledger, poll, on_progress, None)
        adopted = refiller.accepted(batch, imp)
        if adopted.status == "submitted":
            return refiller.follow([adopted])[0]
        return result_of(adopted)
