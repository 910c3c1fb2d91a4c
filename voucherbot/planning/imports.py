"""What the imports Connectif knows about say about each coupon set (PURE: no I/O, no clock):
an import still in flight, one that ended too recently for the counters to show it, and the
cooldown since the last import that brought codes in (checks 5 and 7 of the planner)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from voucherbot.connectif.models import Import, ImportStatus
from voucherbot.planning.actions import Skip
from voucherbot.text import format_ago


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
                imp.status == ImportStatus.FINISHED
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
                f"import {imp.id} ended {format_ago(max(0.0, (now - ended).total_seconds()))} ago; "
                "Connectif's counters may not show its codes yet (they trail imports by up to "
                f"counter_lag {format_ago(self.counter_lag)})"
            )
        return None

    def cooling_down(self, set_id: str, cooldown: float, now: datetime) -> str | None:
        """ "last import ... ago; cooldown is ..." while the set's cooldown holds, else None (an
        import that failed, or brought no codes, starts no cooldown)."""
        last_started = self.last_refill.get(set_id)
        if not cooldown or last_started is None:
            return None
        since = (now - last_started).total_seconds()
        if since >= cooldown:
            return None
        return f"last import {format_ago(max(0.0, since))} ago; cooldown is {format_ago(cooldown)}"
