"""Delivering generated codes to the shop's sink before Connectif gets them.

A batch's codes are kept in its file (mode 0600, beside the ledger:
:mod:`voucherbot.ledger.pending`) until it is submitted, so an interrupted delivery can be made
again with the same codes and batch id (the same sink batch id, too:
:meth:`~voucherbot.ledger.Ledger.sink_batch_id`). A refusal fails the batch: nothing of it is
imported. Codes from the shop's own pool, and sinks that do not register codes, are not
delivered.
"""

from __future__ import annotations

from collections.abc import Callable

from voucherbot.config.settings import ShopSettings, SinkSettings
from voucherbot.ledger import Batch, Ledger
from voucherbot.ledger.pending import KeptCodes
from voucherbot.refill import failpoints
from voucherbot.shop.sinks import Sink, SinkBatch, SinkError


class Delivery:
    """The shop sinks of one run, each built once from its settings, and deliveries to them."""

    def __init__(self, ledger: Ledger, factory: Callable[[SinkSettings], Sink]) -> None:
        self.ledger = ledger
        self._factory = factory
        self._sinks: dict[SinkSettings, Sink] = {}

    def sink(self, shop: ShopSettings) -> Sink:
        if shop.sink not in self._sinks:
            self._sinks[shop.sink] = self._factory(shop.sink)
        return self._sinks[shop.sink]

    def deliver(
        self, batch: Batch, codes: KeptCodes, shop: ShopSettings, *, again: bool = False
    ) -> Batch:
        """Hand a batch's codes to the shop's sink (``again``: a delivery an earlier run
        began, its codes kept); returns the batch ``delivered``, ``failed``, or as it was when
        nothing is delivered."""
        sink = self.sink(shop)
        if shop.source == "pool" or not sink.registers_codes:
            return batch
        if not again:
            batch = self.ledger.mark_delivering(batch.id)
        failpoints.hit("delivering")
        try:
            sink.deliver(
                SinkBatch(
                    batch.coupon_set_id,
                    batch.coupon_set_name,
                    self.ledger.sink_batch_id(batch),
                    codes,
                )
            )
        except SinkError as exc:
            self.ledger.forget_codes(batch.id)
            return self.ledger.mark_failed(
                batch.id,
                f"{sink.describe()} did not take the codes, so none were imported: {exc}",
            )
        return self.ledger.mark_delivered(batch.id)
