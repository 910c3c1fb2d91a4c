"""Delivering generated codes to the shop's sink before Connectif gets them.

A batch's codes are kept in its file (mode 0600, beside the ledger:
:mod:`voucherbot.ledger.pending`) until it is submitted, so an interrupted delivery can be made
again with the same codes and batch id (the same sink batch id, too:
:meth:`~voucherbot.ledger.Ledger.sink_batch_id`). A refusal fails the batch: nothing of it is
imported. Codes from the shop's own pool, and sinks that do not register codes, are not
delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from voucherbot.codes import CodeSpec
from voucherbot.config.settings import ShopSettings, SinkSettings
from voucherbot.errors import VoucherbotError
from voucherbot.ledger import Batch, Ledger
from voucherbot.ledger.pending import KeptCodes
from voucherbot.refill import failpoints
from voucherbot.shop.sinks import Sink, SinkBatch, SinkError

log = logging.getLogger("voucherbot.refill")  # its name in logs since before the subpackages


#: Rounds of replacements for codes the shop refused, before the batch goes on without them.
REPLACE_ROUNDS = 3


class Delivery:
    """The shop sinks of one run, each built once from its settings, and deliveries to them."""

    def __init__(
        self,
        ledger: Ledger,
        factory: Callable[[SinkSettings], Sink],
        notes: dict[int, str] | None = None,
    ) -> None:
        self.ledger = ledger
        self._factory = factory
        self._sinks: dict[SinkSettings, Sink] = {}
        self._notes = notes if notes is not None else {}

    def sink(self, shop: ShopSettings) -> Sink:
        if shop.sink not in self._sinks:
            self._sinks[shop.sink] = self._factory(shop.sink)
        return self._sinks[shop.sink]

    def deliver(
        self,
        batch: Batch,
        codes: KeptCodes,
        shop: ShopSettings,
        *,
        spec: CodeSpec | None = None,
        again: bool = False,
    ) -> Batch:
        """Hand a batch's codes to the shop's sink (``again``: a delivery an earlier run
        began, its codes kept); returns the batch ``delivered``, ``failed``, or as it was when
        nothing is delivered.

        Codes the shop refuses are recorded and left out of the import; as many fresh ones of
        shape ``spec`` replace them, delivered in turn, for up to :data:`REPLACE_ROUNDS`
        rounds (the batch then goes on with what the shop accepted)."""
        sink = self.sink(shop)
        if shop.source == "pool" or not sink.registers_codes:
            return batch
        if not again:
            batch = self.ledger.mark_delivering(batch.id)
        failpoints.hit("delivering")
        try:
            refused = self._hand(sink, batch, codes)
            reasons, rounds, kept = dict(refused), 0, codes
            more_left = self.ledger.kept_more(batch.id) if again else None
            if more_left is not None:
                # replacements a killed run drew (the shop may hold them): they replace what
                # is refused now, first; those not needed are recorded and never imported
                spare = list(more_left)  # at most one round's refusals
                use, extra = spare[: len(refused)], spare[len(refused) :]
                refused_too = self._hand(sink, batch, use) if use else {}
                unneeded = dict.fromkeys(extra, "not needed after a restart")
                kept = self.ledger.settle_refused(batch.id, {**refused, **refused_too, **unneeded})
                reasons.update(refused_too)
                rounds = 1 if use else 0
                refused = dict(list(refused.items())[len(use) :]) | refused_too
            while refused and spec is not None and rounds < REPLACE_ROUNDS:
                try:
                    more = self.ledger.draw_more(batch.id, spec, len(refused))
                except VoucherbotError as exc:  # the shape is full: go on without them
                    log.warning("batch %d: no replacements for refused codes: %s", batch.id, exc)
                    break
                rounds += 1
                failpoints.hit("replacing")
                refused_too = self._hand(sink, batch, more)
                # the batch's file becomes what the shop took: refused codes out, the
                # replacements it accepted in
                kept = self.ledger.settle_refused(batch.id, {**refused, **refused_too})
                reasons.update(refused_too)
                refused = refused_too
            if reasons and not rounds and more_left is None:
                kept = self.ledger.settle_refused(batch.id, refused)
        except SinkError as exc:
            self.ledger.forget_codes(batch.id)
            return self.ledger.mark_failed(
                batch.id,
                f"{sink.describe()} did not take the codes, so none were imported: {exc}",
            )
        if not reasons:
            # the count follows the file (an earlier run may have settled refusals)
            count = len(KeptCodes(kept.path))
            return self.ledger.mark_delivered(
                batch.id, count=None if count == batch.count else count
            )
        if not len(kept):
            self.ledger.forget_codes(batch.id)
            first = next(iter(reasons.values()))
            return self.ledger.mark_failed(
                batch.id, f"{sink.describe()} refused every code ({first}); none were imported"
            )
        self._note(batch, reasons, refused)
        return self.ledger.mark_delivered(batch.id, count=len(kept))

    def _hand(self, sink: Sink, batch: Batch, codes: Collection[str]) -> dict[str, str]:
        sink_batch = SinkBatch(
            batch.coupon_set_id,
            batch.coupon_set_name,
            self.ledger.sink_batch_id(batch),
            codes,
            _Jobs(self.ledger, batch.id),
        )
        return sink.deliver(sink_batch)

    def _note(self, batch: Batch, reasons: dict[str, str], left: dict[str, str]) -> None:
        first = next(iter(reasons.values()))
        note = f"the shop refused {len(reasons):,} code(s) ({first}); " + (
            f"{len(left):,} could not be replaced, so the import carries fewer"
            if left
            else "each was replaced by a fresh one"
        )
        log.warning("batch %d (%s): %s", batch.id, batch.coupon_set_id, note)
        self._notes[batch.id] = note


class _Jobs:
    """A batch's shop jobs, in the ledger."""

    def __init__(self, ledger: Ledger, batch_id: int) -> None:
        self.ledger, self.batch_id = ledger, batch_id

    def job(self, part: str) -> str | None:
        return self.ledger.shop_job(self.batch_id, part)

    def record_job(self, part: str, job_id: str) -> None:
        self.ledger.record_shop_job(self.batch_id, part, job_id)
        failpoints.hit("shop-job")
