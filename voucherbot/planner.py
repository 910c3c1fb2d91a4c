"""The planner: which coupon sets to refill, by how much, and why (PURE: no I/O, no clock).

:func:`plan` takes the coupon sets, the workflows, the validated rules, the imports Connectif
knows about and ``now``, and returns one :class:`Decision` per set: refill N codes, with the
reason, or skip, with the reason. The checks run in this order, and the first that applies
decides:

1. ``single`` set: one shared code, nothing to refill;
2. the matching rule (or ``[defaults]``) has ``enabled = false``;
3. ``require_active_workflow`` and no workflow that uses the set has an active status;
4. an import for the set is still ``queued`` or ``inProgress``;
5. ``available`` is at or above the threshold (``min_available`` or ``min_available_percent``);
6. the last import into the set started less than ``cooldown`` ago;
7. ``available`` already reaches ``refill_to``;
8. otherwise: refill ``refill_to - available`` codes, capped at ``max_per_run``.

Refills come first, the emptiest (lowest ``available`` / threshold) first; then the skips.
Ties are broken by name and id, so the same input always gives the same plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from voucherbot.codes import guessability_warning
from voucherbot.config import Config, Rule, RuleSettings
from voucherbot.models import CouponSet, Import, Workflow


class Action(StrEnum):
    REFILL = "refill"
    SKIP = "skip"


class Skip(StrEnum):
    """Why a set is left alone (stable strings: they appear in the JSON report)."""

    SINGLE = "single-set"
    DISABLED = "disabled"
    NO_ACTIVE_WORKFLOW = "no-active-workflow"
    IN_FLIGHT = "import-in-flight"
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
    urgency: float = 0.0  #: available / threshold; lower is more urgent

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


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def plan(
    coupon_sets: Iterable[CouponSet],
    workflows: Iterable[Workflow],
    config: Config,
    imports: Iterable[Import],
    now: datetime,
) -> Plan:
    """Decide, for every coupon set, whether to refill it and by how much (see module doc)."""
    by_id = {w.id: w for w in workflows}
    warnings: list[str] = []
    for w in by_id.values():
        status = w.status or "(none)"
        if (w.status not in config.active_workflow_statuses
                and w.status not in config.inactive_workflow_statuses):
            warnings.append(
                f"workflow {w.name!r} ({w.id}) has unknown status {status!r}; treated as not "
                "active (add it to active_workflow_statuses or inactive_workflow_statuses)")
    in_flight: dict[str, Import] = {}
    last_started: dict[str, datetime] = {}
    for imp in imports:
        set_id = imp.coupon_set_id
        if set_id is None:
            continue
        if not imp.is_terminal:
            in_flight.setdefault(set_id, imp)
        if imp.created_at is not None and (set_id not in last_started
                                           or imp.created_at > last_started[set_id]):
            last_started[set_id] = imp.created_at
    decisions = []
    for cs in coupon_sets:
        missing = [wid for wid in cs.used_in_workflows if wid not in by_id]
        if missing:
            warnings.append(f"coupon set {cs.name!r} ({cs.id}) references unknown workflow(s) "
                            f"{', '.join(missing)}; treated as not active")
        decisions.append(_decide(cs, by_id, config, in_flight.get(cs.id),
                                 last_started.get(cs.id), now))
    decisions.sort(key=lambda d: (not d.is_refill, d.urgency, d.coupon_set.name, d.coupon_set.id))
    for d in decisions:
        if d.is_refill:
            live = (d.coupon_set.available or 0) + d.count
            weak = guessability_warning(d.settings.code, live, config.guess_rate,
                                        config.min_guess_time)
            if weak:
                warnings.append(f"coupon set {d.coupon_set.name!r} ({d.coupon_set.id}), "
                                f"{d.rule_label}: {weak}")
    return Plan(tuple(decisions), tuple(warnings), now)


def _decide(
    cs: CouponSet,
    workflows: dict[str, Workflow],
    config: Config,
    in_flight: Import | None,
    last_started: datetime | None,
    now: datetime,
) -> Decision:
    rule, settings = config.rule_for(cs.id, cs.name)
    active = tuple(workflows[w] for w in cs.used_in_workflows
                   if w in workflows and workflows[w].status in config.active_workflow_statuses)
    available = cs.available or 0
    threshold = settings.threshold(cs.quantity) if cs.is_multiple else None
    urgency = available / threshold if threshold else float(available + 1)
    base = Decision(cs, Action.SKIP, "", rule=rule, settings=settings, threshold=threshold,
                    active_workflows=active, workflow_ids=cs.used_in_workflows, urgency=urgency)

    def skip(why: Skip, reason: str) -> Decision:
        return replace(base, skip=why, reason=reason)

    if not cs.is_multiple:
        return skip(Skip.SINGLE, f"{cs.type} set: one shared code, nothing to refill")
    if not settings.enabled:
        return skip(Skip.DISABLED, f"disabled by {base.rule_label}")
    n_refs = len(cs.used_in_workflows)
    if settings.require_active_workflow and not active:
        if n_refs == 0:
            return skip(Skip.NO_ACTIVE_WORKFLOW, "no workflow uses it")
        return skip(Skip.NO_ACTIVE_WORKFLOW,
                    f"none of the {_plural(n_refs, 'workflow')} that use it is active")
    if in_flight is not None:
        return skip(Skip.IN_FLIGHT, f"import {in_flight.id} is still {in_flight.status}")
    assert threshold is not None
    if available >= threshold:
        return skip(Skip.ABOVE_THRESHOLD,
                    f"available {available:,} is not below the threshold {threshold:,}")
    if settings.cooldown and last_started is not None:
        since = (now - last_started).total_seconds()
        if since < settings.cooldown:
            return skip(Skip.COOLDOWN, f"last import {_ago(max(0.0, since))} ago; cooldown is "
                                       f"{_ago(settings.cooldown)}")
    wanted = settings.refill_to - available
    if wanted <= 0:
        return skip(Skip.AT_TARGET, f"available {available:,} already reaches refill_to "
                                    f"{settings.refill_to:,}")
    count = min(wanted, settings.max_per_run)
    uses = (f"{_plural(len(active), 'active workflow')}" if active
            else "no active workflow required")
    reason = f"available {available:,} < {threshold:,}; {uses}"
    if count < wanted:
        reason += f"; capped at max_per_run {settings.max_per_run:,}"
    return replace(base, action=Action.REFILL, count=count, reason=reason)
