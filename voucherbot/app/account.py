"""Reading the account for a plan: the client the configuration describes, one consistent read
of every coupon set, workflow and recent import (and the ledger's own batches), and the plan."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from voucherbot.app.credentials import api_key
from voucherbot.config import Config
from voucherbot.connectif.client import DEFAULT_BASE_URL, ConnectifClient
from voucherbot.connectif.errors import PERMISSIONS
from voucherbot.connectif.models import (
    TERMINAL_IMPORT_STATUSES,
    CouponSet,
    Import,
    ImportStatus,
    Workflow,
)
from voucherbot.connectif.transport import DEFAULT_TIMEOUT
from voucherbot.errors import ConfigError, NotFoundError, PermissionDeniedError
from voucherbot.ledger import BatchStatus, Ledger
from voucherbot.planning.forecast import Snapshot
from voucherbot.planning.planner import Plan, plan


def make_client(config: Config, env: Mapping[str, str] | None = None) -> ConnectifClient:
    """A client for the configured account: the key from ``CONNECTIF_API_KEY`` (or where
    :func:`~voucherbot.app.credentials.api_key` finds it), the base URL from
    ``CONNECTIF_BASE_URL``, else ``[connectif] base_url``, else Connectif's; a ``[[store]]``'s
    from its own ``base_url`` (else ``[connectif]``'s, else Connectif's)."""
    env = os.environ if env is None else env
    key, key_source = api_key(config, env)
    if config.store and config.base_url:
        base_url, source = config.base_url, f"store '{config.store}' base_url in {config.path}"
    elif env.get("CONNECTIF_BASE_URL") and not config.store:
        base_url, source = env["CONNECTIF_BASE_URL"], "CONNECTIF_BASE_URL"
    elif config.base_url:
        base_url, source = config.base_url, f"[connectif] base_url in {config.path}"
    else:
        base_url, source = DEFAULT_BASE_URL, "CONNECTIF_BASE_URL"
    return ConnectifClient(
        key,
        base_url,
        key_source=key_source,
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
        if b.status == BatchStatus.UNRESOLVED:
            continue
        status = b.import_status or (ImportStatus.QUEUED if b.is_open else ImportStatus.ERROR)
        if not b.is_open and status not in TERMINAL_IMPORT_STATUSES:
            status = ImportStatus.ERROR
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
        if b.status == BatchStatus.UNRESOLVED
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
    sets, read_at, doubles = _read_sets(client)
    mine = _LedgerView.of(ledger, config, sets, read_at, run_id)
    if lean:  # every referenced workflow taken as active, no other imports: the most eager plan
        status = min(config.active_workflow_statuses)
        assumed = {w: Workflow(w, w, status) for cs in sets for w in cs.used_in_workflows}
        eager = mine.plan(sets, assumed.values(), config, (), read_at)
        if not eager.refills:
            state = AccountState(sets, (), (), read_at, mine.history)
            return _warned(eager, client, doubles), state
    workflows = read_workflows(client, config)
    imports = (
        tuple(client.iter_imports(max_pages=config.import_pages)) if config.import_pages else ()
    )
    the_plan = mine.plan(sets, workflows, config, imports, read_at)
    state = AccountState(sets, workflows or (), imports, read_at, mine.history)
    return _warned(the_plan, client, doubles), state


def _read_sets(client: ConnectifClient) -> tuple[tuple[CouponSet, ...], datetime, list[str]]:
    """Every coupon set once, the time of the first page, and a warning for each set the
    server listed twice (its first entry is used, and it is refilled at most once)."""
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
    doubles = [
        f"the server listed coupon set {set_id} more than once; only its first entry "
        "is used (and it is refilled at most once)"
        for set_id in sorted(twice)
    ]
    return tuple(listed.values()), read_at or client.now(), doubles


@dataclass(frozen=True)
class _LedgerView:
    """What the ledger adds to a plan: its batches as imports, the rows Connectif rejected,
    the sets held by an unresolved batch, and the counters' history."""

    known: tuple[Import, ...] = ()
    shortfalls: Mapping[str, int] = field(default_factory=dict)
    held: Mapping[str, str] = field(default_factory=dict)
    history: Mapping[str, Sequence[Snapshot]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        ledger: Ledger | None,
        config: Config,
        sets: Sequence[CouponSet],
        read_at: datetime,
        run_id: int | None,
    ) -> _LedgerView:
        """The view, with this run's snapshots recorded first when ``run_id`` is given."""
        if ledger is None:
            return cls()
        shortfalls, held = ledger.shortfalls(), held_sets(ledger)
        if run_id is not None:
            ledger.record_snapshots(run_id, sets, read_at)
        since = read_at - timedelta(days=config.forecast.window_days + 1)
        return cls(tuple(ledger_imports(ledger)), shortfalls, held, ledger.snapshots(since=since))

    def plan(
        self,
        sets: Sequence[CouponSet],
        workflows: Iterable[Workflow] | None,
        config: Config,
        imports: Sequence[Import],
        read_at: datetime,
    ) -> Plan:
        return plan(
            sets,
            workflows,
            config,
            [*imports, *self.known],
            read_at,
            history=self.history,
            shortfalls=self.shortfalls,
            held=self.held,
        )


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
