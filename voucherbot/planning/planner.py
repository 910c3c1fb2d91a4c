"""The planner: which coupon sets to refill, by how much, and why (PURE: no I/O, no clock).

:func:`plan` takes the coupon sets, the workflows, the validated rules, the imports Connectif
knows about, ``now`` and (optionally) the recorded ``history`` of each set, and returns one
:class:`Decision` per set: refill N codes, with the reason, or skip, with the reason. The
checks run in this order, and the first that applies decides:

1. ``single`` set: one shared code, nothing to refill;
2. a batch of the set is *unresolved* (``held``: nobody can tell whether its import exists);
3. the matching rule (or ``[defaults]``) has ``enabled = false``;
4. ``require_active_workflow`` and no workflow that uses the set has an active status;
5. an import for the set is still ``queued`` or ``inProgress``, or one ended less than
   ``counter_lag`` ago (Connectif's counters trail imports by up to ~10 s: the set's
   ``available`` may not show it yet, and planning from it would refill the set twice);
6. ``available`` is at or above the threshold (``min_available`` or ``min_available_percent``)
   and, with ``min_days_left``, the forecast does not say the set empties within that many
   days (or the forecast is unknown);
7. the last import that brought codes into the set started less than ``cooldown`` ago (an
   import that failed, or brought none, starts no cooldown: the set is tried again);
8. ``available`` already reaches the target;
9. otherwise: refill ``target - available`` codes, capped at ``max_per_run``.

The target is ``refill_to``; with ``cover_days`` and a known forecast it is
``ceil(burn_per_day * cover_days * safety_factor)`` instead, but never below the threshold
(so a refill always lifts the set out of "below the threshold"). ``cover_days`` wins over
``refill_to`` whenever the forecast is known; ``refill_to`` is the fallback.

Forecasts (:mod:`voucherbot.planning.forecast`) are
made only when ``history`` is given (a mapping of
coupon set id to snapshots, e.g. from the ledger): for every ``multiple`` set, from its
snapshots plus its current counters, read at ``now``, as the newest snapshot. When a rule uses
``min_days_left`` or ``cover_days`` and the forecast is unknown (too little history), the
absolute keys decide and the reason says so ("forecast unknown: not enough history (...);
using min_available and refill_to").

Refills come first, then the skips; within each, the most urgent first. Urgency is the
smallest of the set's trigger ratios: ``available / threshold`` and, when ``min_days_left`` is
set and the forecast known, ``days_left / min_days_left`` (below 1: that trigger fired; the
lower, the sooner the set runs dry relative to what its rule tolerates). Ties are broken by
days left (known before unknown), then name and id, so the same input always gives the same
plan.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from voucherbot.codes import guessability_warning
from voucherbot.config.settings import Config, Rule, RuleSettings
from voucherbot.connectif.models import CouponSet, Import, Workflow
from voucherbot.planning.forecast import Forecast, Snapshot, forecast
from voucherbot.text import format_days, format_rate, plural


class Action(StrEnum):
    REFILL = "refill"
    SKIP = "skip"


class Skip(StrEnum):
    """Why a set is left alone (stable strings: they appear in the JSON report)."""

    SINGLE = "single-set"
    UNRESOLVED = "unresolved-batch"
    DISABLED = "disabled"
    NO_ACTIVE_WORKFLOW = "no-active-workflow"
    IN_FLIGHT = "import-in-flight"
    COUNTERS_LAG = "counters-lag"
    ABOVE_THRESHOLD = "above-threshold"
    COOLDOWN = "cooldown"
    AT_TARGET = "at-target"


@dataclass(frozen=True)
class Decision:
    """What to do with one coupon set, and why."""

    coupon_set: CouponSet
    action: Action
    reason: str
    count: int = 0
    skip: Skip | None = None
    rule: Rule | None = None
    settings: RuleSettings = field(default_factory=RuleSettings)
    threshold: int | None = None
    active_workflows: tuple[Workflow, ...] = ()
    workflow_ids: tuple[str, ...] = ()  #: every workflow that references the set
    urgency: float = 0.0  #: the smallest trigger ratio (module doc); lower is more urgent
    #: the burn-rate forecast (None when the plan had no history, and for single sets)
    forecast: Forecast | None = None
    #: refill up to this many available: refill_to, or the cover_days target (None: single)
    target: int | None = None

    @property
    def rule_label(self) -> str:
        return self.rule.label if self.rule else "defaults"

    @property
    def is_refill(self) -> bool:
        return self.action is Action.REFILL


@dataclass(frozen=True)
class Plan:
    decisions: tuple[Decision, ...]
    warnings: tuple[str, ...] = ()
    now: datetime | None = None

    @property
    def refills(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.is_refill)

    @property
    def total_codes(self) -> int:
        return sum(d.count for d in self.refills)


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


@dataclass(frozen=True)
class ImportActivity:
    """What the imports say about each coupon set (by id): an import still in flight, one
    that ended so recently that the counters may not show it, and when the last import that
    brought codes in started (for the cooldown)."""

    in_flight: Mapping[str, Import]
    settling: Mapping[str, Import]
    last_refill: Mapping[str, datetime]
    counter_lag: float = 0.0

    @classmethod
    def of(cls, imports: Iterable[Import], now: datetime, counter_lag: float) -> ImportActivity:
        in_flight: dict[str, Import] = {}
        settling: dict[str, Import] = {}
        last: dict[str, datetime] = {}
        for imp in imports:
            set_id = imp.coupon_set_id
            if set_id is None:
                continue
            if not imp.is_terminal:
                in_flight.setdefault(set_id, imp)
                continue
            if imp.success <= 0:
                continue  # it changed no counter, and starts no cooldown
            # when it ended; its start is a lower bound when the server gives no end. ``now``
            # comes from whole-second Date headers: an import may seem to end after it
            ended = imp.finished_at or imp.cancelled_at or imp.created_at
            if ended is not None and max(0.0, (now - ended).total_seconds()) < counter_lag:
                settling.setdefault(set_id, imp)
            if (
                imp.status == "finished"
                and imp.created_at is not None
                and (set_id not in last or imp.created_at > last[set_id])
            ):
                last[set_id] = imp.created_at
        return cls(in_flight, settling, last, counter_lag)

    def hold(self, set_id: str, now: datetime) -> tuple[Skip, str] | None:
        """Why the set must not be refilled now because of its imports, if it must not."""
        imp = self.in_flight.get(set_id)
        if imp is not None:
            return Skip.IN_FLIGHT, f"import {imp.id} is still {imp.status}"
        imp = self.settling.get(set_id)
        if imp is not None:
            ended = imp.finished_at or imp.cancelled_at or imp.created_at or now
            return Skip.COUNTERS_LAG, (
                f"import {imp.id} ended {_ago(max(0.0, (now - ended).total_seconds()))} ago; "
                "Connectif's counters may not show its codes yet (they trail imports by up to "
                f"counter_lag {_ago(self.counter_lag)})"
            )
        return None


def plan(
    coupon_sets: Iterable[CouponSet],
    workflows: Iterable[Workflow] | None,
    config: Config,
    imports: Iterable[Import],
    now: datetime,
    *,
    history: Mapping[str, Sequence[Snapshot]] | None = None,
    shortfalls: Mapping[str, int] | None = None,
    held: Mapping[str, str] | None = None,
) -> Plan:
    """Decide, for every coupon set, whether to refill it and by how much (see module doc).

    ``workflows`` is None when they were not read (no rule requires an active workflow).
    ``history`` maps coupon set ids to their recorded snapshots (any order); without it no
    forecast is made and ``min_days_left`` / ``cover_days`` fall back to the absolute keys.
    ``shortfalls`` maps coupon set ids to the codes their last refill failed to import (rows
    rejected, or an import that ended in error): a set above its threshold but below its
    target is topped up by that many (see :func:`_top_up`). ``held`` maps coupon set ids to
    why a person must settle one of their batches first.
    """
    by_id = {w.id: w for w in workflows or ()}
    # workflows not read (no rule needs them), or listed in [connectif] active_workflows:
    # a workflow not among them is not active, and no surprise
    complete = workflows is not None and config.active_workflows is None
    warnings: list[str] = []
    for w in by_id.values():
        status = w.status or "(none)"
        if (
            w.status not in config.active_workflow_statuses
            and w.status not in config.inactive_workflow_statuses
        ):
            warnings.append(
                f"workflow {w.name!r} ({w.id}) has unknown status {status!r}; treated as not "
                "active (add it to active_workflow_statuses or inactive_workflow_statuses)"
            )
    activity = ImportActivity.of(imports, now, config.imports.counter_lag)
    last_started = activity.last_refill
    decisions = []
    for cs in coupon_sets:
        missing = [wid for wid in cs.used_in_workflows if wid not in by_id] if complete else []
        if missing:
            warnings.append(
                f"coupon set {cs.name!r} ({cs.id}) references unknown workflow(s) "
                f"{', '.join(missing)}; treated as not active"
            )
        fc = None
        if history is not None and cs.is_multiple:
            current = Snapshot(now, cs.available, cs.assigned, cs.quantity)
            fc = forecast([*history.get(cs.id, ()), current], now, config.forecast)
        decision = _decide(cs, by_id, config, activity, (held or {}).get(cs.id), now, fc)
        if decision.skip is Skip.UNRESOLVED:
            warnings.append(f"coupon set {cs.name!r} ({cs.id}) is held: {decision.reason}")
        missed = (shortfalls or {}).get(cs.id, 0)
        if missed > 0 and decision.skip in (Skip.ABOVE_THRESHOLD, Skip.AT_TARGET):
            decision = _top_up(decision, missed, last_started.get(cs.id), now)
        decisions.append(decision)
    decisions.sort(key=_order)
    for d in decisions:
        if d.is_refill:
            live = (d.coupon_set.available or 0) + d.count
            weak = guessability_warning(
                d.settings.code, live, config.guess_rate, config.min_guess_time
            )
            if weak:
                warnings.append(
                    f"coupon set {d.coupon_set.name!r} ({d.coupon_set.id}), {d.rule_label}: {weak}"
                )
    return Plan(tuple(decisions), tuple(warnings), now)


def unmatched_rules(config: Config, coupon_sets: Iterable[CouponSet]) -> list[str]:
    """A warning for each rule whose match fits none of the sets (a typo in a glob, a set
    that was renamed), for the report."""
    listed = list(coupon_sets)
    return [
        f"{rule.label} ({rule.match.describe()}) matches no coupon set; check its match"
        for rule in config.rules
        if not any(rule.match.matches(cs.id, cs.name) for cs in listed)
    ]


def _top_up(d: Decision, missed: int, last_started: datetime | None, now: datetime) -> Decision:
    """Refill the codes the set's last import failed to bring in, up to its target.

    Rules still apply: only sets above their threshold come here (below it they are refilled
    anyway), the cooldown holds, and neither the target nor ``max_per_run`` is passed.
    """
    available = d.coupon_set.available or 0
    room = (d.target or 0) - available
    count = min(missed, room, d.settings.max_per_run)
    if count <= 0:
        return d
    if d.settings.cooldown and last_started is not None:
        since = (now - last_started).total_seconds()
        if since < d.settings.cooldown:
            return replace(
                d,
                skip=Skip.COOLDOWN,
                reason=(
                    f"{missed:,} codes of the last import are missing; last import "
                    f"{_ago(max(0.0, since))} ago; cooldown is {_ago(d.settings.cooldown)}"
                ),
            )
    return replace(
        d,
        action=Action.REFILL,
        skip=None,
        count=count,
        reason=(
            f"top-up: the last import missed {missed:,} codes; available {available:,} < target "
            f"{d.target or 0:,}"
        ),
    )


def _order(d: Decision) -> tuple[bool, float, float, str, str]:
    days = d.forecast.days_left if d.forecast is not None else None
    return (
        not d.is_refill,
        d.urgency,
        math.inf if days is None else days,
        d.coupon_set.name,
        d.coupon_set.id,
    )


def _threshold_key(settings: RuleSettings) -> str:
    if settings.min_available_percent is not None:
        return "min_available_percent"
    return "min_available"


def _cover_target(settings: RuleSettings, fc: Forecast | None, threshold: int) -> int | None:
    """ceil(burn * cover_days * safety_factor), at least the threshold; None if not in use."""
    if settings.cover_days is None or fc is None or fc.burn_per_day is None:
        return None
    demand = fc.burn_per_day * settings.cover_days * settings.safety_factor
    return max(math.ceil(demand - 1e-9), threshold)


def _sizing(settings: RuleSettings, fc: Forecast | None, target: int, threshold: int) -> str:
    """How a cover_days target came about: "14,760 = 30 days × 410/day × 1.2"."""
    burn = fc.burn_per_day if fc is not None and fc.burn_per_day is not None else 0.0
    formula = (
        f"{settings.cover_days or 0:g} days × {format_rate(burn)} × {settings.safety_factor:g}"
    )
    if target == threshold and burn * (settings.cover_days or 0) * settings.safety_factor < target:
        return f"{target:,}, the threshold ({formula} is less)"
    return f"{target:,} = {formula}"


def _decide(
    cs: CouponSet,
    workflows: dict[str, Workflow],
    config: Config,
    activity: ImportActivity,
    held: str | None,
    now: datetime,
    fc: Forecast | None = None,
) -> Decision:
    rule, settings = config.rule_for(cs.id, cs.name)
    active = tuple(
        workflows[w]
        for w in cs.used_in_workflows
        if w in workflows and workflows[w].status in config.active_workflow_statuses
    )
    available = cs.available or 0
    threshold = settings.threshold(cs.quantity) if cs.is_multiple else None
    urgency = available / threshold if threshold else float(available + 1)
    known = fc is not None and fc.known
    days = fc.days_left if fc is not None and known else None
    if days is not None and settings.min_days_left is not None:
        urgency = min(urgency, days / settings.min_days_left)
    cover = _cover_target(settings, fc, threshold) if threshold is not None else None
    target = (settings.refill_to if cover is None else cover) if cs.is_multiple else None
    base = Decision(
        cs,
        Action.SKIP,
        "",
        rule=rule,
        settings=settings,
        threshold=threshold,
        active_workflows=active,
        workflow_ids=cs.used_in_workflows,
        urgency=urgency,
        forecast=fc,
        target=target,
    )

    def skip(why: Skip, reason: str) -> Decision:
        return replace(base, skip=why, reason=reason)

    if not cs.is_multiple:
        return skip(Skip.SINGLE, f"{cs.type} set: one shared code, nothing to refill")
    if held is not None:
        return skip(Skip.UNRESOLVED, held)
    if not settings.enabled:
        return skip(Skip.DISABLED, f"disabled by {base.rule_label}")
    n_refs = len(cs.used_in_workflows)
    if settings.require_active_workflow and not active:
        if n_refs == 0:
            return skip(Skip.NO_ACTIVE_WORKFLOW, "no workflow uses it")
        return skip(
            Skip.NO_ACTIVE_WORKFLOW,
            f"none of the {plural(n_refs, 'workflow')} that use it is active",
        )
    busy = activity.hold(cs.id, now)
    if busy is not None:
        return skip(*busy)
    last_started = activity.last_refill.get(cs.id)
    assert threshold is not None and target is not None

    # What the forecast says, and what stands in for it when it is unknown.
    min_days = settings.min_days_left
    why = "no history" if fc is None else fc.note if not known else "available unknown"

    def unknown(*instead: str) -> str:
        """ "; forecast unknown: ...; using ..." for the keys standing in ("" for none)."""
        used = [key for key in instead if key]
        return f"; forecast unknown: {why}; using {' and '.join(used)}" if used else ""

    no_days = _threshold_key(settings) if min_days is not None and days is None else ""
    no_cover = "refill_to" if settings.cover_days is not None and cover is None else ""
    burn = f"burn {format_rate(fc.burn_per_day)}" if fc and fc.burn_per_day is not None else ""
    by_days = min_days is not None and days is not None and days < min_days

    below = available < threshold
    if not below and not by_days:
        reason = f"available {available:,} is not below the threshold {threshold:,}"
        if min_days is not None and days is not None:
            lasts = "no demand" if math.isinf(days) else f"empties in {format_days(days)}"
            reason += f"; {lasts}, not within min_days_left {min_days:g}; {burn}"
        return skip(Skip.ABOVE_THRESHOLD, reason + unknown(no_days))
    if settings.cooldown and last_started is not None:
        since = (now - last_started).total_seconds()
        if since < settings.cooldown:
            return skip(
                Skip.COOLDOWN,
                f"last import {_ago(max(0.0, since))} ago; cooldown is {_ago(settings.cooldown)}",
            )
    wanted = target - available
    if wanted <= 0:
        if cover is not None:
            sizing = _sizing(settings, fc, target, threshold)
            return skip(Skip.AT_TARGET, f"available {available:,} already reaches {sizing}")
        return skip(
            Skip.AT_TARGET,
            f"available {available:,} already reaches refill_to {settings.refill_to:,}"
            + unknown(no_cover),
        )
    count = min(wanted, settings.max_per_run)
    uses = f"{plural(len(active), 'active workflow')}" if active else "no active workflow required"
    if below:
        reason = f"available {available:,} < {threshold:,}; {uses}"
    else:
        assert days is not None and min_days is not None
        reason = f"empties in {format_days(days)} < min_days_left {min_days:g}; {burn}; {uses}"
    if cover is not None:
        reason += f"; to {_sizing(settings, fc, target, threshold)}"
    reason += unknown(no_days, no_cover)
    if count < wanted:
        reason += f"; capped at max_per_run {settings.max_per_run:,}"
    return replace(base, action=Action.REFILL, count=count, reason=reason)
