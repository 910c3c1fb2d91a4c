"""Deterministic seed data for the sandbox: coupon sets and the workflows that use them.

The same ``seed`` (and ``anchor``) always gives the same data; different seeds give different
names, ids, counters and links. Faker (seeded with ``Faker.seed_instance``) supplies the words,
a ``random.Random(seed)`` the structure. This is fake *data* only: the sandbox never generates
voucher codes for the client.

Documented sandbox choices where Connectif is silent (CONNECTIF_API.md §5, §11):

* Workflow ``status`` is one of :data:`WORKFLOW_STATUSES` ``draft``, ``active``, ``paused``,
  ``finalized`` (renameable through ``SandboxConfig.workflow_statuses``, same order). Only the
  second value means the workflow is running.
* A ``multiple`` set keeps ``quantity == assigned + available``. A ``single`` set has its shared
  ``code``; ``quantity`` and ``available`` are null when its uses are unlimited.

What the seed guarantees (the planner and report tests lean on it): 12 workflows in all four
statuses (4-6 active); 10 ``multiple`` sets, among them three low sets (available under 10 %
of quantity *and* under 200) used by active workflows, a low set used only by non-active
workflows, a low set used by none, a healthy set used only by non-active workflows, a full set
used by none and a full set used by an active workflow; and 4 ``single`` sets, two unlimited and
two with a maximum number of uses. Every ``usedInWorkflows`` id is a listed workflow.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from faker import Faker

from voucherbot.sandbox.config import WORKFLOW_STATUSES

__all__ = [
    "WORKFLOW_STATUSES",
    "CouponSetRecord",
    "SeedData",
    "WorkflowRecord",
    "generate",
    "iso",
    "object_id",
]

DAY = 86_400.0

_CATEGORIES = (
    "sneakers",
    "skincare",
    "coffee",
    "kitchenware",
    "swimwear",
    "headphones",
    "yoga mats",
    "pet food",
    "board games",
    "sunglasses",
    "backpacks",
    "candles",
    "running gear",
    "tea",
    "bedding",
    "watches",
)
_SEASONS = ("Spring", "Summer", "Autumn", "Winter")
#: Spelled out here: Faker's ``month_name()`` picks a random *date* up to now, so its answer
#: (and every word drawn after it) would depend on the wall clock, not on the seed alone.
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

_WORKFLOW_NAMES = (
    "Welcome series – {brand} newsletter",
    "Abandoned cart reminder",
    "Birthday greeting with gift",
    "Win-back after 90 days",
    "Post-purchase review request",
    "Black Friday {year} teaser",
    "Browse abandonment – {category}",
    "VIP loyalty programme",
    "Back in stock – {category}",
    "Christmas {year} campaign",
    "Re-engagement {month}",
    "Referral programme – {brand}",
    "Summer sale {year}",
    "Price drop alert – {category}",
)

_MULTIPLE_NAMES = (
    "WELCOME-{pct} {season} newsletter",
    "Cart recovery {pct}%",
    "Birthday gift {pct}% – {brand}",
    "Win-back {pct}% {month}",
    "Black Friday {year} – {category}",
    "Free shipping {category}",
    "Referral reward {brand}",
    "Review thank-you {pct}%",
    "VIP {season} {pct}% off",
    "Post-purchase {category} {pct}%",
    "Browse abandonment {category} {pct}%",
    "Loyalty tier {color} {pct}%",
)

_SINGLE_CODES = (
    ("WELCOME{pct}", "Welcome code {code}"),
    ("FREESHIP{year2}", "Free shipping code {code}"),
    ("SUMMER{pct}", "Summer promo {code} – {category}"),
    ("{BRAND}{pct}", "{brand} partner code {code}"),
    ("BIRTHDAY{pct}", "Birthday code {code}"),
    ("THANKYOU{pct}", "Thank-you code {code} – {brand}"),
)

# Roles of the ten multiple sets: (stock level, which workflows use it).
_MULTIPLE_ROLES = (
    ("low", "active"),
    ("low", "active"),
    ("low", "active"),
    ("low", "inactive"),
    ("low", "none"),
    ("ok", "inactive"),
    ("ok", "active"),
    ("ok", "active"),
    ("full", "none"),
    ("full", "active"),
)


def iso(ts: float) -> str:
    """Unix seconds as ISO 8601 UTC with milliseconds and a ``Z``."""
    text = datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def object_id(ts: float, rnd: random.Random) -> str:
    """A 24-hex id shaped like a MongoDB ObjectId: creation second, then 8 random bytes."""
    return f"{int(ts) & 0xFFFFFFFF:08x}{rnd.getrandbits(64):016x}"


@dataclass
class WorkflowRecord:
    id: str
    name: str
    status: str
    created_at: float
    updated_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


@dataclass
class CouponSetRecord:
    id: str
    name: str
    type: str
    assigned: int
    quantity: int | None
    available: int | None
    created_at: float
    updated_at: float
    code: str | None = None
    workflow_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": self.id, "name": self.name, "type": self.type}
        if self.type == "single":
            doc["code"] = self.code
        doc.update(
            quantity=self.quantity,
            available=self.available,
            assigned=self.assigned,
            createdAt=iso(self.created_at),
            updatedAt=iso(self.updated_at),
            usedInWorkflows=[{"workflowId": w} for w in self.workflow_ids],
        )
        return doc


@dataclass(frozen=True)
class SeedData:
    coupon_sets: list[CouponSetRecord]
    workflows: list[WorkflowRecord]


class _Words:
    """Seeded sources of realistic words."""

    def __init__(self, seed: int, rnd: random.Random, anchor: datetime) -> None:
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.rnd = rnd
        self.year = anchor.year

    def values(self) -> dict[str, str]:
        """One consistent set of words for one record's templates."""
        brand = self.fake.last_name()
        return {
            "brand": brand,
            "BRAND": "".join(c for c in brand.upper() if c.isalpha())[:8],
            "category": self.fake.random_element(_CATEGORIES),
            "month": self.fake.random_element(_MONTHS),
            "color": self.fake.color_name(),
            "season": self.rnd.choice(_SEASONS),
            "year": str(self.year),
            "year2": str(self.year % 100),
            "pct": str(self.rnd.choice((5, 10, 15, 20, 25, 30))),
        }


def _times(rnd: random.Random, end: float) -> tuple[float, float]:
    created = end - rnd.uniform(20 * DAY, 700 * DAY)
    updated = created + rnd.uniform(0, end - created)
    return round(created, 3), round(updated, 3)


def _workflows(
    words: _Words,
    rnd: random.Random,
    end: float,
    seen: set[str],
    statuses: tuple[str, str, str, str],
) -> list[WorkflowRecord]:
    draft, active, paused, finalized = statuses
    n_active, n_final = rnd.randint(4, 6), rnd.randint(2, 3)
    chosen = [active] * n_active + [paused] * 2 + [finalized] * n_final
    chosen += [draft] * (12 - len(chosen))
    rnd.shuffle(chosen)
    names = rnd.sample(_WORKFLOW_NAMES, len(chosen))
    records = []
    for status, template in zip(chosen, names, strict=True):
        created, updated = _times(rnd, end)
        wid = _unique_id(created, rnd, seen)
        name = template.format(**words.values())
        records.append(WorkflowRecord(wid, name, status, created, updated))
    return records


def _multiple_counts(rnd: random.Random, level: str) -> tuple[int, int]:
    """(quantity, available) for a multiple set at a stock level."""
    quantity = rnd.choice((500, 1000, 2000, 2500, 5000, 10_000, 20_000))
    if level == "low":
        available = rnd.randint(0, min(199, quantity // 10 - 1))
    elif level == "ok":
        available = rnd.randint(max(200, quantity * 3 // 10), quantity * 9 // 10)
    else:
        available = quantity
    return quantity, available


def generate(
    seed: int, anchor: datetime, statuses: tuple[str, str, str, str] = WORKFLOW_STATUSES
) -> SeedData:
    """Build the seed data; timestamps fall before ``anchor`` (an aware datetime)."""
    rnd = random.Random(seed)  # noqa: S311 - fake data, never codes or secrets
    end = anchor.timestamp()
    words = _Words(seed, rnd, anchor)
    seen: set[str] = set()
    workflows = _workflows(words, rnd, end, seen, statuses)
    active = [w for w in workflows if w.status == statuses[1]]
    inactive = [w for w in workflows if w.status != statuses[1]]

    # one draw after another from ``rnd``, in this order: the data is the seed's
    sets = _multiple_sets(rnd, words, active, inactive, end, seen)
    sets += _single_sets(rnd, words, workflows, end, seen)

    # Creation order is the listing order; ids carry the creation second like ObjectIds.
    workflows.sort(key=lambda w: (w.created_at, w.id))
    sets.sort(key=lambda s: (s.created_at, s.id))
    return SeedData(coupon_sets=sets, workflows=workflows)


def _multiple_sets(
    rnd: random.Random,
    words: _Words,
    active: list[WorkflowRecord],
    inactive: list[WorkflowRecord],
    end: float,
    seen: set[str],
) -> list[CouponSetRecord]:
    """One ``multiple`` set per role: how full it is and which workflows use it."""
    sets: list[CouponSetRecord] = []
    names = rnd.sample(_MULTIPLE_NAMES, len(_MULTIPLE_ROLES))
    for (level, users), template in zip(_MULTIPLE_ROLES, names, strict=True):
        quantity, available = _multiple_counts(rnd, level)
        refs: list[WorkflowRecord] = []
        if users == "active":
            refs = rnd.sample(active, rnd.randint(1, 2))
            refs += rnd.sample(inactive, rnd.randint(0, 1))
        elif users == "inactive":
            refs = rnd.sample(inactive, rnd.randint(1, 2))
        created, updated = _times(rnd, end)
        sets.append(
            CouponSetRecord(
                _unique_id(created, rnd, seen),
                template.format(**words.values()),
                "multiple",
                quantity - available,
                quantity,
                available,
                created,
                updated,
                workflow_ids=[w.id for w in refs],
            )
        )
    return sets


def _single_sets(
    rnd: random.Random, words: _Words, workflows: list[WorkflowRecord], end: float, seen: set[str]
) -> list[CouponSetRecord]:
    """Four ``single`` sets: one shared code each, half with a limit of uses."""
    sets: list[CouponSetRecord] = []
    for n, (code_template, name_template) in enumerate(rnd.sample(_SINGLE_CODES, 4)):
        values = words.values()
        code = values["code"] = code_template.format(**values)
        max_uses: int | None = rnd.choice((200, 500, 1000)) if n % 2 else None
        uses = rnd.randint(0, max_uses) if max_uses else rnd.randint(50, 5000)
        left = max_uses - uses if max_uses else None
        refs = rnd.sample(workflows, rnd.randint(0, 2))
        created, updated = _times(rnd, end)
        sets.append(
            CouponSetRecord(
                _unique_id(created, rnd, seen),
                name_template.format(**values),
                "single",
                uses,
                max_uses,
                left,
                created,
                updated,
                code=code,
                workflow_ids=[w.id for w in refs],
            )
        )
    return sets


def _unique_id(ts: float, rnd: random.Random, seen: set[str]) -> str:
    while True:
        new = object_id(ts, rnd)
        if new not in seen:
            seen.add(new)
            return new
