"""Where a refill's codes come from: fresh ones, or the next unused ones of the shop's pool.

Either way no code the ledger has issued before is taken (a fresh one is checked against every
fingerprint in the ledger; a pool's lines are skipped when issued).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from voucherbot.codes import fill_warning
from voucherbot.config import RuleSettings
from voucherbot.connectif.models import CouponSet
from voucherbot.ledger import Batch, Ledger, shape_key
from voucherbot.shop.pool import CodePool, PoolError, PoolTake

# the name these lines had before this module was split out of refill.batch
log = logging.getLogger("voucherbot.refill")  # its name in logs since before the subpackages


def record_batch(
    ledger: Ledger,
    run_id: int | None,
    coupon_set: CouponSet,
    count: int,
    settings: RuleSettings,
    *,
    part_of: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> tuple[Batch, str | None]:
    """Commit a refill's batch with its codes (in its file: ``ledger.kept_codes``), and a
    note: when the pool held fewer than wanted, when lines were skipped, or when the codes
    issued fill a worrying share of their shape's space."""
    shop = settings.shop
    if shop.source != "pool" or shop.pool is None:
        spec = settings.code
        batch = ledger.draw_batch(
            run_id, coupon_set, spec, count, part_of=part_of, on_chunk=on_chunk
        )
        crowded = fill_warning(spec, ledger.issued_count(shape_key(spec)))
        if crowded:
            log.warning("%s (%s): %s", coupon_set.name, coupon_set.id, crowded)
        return batch, crowded
    take = CodePool(shop.pool).take(count, ledger.issued)
    skipped = _skipped(take)
    said = f" (skipped {', '.join(skipped)})" if skipped else ""
    if not take.codes:
        raise PoolError(
            f"the code pool in {shop.pool} has no unused codes left{said}; "
            "add the shop's new codes there"
        )
    note = None
    if len(take.codes) < count:
        note = (
            f"the pool in {shop.pool} held only {len(take.codes):,} unused codes of the "
            f"{count:,} wanted{said}"
        )
    elif skipped:
        note = f"pool lines skipped: {', '.join(skipped)}"
    batch = ledger.new_batch(
        run_id, coupon_set, take.codes, None, part_of=part_of, on_chunk=on_chunk
    )
    return batch, note


def _skipped(take: PoolTake) -> list[str]:
    """The pool lines a take skipped, by kind ("3 blank", "1 already issued"...)."""
    return [
        f"{n:,} {what}"
        for n, what in (
            (take.skipped_blank, "blank"),
            (take.skipped_duplicate, "duplicate"),
            (take.skipped_issued, "already issued"),
            (take.skipped_invalid, "invalid"),
        )
        if n
    ]
