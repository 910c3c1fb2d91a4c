"""What a decision can say: refill or skip, and why a set is skipped (the planner's words)."""

from __future__ import annotations

from enum import StrEnum


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
    SHOP_EXPIRED = "shop-expired"  #: the shop's codes no longer redeem
    UNTIL_EXPIRY = "covers-until-expiry"  #: available covers the demand until the shop's end
