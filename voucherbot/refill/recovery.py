"""Recovery: finishing, at the start of every run, the story of every batch an earlier run left
open (:meth:`voucherbot.refill.batch.Refiller.settle`).

* a batch whose codes never left the process (``prepared``) is abandoned;
* a ``submitting`` batch whose upload never began is abandoned (its codes never reached
  Connectif); one whose upload began is looked up in ``GET /imports/``: its import is adopted,
  or, when none was created, it is abandoned; when that cannot be shown it is ``unresolved``;
* a batch held back by a full import queue after an upload with an ambiguous answer is looked
  up the same way first;
* an interrupted delivery to the shop is made again (same codes, same id), then imported;
* ``submitted`` batches are followed to their end; ``unresolved`` ones are reported again, as
  failures, until a person settles them (``voucherbot resolve``).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from voucherbot.config.settings import RuleSettings
from voucherbot.ledger import Batch, BatchStatus
from voucherbot.ledger.pending import KeptCodes
from voucherbot.refill.posting import QueueFull, Verdict
from voucherbot.refill.results import RefillResult, result_of

if TYPE_CHECKING:  # the Refiller calls in here (Refiller.settle): no import back at run time
    from voucherbot.refill.batch import Refiller

# the name these lines had before this module was split out of refill.batch
log = logging.getLogger("voucherbot.refill")  # its name in logs since before the subpackages


def settle(refiller: Refiller) -> list[RefillResult]:
    """Finish the story of every open batch (see the module doc); the results of those that
    ended, then of those followed to their end."""
    results: list[RefillResult] = []
    to_follow: list[Batch] = []
    for b in refiller.ledger.open_batches():
        b = _settle_one(refiller, b)
        if b.status == BatchStatus.SUBMITTED:
            to_follow.append(b)
        else:
            results.append(result_of(b, resumed=True))
    refiller.ledger.sweep_pending()
    if to_follow and refiller.on_total is not None:
        refiller.on_total(sum(b.count for b in to_follow))
    return results + [replace(r, resumed=True) for r in refiller.follow(to_follow)]


def _settle_one(refiller: Refiller, b: Batch) -> Batch:
    """One open batch, settled as far as this run can (see the module doc)."""
    if b.status in (BatchStatus.PREPARED, BatchStatus.DELIVERED) and b.posted_at is not None:
        # an E0401 put it back after an upload with an ambiguous answer: that
        # upload's import, if it exists, is found first (and settles the batch)
        found = _look_for_upload(refiller, b, "an earlier upload had an ambiguous answer")
        if found is not None:
            return found
    if b.status == BatchStatus.SUBMITTING:
        return _settle_submitting(refiller, b)
    if b.status in (BatchStatus.DELIVERING, BatchStatus.DELIVERED):
        return _resume_delivery(refiller, b)
    if b.status not in (BatchStatus.SUBMITTED, BatchStatus.UNRESOLVED):
        # codes never left the process
        return refiller.ledger.mark_abandoned(b.id, "the run stopped before sending the codes")
    return b


def _settle_submitting(refiller: Refiller, batch: Batch) -> Batch:
    """A run stopped during the POST of this batch: find out what it did."""
    if batch.posted_at is None:
        return refiller.ledger.mark_abandoned(
            batch.id,
            "the run stopped before the upload began: its codes never reached Connectif",
        )
    return _look_for_upload(
        refiller, batch, "a run stopped during the upload"
    ) or refiller.ledger.mark_abandoned(
        batch.id,
        "a run stopped during the upload, and GET /imports/ shows that no import was "
        "created: its codes never reached Connectif",
    )


def _look_for_upload(refiller: Refiller, batch: Batch, what: str) -> Batch | None:
    """Adopt the import an upload of the batch made, or leave the batch unresolved;
    None when GET /imports/ shows that there is none."""
    found = refiller.find(batch.id)
    if found.verdict is Verdict.ADOPT:
        assert found.imp is not None
        log.warning(
            "batch %d: adopted import %s (%s): %s",
            batch.id,
            found.imp.id,
            found.imp.status,
            what,
        )
        return refiller.accepted(batch, found.imp)
    if found.verdict is Verdict.UNRESOLVED:
        return refiller.unresolved(batch, f"{what}, and {found.why}")
    return None


def _resume_delivery(refiller: Refiller, batch: Batch) -> Batch:
    """Deliver an interrupted batch again (same codes, same id), then import it."""
    codes = refiller.ledger.kept_codes(batch.id)
    settings = _settings_of(refiller, batch)
    if codes is None or settings is None:
        why = "its kept codes are gone" if codes is None else "no rules to find its sink"
        return refiller.ledger.mark_abandoned(batch.id, f"could not deliver the batch again: {why}")
    if batch.status == BatchStatus.DELIVERING:
        batch = refiller.deliver(batch, codes, settings.shop, spec=settings.code, again=True)
    if batch.status == BatchStatus.DELIVERED:
        try:
            batch = refiller.submit(batch, KeptCodes(codes.path))
        except QueueFull as full:  # nothing created: it stays delivered, codes kept
            return refiller.ledger.mark_waiting(
                full.batch.id, "Connectif's import queue is full (E0401); the next run sends it"
            )
    refiller.ledger.forget_codes(batch.id)
    return batch


def _settings_of(refiller: Refiller, batch: Batch) -> RuleSettings | None:
    """The rule settings of a batch's set (None without rules)."""
    if refiller.config is None:
        return None
    return refiller.config.rule_for(batch.coupon_set_id, batch.coupon_set_name)[1]
