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

Then :func:`cap_by_expiry` holds each refill to what can be handed out before the shop's
codes stop redeeming (the end date a shop connector reads): a set whose codes have ended is
skipped (``shop-expired``); with a known forecast, the refill is capped at the forecast
demand until that date less ``available``, and skipped when ``available`` covers it
(``covers-until-expiry``); with the forecast unknown it is not capped, and the reason says so.

The target is ``refill_to``; with ``cover_days`` and a known forecast it is
``ceil(burn_per_day * cover_days * safety_factor)`` instead, but never below the threshold
(so a refill always lifts the set out of "below the threshold"). ``cover_days`` wins over
``refill_to`` whenever the forecast is known; ``refill_to`` is the fallback
(:mod:`~voucherbot.planning.sizing`). What the imports say (checks 5 and 7) is read by
:class:`~voucherbot.planning.imports.ImportActivity`.

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

from voucherbot.codes import guessability_warning
from voucherbot.config.settings import Config, Rule, RuleSettings
from voucherbot.connectif.models import CouponSet, Import, Workflow
from voucherbot.planning.actions import Action, Skip
from voucherbot.planning.forecast import Forecast, Snapshot, forecast
from voucherbot.planning.imports import ImportActivity
from voucherbot.planning.sizing import Sizing, days_left, urgency
from voucherbot.text import format_days, format_rate, plural

__all__ = [
    "Action",
    "Decision",
    "ImportActivity",
    "Plan",
    "Skip",
    "cap_by_expiry",
    "plan",
    "unmatched_rules",
]


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
    warnings = _status_warnings(by_id.values(), config)
    activity = ImportActivity.of(imports, now, config.imports.counter_lag)
    decisions = []
    for cs in coupon_sets:
        if complete:
            warnings += _unknown_workflow_warnings(cs, by_id)
        fc = _forecast(cs, history, now, config) if history is not None else None
        decision = _decide(cs, by_id, config, activity, (held or {}).get(cs.id), now, fc)
        if decision.skip is Skip.UNRESOLVED:
            warnings.append(f"coupon set {cs.name!r} ({cs.id}) is held: {decision.reason}")
        missed = (shortfalls or {}).get(cs.id, 0)
        decisions.append(_top_up(decision, missed, activity, now))
    decisions.sort(key=_order)
    warnings += _guessability_warnings(decisions, config)
    return Plan(tuple(decisions), tuple(warnings), now)


def cap_by_expiry(the_plan: Plan, ends: Mapping[str, datetime]) -> Plan:
    """The plan with each refill held to the demand until its shop's end date (``ends``, by
    coupon set id; see the module doc). A set without an end date is left as it is."""
    if not ends or the_plan.now is None:
        return the_plan
    now = the_plan.now
    capped = [_expiry_cap(d, ends.get(d.coupon_set.id), now) for d in the_plan.decisions]
    return replace(the_plan, decisions=tuple(sorted(capped, key=_order)))


def _expiry_cap(d: Decision, end: datetime | None, now: datetime) -> Decision:
    if not d.is_refill or end is None:
        return d
    when = f"{end:%Y-%m-%d %H:%M} UTC"
    if end <= now:
        return replace(
            d,
            action=Action.SKIP,
            count=0,
            skip=Skip.SHOP_EXPIRED,
            reason=f"the shop's codes stopped redeeming on {when}: new ones would not work; "
            "extend the discount's end date (or the template coupon's expiry) in the shop",
        )
    fc = d.forecast
    if fc is None or not fc.known or fc.burn_per_day is None:
        return replace(
            d,
            reason=f"{d.reason}; the shop's codes end {when} (forecast unknown: not capped by it)",
        )
    days = (end - now).total_seconds() / 86400
    demand = math.ceil(fc.burn_per_day * days - 1e-9)
    available = d.coupon_set.available or 0
    room = demand - available
    until = (
        f"the forecast demand until the shop's codes end {when} ({demand:,} = "
        f"{format_days(days)} × {format_rate(fc.burn_per_day)})"
    )
    if room <= 0:
        return replace(
            d,
            action=Action.SKIP,
            count=0,
            skip=Skip.UNTIL_EXPIRY,
            reason=f"available {available:,} covers {until}",
        )
    if d.count <= room:
        return d
    return replace(d, count=room, reason=f"{d.reason}; capped at {room:,}: {until}")


def _status_warnings(workflows: Iterable[Workflow], config: Config) -> list[str]:
    """A warning for each workflow whose status is neither active nor inactive."""
    known = config.active_workflow_statuses | config.inactive_workflow_statuses
    return [
        f"workflow {w.name!r} ({w.id}) has unknown status {w.status or '(none)'!r}; treated as "
        "not active (add it to active_workflow_statuses or inactive_workflow_statuses)"
        for w in workflows
        if w.status not in known
    ]


def _unknown_workflow_warnings(cs: CouponSet, workflows: Mapping[str, Workflow]) -> list[str]:
    """A warning when the set references workflows that were not listed."""
    missing = [wid for wid in cs.used_in_workflows if wid not in workflows]
    if not missing:
        return []
    return [
        f"coupon set {cs.name!r} ({cs.id}) references unknown workflow(s) "
        f"{', '.join(missing)}; treated as not active"
    ]


def _forecast(
    cs: CouponSet, history: Mapping[str, Sequence[Snapshot]], now: datetime, config: Config
) -> Forecast | None:
    """A multiple set's forecast from its history, its current counters the newest snapshot."""
    if not cs.is_multiple:
        return None
    current = Snapshot(now, cs.available, cs.assigned, cs.quantity)
    return forecast([*history.get(cs.id, ()), current], now, config.forecast)


def _guessability_warnings(decisions: Iterable[Decision], config: Config) -> list[str]:
    """A warning for each refill whose code shape would be too easy to guess once imported."""
    warnings = []
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
    return warnings


def unmatched_rules(config: Config, coupon_sets: Iterable[CouponSet]) -> list[str]:
    """A warning for each rule whose match fits none of the sets (a typo in a glob, a set
    that was renamed), for the report."""
    listed = list(coupon_sets)
    return [
        f"{rule.label} ({rule.match.describe()}) matches no coupon set; check its match"
        for rule in config.rules
        if not any(rule.match.matches(cs.id, cs.name) for cs in listed)
    ]


def _top_up(d: Decision, missed: int, activity: ImportActivity, now: datetime) -> Decision:
    """Refill the codes the set's last import failed to bring in, up to its target.

    Rules still apply: only sets above their threshold come here (below it they are refilled
    anyway), the cooldown holds, and neither the target nor ``max_per_run`` is passed.
    """
    if missed <= 0 or d.skip not in (Skip.ABOVE_THRESHOLD, Skip.AT_TARGET):
        return d
    available = d.coupon_set.available or 0
    room = (d.target or 0) - available
    count = min(missed, room, d.settings.max_per_run)
    if count <= 0:
        return d
    cooling = activity.cooling_down(d.coupon_set.id, d.settings.cooldown, now)
    if cooling is not None:
        return replace(
            d,
            skip=Skip.COOLDOWN,
            reason=f"{missed:,} codes of the last import are missing; {cooling}",
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


#: why a set is skipped: the Skip and the reason text (None: the check does not apply)
_Skipped = tuple[Skip, str] | None


def _decide(
    cs: CouponSet,
    workflows: dict[str, Workflow],
    config: Config,
    activity: ImportActivity,
    held: str | None,
    now: datetime,
    fc: Forecast | None = None,
) -> Decision:
    """The checks of the module doc, in its order: the first that applies decides."""
    base, sizing = _assess(cs, workflows, config, fc)
    if sizing is None:
        return replace(
            base, skip=Skip.SINGLE, reason=f"{cs.type} set: one shared code, nothing to refill"
        )
    skipped = (
        _held(held)
        or _disabled(base)
        or _no_active_workflow(base)
        or activity.hold(cs.id, now)
        or _above_threshold(sizing)
        or _cooldown(base, activity, now)
        or _at_target(sizing)
    )
    if skipped is not None:
        return replace(base, skip=skipped[0], reason=skipped[1])
    return _refill(base, sizing)


def _assess(
    cs: CouponSet, workflows: dict[str, Workflow], config: Config, fc: Forecast | None
) -> tuple[Decision, Sizing | None]:
    """What the set is judged by (its rule, active workflows, threshold, target, urgency) as a
    skip without a reason yet, and its sizing (None for a single set)."""
    rule, settings = config.rule_for(cs.id, cs.name)
    active = tuple(
        workflows[w]
        for w in cs.used_in_workflows
        if w in workflows and workflows[w].status in config.active_workflow_statuses
    )
    sizing = Sizing.of(cs, settings, fc) if cs.is_multiple else None
    threshold = sizing.threshold if sizing else None
    base = Decision(
        cs,
        Action.SKIP,
        "",
        rule=rule,
        settings=settings,
        threshold=threshold,
        active_workflows=active,
        workflow_ids=cs.used_in_workflows,
        urgency=urgency(cs.available or 0, threshold, days_left(fc), settings.min_days_left),
        forecast=fc,
        target=sizing.target if sizing else None,
    )
    return base, sizing


def _held(held: str | None) -> _Skipped:
    return None if held is None else (Skip.UNRESOLVED, held)


def _disabled(d: Decision) -> _Skipped:
    return None if d.settings.enabled else (Skip.DISABLED, f"disabled by {d.rule_label}")


def _no_active_workflow(d: Decision) -> _Skipped:
    if not d.settings.require_active_workflow or d.active_workflows:
        return None
    n_refs = len(d.workflow_ids)
    if n_refs == 0:
        return Skip.NO_ACTIVE_WORKFLOW, "no workflow uses it"
    return (
        Skip.NO_ACTIVE_WORKFLOW,
        f"none of the {plural(n_refs, 'workflow')} that use it is active",
    )


def _above_threshold(s: Sizing) -> _Skipped:
    """Neither trigger fired: ``available`` is not below the threshold, and the forecast (if
    ``min_days_left`` is set and it is known) does not say the set empties in time."""
    if s.below or s.runs_dry:
        return None
    reason = f"available {s.available:,} is not below the threshold {s.threshold:,}"
    min_days = s.settings.min_days_left
    if min_days is not None and s.days is not None:
        lasts = "no demand" if math.isinf(s.days) else f"empties in {format_days(s.days)}"
        reason += f"; {lasts}, not within min_days_left {min_days:g}; {s.burn}"
    return Skip.ABOVE_THRESHOLD, reason + s.fallback(s.days_stand_in)


def _cooldown(d: Decision, activity: ImportActivity, now: datetime) -> _Skipped:
    cooling = activity.cooling_down(d.coupon_set.id, d.settings.cooldown, now)
    return None if cooling is None else (Skip.COOLDOWN, cooling)


def _at_target(s: Sizing) -> _Skipped:
    if s.target - s.available > 0:
        return None
    if s.cover is not None:
        return Skip.AT_TARGET, f"available {s.available:,} already reaches {s.cover_text()}"
    return Skip.AT_TARGET, (
        f"available {s.available:,} already reaches refill_to {s.settings.refill_to:,}"
        + s.fallback(s.cover_stand_in)
    )


def _refill(d: Decision, s: Sizing) -> Decision:
    """Refill ``target - available`` codes, capped at ``max_per_run``, and say why."""
    wanted = s.target - s.available
    count = min(wanted, s.settings.max_per_run)
    active = d.active_workflows
    uses = plural(len(active), "active workflow") if active else "no active workflow required"
    if s.below:
        reason = f"available {s.available:,} < {s.threshold:,}; {uses}"
    else:
        min_days = s.settings.min_days_left
        assert s.days is not None and min_days is not None
        reason = f"empties in {format_days(s.days)} < min_days_left {min_days:g}; {s.burn}; {uses}"
    if s.cover is not None:
        reason += f"; to {s.cover_text()}"
    reason += s.fallback(s.days_stand_in, s.cover_stand_in)
    if count < wanted:
        reason += f"; capped at max_per_run {s.settings.max_per_run:,}"
    return replace(d, action=Action.REFILL, count=count, reason=reason)
