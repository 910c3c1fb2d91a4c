"""``voucherbot report``: every coupon set and what the bot would do, for people and scripts.

:func:`build_report` turns a :class:`~voucherbot.planning.planner.Plan`
(plus the workflows, for their
names and statuses) into a :class:`Report`; :func:`render` writes it in one of :data:`FORMATS`:

``table``
    Plain text for a terminal, no line wider than ``width`` (default 100), no colours. Per
    set a line of columns (name, type, available/quantity, days left when the report has
    forecasts, active of referencing workflows, action; a long name is cut with "…"), a line
    with the set's id (to copy into ``voucherbot refill ID``) and the reason, and a line
    naming its active workflows. Then a summary line and the warnings. Below 80 columns or so
    the type column is left out. Days left reads "4.9", "45", "never" (no demand), "?"
    (forecast unknown) or "-" (no forecast: a single set, or no history).
``markdown``
    A GitHub-flavoured Markdown document: title with time and source, summary, warnings and
    one table row per set with every field.
``csv``
    One header row, then one row per set (columns below). Warnings are not included.
``json``
    The stable, versioned shape below, for scripts.
``html``
    One self-contained page (inline CSS, a little inline JavaScript, inline SVG; nothing
    fetched from anywhere), readable in a mail client and on any screen: what needs a person
    and the refills first, an overview chart of days left, warnings, then every set (a
    table that sorts and filters on a wide screen, cards on a narrow one) with a bar of
    available codes against the threshold and the target and, with forecasts, the days left
    and a chart of ``available`` over time with the forecast, the threshold and the refills.
    See :mod:`voucherbot.report.html`.

The table, Markdown and HTML formats begin with what needs a person (sets that will run dry
and will not be refilled, refills that keep failing, leaks) and the refills the bot will make
(:mod:`voucherbot.report.attention`).

Every format lists the sets in plan order: the sets that need codes first (emptiest first),
then the others. Every output ends with a newline. An unknown format raises
:class:`ReportFormatError`, a :class:`~voucherbot.errors.ConfigError` (exit 2) that is also a
``ValueError``. Names from the account are shown safely everywhere: control characters
(terminal escapes, line breaks) are neutralised in the table, Markdown and HTML, Markdown
escapes ``|`` and HTML tags, HTML escapes everything, and CSV defuses formulas (below).

JSON shape (``"version": 1``)
-----------------------------

Keys are never removed or renamed within a version; a new version number announces any such
change (keys may be added). Numbers are plain integers, except ``burnPerDay`` and
``daysLeft`` (rounded to two decimals); a value the API did not give is ``null``::

    {
      "version": 1,
      "generatedAt": "2026-03-01T09:30:00Z",  // when the account was read, ISO 8601 UTC
      "source": "https://api.connectif.cloud", // the API base URL (credentials removed)
      "summary": {
        "sets": 14,       // coupon sets in the report
        "refills": 3,     // sets the bot would refill
        "codes": 14763    // codes it would import in all
      },
      "warnings": ["..."],  // planner warnings (unknown workflow statuses, ...), as text
      "sets": [             // one object per coupon set, in plan order
        {
          "id": "680a964917921e6c8b8e8f4e",
          "name": "VIP Autumn 30% off",
          "type": "multiple",          // "multiple" (pool of codes) or "single" (one code)
          "available": 23,             // codes left to hand out, or null
          "quantity": 2500,            // codes in the set, or null (e.g. unlimited single set)
          "assigned": 2477,            // codes already handed out
          "threshold": 500,            // refill below this many available; null: single set
          "target": 5000,              // refill up to this many (refill_to); null: single set
          "rule": "rule 'vip'",        // the rules.toml rule that applies, or "defaults"
          "action": "refill",          // "refill" or "skip"
          "count": 4977,               // codes the bot would import (0 when skipping)
          "skip": null,                // why it skips: "single-set", "unresolved-batch",
                                       // "disabled", "no-active-workflow",
                                       // "import-in-flight", "counters-lag",
                                       // "above-threshold", "cooldown", "at-target",
                                       // "shop-expired", "covers-until-expiry"; or null
          "reason": "available 23 < 500; 1 active workflow",  // the same, for people
          "burnPerDay": 410.25,        // codes handed out per day (forecast); null: unknown
                                       // or no forecast (no history, single set)
          "daysLeft": 0.06,            // available / burnPerDay; null: unknown, or never
                                       // (burnPerDay 0)
          "emptyAt": "2026-03-01T10:53:00Z",  // when it runs out at that rate, or null
          "forecastNote": "weighted over 14 days (56 intervals, half-life 3 days)",
                                       // how the forecast was made or why it is unknown
                                       // ("not enough history (...)"); null: no forecast
          "shop": "codes NOT registered with the shop (no [shop] sink)",
                                       // where its codes come from and whether the shop
                                       // hears of them ([shop]); null for single sets
          "poolRemaining": null,       // unused codes left in its pool (source = "pool")
          "shopEndsAt": "2027-01-31T23:59:59Z",  // when the shop's codes stop redeeming
                                       // (Shopify discount's endsAt, WooCommerce template's
                                       // date_expires); null: no end, or not read back
          "shopRedeemable": true,      // the shop's codes redeem now (discount ACTIVE,
                                       // template published, not expired); null: not read
          "shopRedeemed": 120,         // this set's codes redeemed in the shop (of
                                       // "assigned" handed out); null: not read back
          "shopLeaked": 0,             // of those, codes Connectif never assigned (a leak,
                                       // also in "warnings"); null: not read back
          "activeWorkflows": [         // active workflows that use the set
            {"id": "6685d73edf561d802a759159", "name": "Browse abandonment – headphones"}
          ],
          "workflows": [               // every workflow that references it (status null when
            {"id": "6685d73edf561d802a759159",     // unknown; name = id when the workflow
             "name": "Browse abandonment – headphones",  // is not in the account's list)
             "status": "active"}
          ]
        }
      ]
    }

CSV columns
-----------

``id, name, type, available, quantity, assigned, threshold, target, rule, action, count,
skip, reason, active_workflows, active_workflow_ids, workflows, workflow_ids, burn_per_day,
days_left, empty_at, forecast_note, shop, pool_remaining, shop_ends_at, shop_redeemable,
shop_redeemed, shop_leaked``

The first thirteen are the JSON fields of a set; numbers are plain integers (no separators)
and a missing value is an empty cell. ``active_workflows`` holds the names of the active
workflows and ``workflows`` every referencing workflow as ``name (status)``, each joined with
``"; "``; ``active_workflow_ids`` and ``workflow_ids`` hold their ids in the same order. Then
the four forecast fields, as in JSON (``burn_per_day`` and ``days_left`` with up to two
decimals, empty when null; ``empty_at`` in ISO 8601 UTC), then ``shop`` and
``pool_remaining`` (``shop`` and ``poolRemaining`` in JSON), then the four fields a shop
connector reads back (``shopEndsAt`` ... ``shopLeaked``; ``True``/``False`` for
``shop_redeemable``). A text
cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
``'`` so that spreadsheet programs show it as text instead of running it as a formula (CSV
injection). Lines end with ``\\n``; write the text as UTF-8 (``utf-8-sig`` helps Excel).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from voucherbot.config.tables import public_url
from voucherbot.connectif.models import Workflow
from voucherbot.planning.forecast import Snapshot
from voucherbot.planning.planner import Action, Decision, Plan
from voucherbot.text import encodable, plural

REPORT_VERSION = 1
CSV_COLUMNS = (
    "id", "name", "type", "available", "quantity", "assigned", "threshold", "target", "rule",
    "action", "count", "skip", "reason", "active_workflows", "active_workflow_ids", "workflows",
    "workflow_ids", "burn_per_day", "days_left", "empty_at", "forecast_note", "shop",
    "pool_remaining", "shop_ends_at", "shop_redeemable", "shop_redeemed", "shop_leaked",
)  # fmt: skip
LIST_SEPARATOR = "; "


@dataclass(frozen=True)
class ShopFacts:
    """What a shop connector read back for a set (``voucherbot.app.shopside``)."""

    ends_at: datetime | None  #: when the shop's codes stop redeeming; None: never, or unread
    live: bool | None  #: whether they redeem now (None: the shop could not be read)
    state: str  #: the shop's word for it ("ACTIVE", "publish"); "" unread
    redeemed: int | None  #: this set's codes redeemed in the shop; None: not read
    leaked: int | None  #: of those, codes Connectif never assigned (a leak); None: not read
    usage_read: str  #: what was read to count them ("1,234 orders"); "" not read
    usage_complete: bool = True  #: False: the count stops at what was read

    def text(self, assigned: int) -> str:
        """One line for people: "ends 2027-01-31; 120 redeemed of 2,477 handed out"."""
        parts = []
        if self.live is None:
            parts.append("not read")
        elif not self.live:
            parts.append(f"NOT REDEEMABLE ({self.state})")
        parts.append(f"ends {self.ends_at:%Y-%m-%d}" if self.ends_at else "no end date")
        if self.redeemed is not None:
            more = "" if self.usage_complete else "at least "
            parts.append(f"{more}{self.redeemed:,} redeemed of {assigned:,} handed out")
        if self.leaked:
            parts.append(f"LEAK: {self.leaked:,} redeemed that Connectif never assigned")
        return "; ".join(parts)


@dataclass(frozen=True)
class SetRecord:
    """What the ledger knows of a set's refills, for the report."""

    failures: int = 0  #: its latest refills that failed, one after another
    last_error: str = ""  #: why the latest of them failed
    refills: tuple[tuple[datetime, int], ...] = ()  #: (when, codes) of its finished imports


@dataclass(frozen=True)
class ReportRow:
    """One coupon set and the planner's decision about it."""

    set_id: str
    name: str
    type: str
    available: int | None
    quantity: int | None
    assigned: int
    active_workflows: tuple[tuple[str, str], ...]  #: (id, name) of active workflows using it
    workflows: tuple[tuple[str, str, str | None], ...]  #: (id, name, status) of all that do
    rule: str  #: the rule label, e.g. "rule 'welcome'", or "defaults"
    action: str  #: "refill" or "skip"
    count: int  #: codes the bot would import (0 for skip)
    skip: str | None  #: the Skip value, e.g. "above-threshold"
    reason: str
    threshold: int | None  #: refill below this many available (None for single sets)
    target: int | None  #: refill_to, or the cover_days target (None for single sets)
    burn_per_day: float | None = None  #: forecast codes per day; None: unknown or no forecast
    days_left: float | None = None  #: math.inf: no demand; None: unknown or no forecast
    empty_at: datetime | None = None  #: when it runs out at that rate (UTC)
    forecast_note: str = ""  #: how the forecast was made or why it is unknown; "": none made
    history: tuple[tuple[datetime, int], ...] = ()  #: (time, available), oldest first
    shop: str = ""  #: where its codes come from / whether the shop registers them
    pool_remaining: int | None = None  #: unused codes left in its pool (source = "pool")
    shop_facts: ShopFacts | None = None  #: what its shop connector read back, if any
    soon_days: float | None = None  #: its rule's min_days_left (what "empty soon" means)
    failures: int = 0  #: its latest refills that failed, one after another
    last_error: str = ""  #: why the latest of them failed
    refills: tuple[tuple[datetime, int], ...] = ()  #: (when, codes) of its finished imports

    @property
    def shop_text(self) -> str:
        """What the shop said, for people ("" when its shop was not read back)."""
        return self.shop_facts.text(self.assigned) if self.shop_facts is not None else ""

    @property
    def is_refill(self) -> bool:
        return self.action == Action.REFILL.value

    @property
    def has_forecast(self) -> bool:
        """Whether the planner made a forecast (known or not) for this set."""
        return bool(self.forecast_note)

    @property
    def below_threshold(self) -> bool:
        return self.threshold is not None and (self.available or 0) < self.threshold


@dataclass(frozen=True)
class Report:
    """Everything a report shows; :func:`render` writes it in any of :data:`FORMATS`."""

    generated_at: datetime  #: timezone-aware, UTC
    source: str
    rows: tuple[ReportRow, ...]
    warnings: tuple[str, ...] = ()

    @property
    def refills(self) -> tuple[ReportRow, ...]:
        return tuple(r for r in self.rows if r.is_refill)

    @property
    def total_codes(self) -> int:
        return sum(r.count for r in self.refills)

    @property
    def summary(self) -> str:
        """One sentence, e.g. "3 of 14 sets need codes: 14,763 codes in all."."""
        n, refills = len(self.rows), len(self.refills)
        if n == 0:
            return "No coupon sets found."
        if refills == 0:
            return f"No set needs codes ({plural(n, 'set')} checked)."
        verb = "needs" if refills == 1 else "need"
        codes = plural(self.total_codes, "code")
        return f"{refills:,} of {plural(n, 'set')} {verb} codes: {codes} in all."

    @property
    def generated_text(self) -> str:
        """The time for people: "2026-03-01 09:30 UTC"."""
        return self.generated_at.strftime("%Y-%m-%d %H:%M UTC")

    @property
    def has_forecasts(self) -> bool:
        """Whether any set has a forecast or a history (the table and HTML show them then)."""
        return any(r.has_forecast or r.history for r in self.rows)


def build_report(
    plan: Plan,
    workflows: Iterable[Workflow],
    *,
    generated_at: datetime,
    source: str,
    history: Mapping[str, Sequence[Snapshot]] | None = None,
    pool_remaining: Mapping[str, int] | None = None,
    shop_facts: Mapping[str, ShopFacts] | None = None,
    records: Mapping[str, SetRecord] | None = None,
) -> Report:
    """The report of ``plan``; ``workflows`` give the names and statuses of referenced workflows.

    ``generated_at`` must be timezone-aware (it is shown in UTC); ``source`` names where the
    data came from, usually the API base URL (any ``user:password@`` or query is dropped).
    ``history`` (snapshots by coupon set id, as given to the planner) feeds the charts;
    the forecast figures come from the plan's decisions. ``pool_remaining`` gives the unused
    codes left in the pool of each set whose codes come from a pool; ``shop_facts`` what
    each set's shop connector read back; ``records`` what the ledger knows of each set's
    refills (failures, and the finished ones for the charts).
    """
    if generated_at.tzinfo is None or generated_at.utcoffset() is None:
        raise ValueError("generated_at must be a timezone-aware datetime, e.g. datetime.now(UTC)")
    known = {w.id: w for w in workflows}
    read_at = plan.now if plan.now is not None else generated_at
    return Report(
        generated_at=generated_at.astimezone(UTC),
        source=encodable(public_url(source)),
        rows=tuple(
            _with_record(
                replace(
                    _row(d, known, _levels(d, (history or {}).get(d.coupon_set.id, ()), read_at)),
                    pool_remaining=(pool_remaining or {}).get(d.coupon_set.id),
                    shop_facts=(shop_facts or {}).get(d.coupon_set.id),
                ),
                (records or {}).get(d.coupon_set.id),
            )
            for d in plan.decisions
        ),
        warnings=tuple(encodable(w) for w in plan.warnings),
    )


def _with_record(row: ReportRow, record: SetRecord | None) -> ReportRow:
    if record is None:
        return row
    return replace(
        row,
        failures=record.failures,
        last_error=encodable(record.last_error),
        refills=record.refills,
    )


def _levels(
    d: Decision, snapshots: Sequence[Snapshot], read_at: datetime
) -> tuple[tuple[datetime, int], ...]:
    """(time, available) of a multiple set, oldest first, one per time, ending with now."""
    if not d.coupon_set.is_multiple or not snapshots:
        return ()
    levels = {
        s.taken_at.astimezone(UTC): s.available
        for s in sorted(
            snapshots, key=lambda s: (s.taken_at, -1 if s.available is None else s.available)
        )
        if s.taken_at <= read_at and s.available is not None
    }
    if d.coupon_set.available is not None:
        levels[read_at.astimezone(UTC)] = d.coupon_set.available
    return tuple(sorted((t, a) for t, a in levels.items() if a is not None))


def _row(
    d: Decision, known: dict[str, Workflow], history: tuple[tuple[datetime, int], ...] = ()
) -> ReportRow:
    fc = d.forecast
    cs = d.coupon_set
    target = d.target if d.target is not None or not cs.is_multiple else d.settings.refill_to
    refs: list[tuple[str, str, str | None]] = []
    for wid in d.workflow_ids:
        wf = known.get(wid)
        refs.append((wid, encodable(wf.name), wf.status) if wf else (wid, wid, None))
    return ReportRow(
        set_id=cs.id,
        name=encodable(cs.name),
        type=cs.type,
        available=cs.available,
        quantity=cs.quantity,
        assigned=cs.assigned,
        active_workflows=tuple((w.id, encodable(w.name)) for w in d.active_workflows),
        workflows=tuple(refs),
        rule=encodable(d.rule_label),
        action=d.action.value,
        count=d.count,
        skip=d.skip.value if d.skip is not None else None,
        reason=encodable(d.reason),
        threshold=d.threshold,
        target=target,
        burn_per_day=fc.burn_per_day if fc else None,
        days_left=fc.days_left if fc else None,
        empty_at=fc.empty_at.astimezone(UTC) if fc and fc.empty_at else None,
        forecast_note=encodable(fc.note) if fc else "",
        history=history,
        shop=encodable(d.settings.shop.describe()) if cs.is_multiple else "",
        soon_days=d.settings.min_days_left,
    )


def workflow_status(ref: tuple[str, str, str | None]) -> str:
    """A referencing workflow's status; "not found" when it is not in the account's list."""
    wid, name, status = ref
    if status is None:
        return "not found" if name == wid else "no status"
    return status


def workflow_text(ref: tuple[str, str, str | None]) -> str:
    """A referencing workflow as "name (status)"."""
    return f"{ref[1]} ({workflow_status(ref)})"
