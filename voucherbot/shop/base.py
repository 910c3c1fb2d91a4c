"""What every shop sink shares: the batch it is handed, the protocol, its error, and the
cleaning of the texts a shop sends back (never a code, never a secret)."""

from __future__ import annotations

import random
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from voucherbot.errors import VoucherbotError


class SinkError(VoucherbotError):
    """The shop did not confirm a batch; its codes must not be imported into Connectif."""


#: The codes of a batch the shop refused, and why (in the shop's words, cleaned).
Refused = dict[str, str]


class Journal(Protocol):
    """Where a sink commits the shop's job ids of a batch, so that a delivery made again
    follows the jobs it started (the ledger, for a refill)."""

    def job(self, part: str) -> str | None: ...

    def record_job(self, part: str, job_id: str) -> None: ...


@dataclass(frozen=True)
class SinkBatch:
    coupon_set_id: str
    coupon_set_name: str
    batch_id: str  #: the ledger's id of the batch; the same on every re-delivery
    codes: Collection[str]  #: read as they are gone through (a batch's file)
    journal: Journal | None = None


class Sink(Protocol):
    kind: str
    registers_codes: bool

    def deliver(self, batch: SinkBatch) -> Refused:
        """Register the batch's codes; the codes the shop refused (with why), every other one
        accepted. SinkError when the shop did not answer for the batch: nothing is
        imported."""
        ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class ShopTerms:
    """What the shop says of the codes it takes for a set: when they stop redeeming
    (``ends_at``; None: never) and whether they redeem now (``live``, with ``state`` in the
    shop's words: "ACTIVE", "publish")."""

    ends_at: datetime | None
    live: bool
    state: str


@dataclass(frozen=True)
class ShopUsage:
    """The codes the shop has seen redeemed (each once), as far as it was read: ``complete``
    is False when the reading stopped at its limit (``read`` says what was read)."""

    redeemed: tuple[str, ...]
    complete: bool
    read: str


@runtime_checkable
class ShopReader(Protocol):
    """A sink that can also read back from the shop (the native connectors)."""

    def terms(self) -> ShopTerms:
        """The terms of the codes this sink creates; SinkError when the shop cannot say."""
        ...

    def usage(self, since: datetime | None, limit: int) -> ShopUsage:
        """The codes redeemed (since ``since``, when the shop can filter by time), reading at
        most ``limit`` records; SinkError when the shop cannot say."""
        ...


class Sample:
    """A uniform random sample of at most ``size`` of the codes added (reservoir sampling):
    the codes a connector looks up after a delivery, without holding the batch."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.codes: list[str] = []
        self._seen = 0
        self._pick = random.Random()  # noqa: S311 - picks codes to look up, not secrets

    def add(self, code: str) -> None:
        self._seen += 1
        if len(self.codes) < self.size:
            self.codes.append(code)
        else:
            slot = self._pick.randrange(self._seen)
            if slot < self.size:
                self.codes[slot] = code


def hide_codes(text: str, codes: Collection[str]) -> str:
    """Replace every code of the batch that ``text`` quotes with ``<code>``."""
    known = {code.lower() for code in codes}  # shops may echo a code lower-cased
    return re.sub(
        r"[^\s,;:\"'`()\[\]{}<>=]+",
        lambda m: "<code>" if {m[0].lower(), m[0].rstrip(".").lower()} & known else m[0],
        text,
    )


def shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shop_time(value: object) -> datetime | None:
    """A shop's ISO 8601 time (``2027-01-31T23:59:59Z``; UTC when it names no zone, as
    WooCommerce's ``_gmt`` fields); None when there is none or it is not a time."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
