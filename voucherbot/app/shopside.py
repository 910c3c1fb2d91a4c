"""What the shop says back: the end date of its codes (the planner's expiry cap) and, for
the report, the codes redeemed there, checked against what Connectif was given (leaks).

Only the native connectors (``shopify``, ``woocommerce``) can be read back
(:class:`~voucherbot.shop.base.ShopReader`); each shop is read once, however many sets use it.
A shop that cannot be read gives a warning, never a silent gap: the refill's own delivery
checks the shop again and fails loudly.

A *leak* is a code redeemed in the shop that Connectif never assigned. Connectif cannot list
its assigned codes, so two checks stand in, both sure when they fire:

* a redeemed code whose batch never reached Connectif (refused by the shop, rejected by the
  import, or its batch ended before an import existed): counted for its set;
* more codes of a set redeemed than Connectif says it assigned (``assigned``): the excess.

Codes in a Shopify discount that voucherbot never issued, redeemed, are named in a warning of
their own (someone else added them). In WooCommerce every other coupon of the shop is
someone else's, so they are left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from voucherbot.config.settings import ShopSettings
from voucherbot.errors import VoucherbotError
from voucherbot.ledger import Ledger
from voucherbot.planning.planner import Decision
from voucherbot.report.model import ShopFacts
from voucherbot.shop.base import ShopReader, ShopTerms, ShopUsage, Sink
from voucherbot.shop.sinks import make_sink
from voucherbot.text import clean, plural

#: Records (Shopify used codes, WooCommerce orders) a report reads of each shop at most.
USAGE_LIMIT = 10_000

SinkFor = Callable[[ShopSettings], Sink]


def sinks(env: Mapping[str, str] | None = None) -> SinkFor:
    """Each shop's sink, built once (from ``env``, default the process's environment)."""
    built: dict[ShopSettings, Sink] = {}

    def sink_for(shop: ShopSettings) -> Sink:
        if shop not in built:
            built[shop] = make_sink(shop.sink, env=env)
        return built[shop]

    return sink_for


@dataclass
class _Shop:
    """One shop (its sink settings) and the sets it serves."""

    reader: ShopReader
    decisions: list[Decision]
    terms: ShopTerms | None = None
    usage: ShopUsage | None = None


def _shops(decisions: Iterable[Decision], sink_for: SinkFor, warnings: list[str]) -> list[_Shop]:
    shops: dict[object, _Shop] = {}
    for d in decisions:
        shop = d.settings.shop
        if not d.coupon_set.is_multiple or shop.source != "generate":
            continue
        if shop.sink in shops:
            shops[shop.sink].decisions.append(d)
            continue
        if shop.sink.kind not in ("shopify", "woocommerce"):
            continue
        try:
            sink = sink_for(shop)
        except VoucherbotError as exc:
            warnings.append(f"cannot read the {shop.sink.kind} shop back: {exc}")
            continue
        if isinstance(sink, ShopReader):
            shops[shop.sink] = _Shop(sink, [d])
    return list(shops.values())


def _read_terms(shop: _Shop, warnings: list[str]) -> None:
    try:
        shop.terms = shop.reader.terms()
    except VoucherbotError as exc:
        warnings.append(f"could not read the shop's end date: {exc}")


def shop_ends(
    decisions: Sequence[Decision], sink_for: SinkFor
) -> tuple[dict[str, datetime], list[str]]:
    """The end date of the codes of each refill's shop, by coupon set id (sets whose shop
    has none are left out), and a warning for each shop that could not be read."""
    warnings: list[str] = []
    ends: dict[str, datetime] = {}
    for shop in _shops((d for d in decisions if d.is_refill), sink_for, warnings):
        _read_terms(shop, warnings)
        if shop.terms is not None and shop.terms.ends_at is not None:
            ends.update((d.coupon_set.id, shop.terms.ends_at) for d in shop.decisions)
    return ends, warnings


def shop_facts(
    decisions: Sequence[Decision], sink_for: SinkFor, ledger: Ledger | None
) -> tuple[dict[str, ShopFacts], list[str]]:
    """What each shop says of every set it serves (end date, redeemed codes, leaks), by
    coupon set id, and the warnings: shops that could not be read, and every leak."""
    warnings: list[str] = []
    facts: dict[str, ShopFacts] = {}
    for shop in _shops(decisions, sink_for, warnings):
        _read_terms(shop, warnings)
        set_ids = {d.coupon_set.id for d in shop.decisions}
        since = ledger.first_batch_at(set_ids) if ledger is not None else None
        if since is not None:  # no batch yet: none of its codes can have been redeemed
            try:
                shop.usage = shop.reader.usage(since, USAGE_LIMIT)
            except VoucherbotError as exc:
                warnings.append(f"could not read the codes redeemed in the shop: {exc}")
        facts.update(_facts_of(shop, ledger, warnings))
    return facts, warnings


def _facts_of(shop: _Shop, ledger: Ledger | None, warnings: list[str]) -> dict[str, ShopFacts]:
    terms, usage = shop.terms, shop.usage
    redeemed: dict[str, int] = {}
    lost: dict[str, int] = {}
    if usage is not None and ledger is not None:
        fates = ledger.fates(usage.redeemed)
        for fate in fates.values():
            bucket = lost if fate.imported is False else redeemed
            bucket[fate.coupon_set_id] = bucket.get(fate.coupon_set_id, 0) + 1
        foreign = len(usage.redeemed) - len(fates)
        sink = shop.decisions[0].settings.shop.sink
        if foreign and sink.kind == "shopify":
            warnings.append(
                f"{plural(foreign, 'code')} redeemed in the Shopify discount "
                f"{sink.discount_id} {'was' if foreign == 1 else 'were'} never issued by "
                "voucherbot: codes added to it by someone else, which Connectif did not assign "
                "through voucherbot (a leak, unless they were meant)"
            )
    out: dict[str, ShopFacts] = {}
    for d in shop.decisions:
        cs = d.coupon_set
        used = redeemed.get(cs.id, 0) if usage is not None else None
        never = lost.get(cs.id, 0)
        excess = max(0, (used or 0) - cs.assigned)
        leaked = never + excess
        if leaked:
            why = []
            if never:
                why.append(f"{plural(never, 'code')} Connectif never got")
            if excess:
                why.append(f"{excess:,} more than the {cs.assigned:,} it assigned")
            warnings.append(
                f"LEAK: coupon set {cs.name!r} ({cs.id}): {plural(leaked, 'code')} redeemed in "
                f"the shop that Connectif never assigned ({'; '.join(why)}); find where the "
                "codes got out, and end them in the shop"
            )
        out[cs.id] = ShopFacts(
            ends_at=terms.ends_at if terms is not None else None,
            live=terms.live if terms is not None else None,
            state=clean(terms.state) if terms is not None else "",
            redeemed=used,
            leaked=leaked if usage is not None else None,
            usage_read=usage.read if usage is not None else "",
            usage_complete=usage.complete if usage is not None else True,
        )
    return out
