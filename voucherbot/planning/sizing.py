"""How a multiple set measures up to its rule (PURE: no I/O, no clock): its threshold, the
target a refill lifts it to, how urgent it is, and how the reasons word the forecast.

The target is ``refill_to``; with ``cover_days`` and a known forecast it is
``ceil(burn_per_day * cover_days * safety_factor)`` instead, but never below the threshold.
When the forecast that ``min_days_left`` or ``cover_days`` needs is unknown, the absolute keys
stand in for them, and :meth:`Sizing.fallback` says which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voucherbot.planning.forecast import Forecast
from voucherbot.text import format_rate

if TYPE_CHECKING:
    from voucherbot.config.settings import RuleSettings
    from voucherbot.connectif.models import CouponSet


def days_left(fc: Forecast | None) -> float | None:
    """The forecast's days left, when the forecast is known."""
    return fc.days_left if fc is not None and fc.known else None


def urgency(
    available: int, threshold: int | None, days: float | None, min_days_left: float | None
) -> float:
    """The smallest trigger ratio: ``available / threshold`` and, when both are known,
    ``days / min_days_left`` (below 1: that trigger fired)."""
    ratio = available / threshold if threshold else float(available + 1)
    if days is not None and min_days_left is not None:
        ratio = min(ratio, days / min_days_left)
    return ratio


@dataclass(frozen=True)
class Sizing:
    """The numbers a multiple set is judged by: from its rule, its counters and its forecast."""

    settings: RuleSettings
    forecast: Forecast | None
    available: int
    threshold: int
    cover: int | None  #: the cover_days target; None when refill_to is the target
    days: float | None  #: days left, when the forecast is known

    @classmethod
    def of(cls, cs: CouponSet, settings: RuleSettings, fc: Forecast | None) -> Sizing:
        threshold = settings.threshold(cs.quantity)
        cover = _cover_target(settings, fc, threshold)
        return cls(settings, fc, cs.available or 0, threshold, cover, days_left(fc))

    @property
    def target(self) -> int:
        """Refill up to this many available: the cover_days target, else ``refill_to``."""
        return self.settings.refill_to if self.cover is None else self.cover

    @property
    def below(self) -> bool:
        """``available`` is below the threshold."""
        return self.available < self.threshold

    @property
    def runs_dry(self) -> bool:
        """The known forecast says the set empties within ``min_days_left``."""
        min_days = self.settings.min_days_left
        return min_days is not None and self.days is not None and self.days < min_days

    # --- how the reasons word it --------------------------------------------------------------

    @property
    def burn(self) -> str:
        """ "burn 410/day"; "" when the burn rate is unknown."""
        fc = self.forecast
        return f"burn {format_rate(fc.burn_per_day)}" if fc and fc.burn_per_day is not None else ""

    @property
    def days_stand_in(self) -> str:
        """The threshold key, when it stands in for ``min_days_left`` (no days left); else ""."""
        if self.settings.min_days_left is not None and self.days is None:
            return _threshold_key(self.settings)
        return ""

    @property
    def cover_stand_in(self) -> str:
        """ "refill_to", when it stands in for ``cover_days`` (no cover target); else ""."""
        return "refill_to" if self.settings.cover_days is not None and self.cover is None else ""

    def fallback(self, *instead: str) -> str:
        """ "; forecast unknown: ...; using ..." for the keys standing in ("" for none)."""
        used = [key for key in instead if key]
        if not used:
            return ""
        fc = self.forecast
        why = "no history" if fc is None else fc.note if not fc.known else "available unknown"
        return f"; forecast unknown: {why}; using {' and '.join(used)}"

    def cover_text(self) -> str:
        """How the cover_days target came about: "14,760 = 30 days × 410/day × 1.2"."""
        settings, fc, target = self.settings, self.forecast, self.target
        burn = fc.burn_per_day if fc is not None and fc.burn_per_day is not None else 0.0
        cover_days = settings.cover_days or 0
        formula = f"{cover_days:g} days × {format_rate(burn)} × {settings.safety_factor:g}"
        if target == self.threshold and burn * cover_days * settings.safety_factor < target:
            return f"{target:,}, the threshold ({formula} is less)"
        return f"{target:,} = {formula}"


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
