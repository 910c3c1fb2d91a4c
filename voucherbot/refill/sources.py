"""Where a refill's codes come from: fresh ones, or the next unused ones of the shop's pool.

Either way no code the ledger has issued before is taken (a fresh one is checked against every
fingerprint in the ledger; a pool's lines are skipped when issued).
"""

from __future__ import annotations

import logging

from voucherbot.codes import CodeSpec, fill_warning
from voucherbot.config import RuleSettings
from voucherbot.connectif.models import CouponSet
from voucherbot.ledger import Ledger, shape_key
from voucherbot.shop.pool import CodePool, PoolError, PoolTake

# the name these lines had before this module was split out of refill.batch
log = logging.getLogger("voucherbot.refill")  # its name in logs since before the subpackages


def take_codes(
    ledger: Ledger, coupon_set: CouponSet, count: int, settings: RuleSettings
) -> tuple[list[str], CodeSpec | None, str | None]:
    """The codes for a refill, their shape (None for a pool's) and a note: when the pool held
    fewer than wanted, when lines were skipped, or when the codes issued fill a worrying
    share of their shape's space."""
    shop = settings.shop
    if shop.source != "pool" or shop.pool is None:
        spec = settings.code
        codes = ledger.fresh_codes(spec, count)
        crowded = fill_warning(spec, ledger.issued_count(shape_key(spec)) + count)
        if crowded:
            log.warning("%s (%s): %s", coupon_set.name, coupon_set.id, crowded)
        return codes, spec, crowded
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
    return take.codes, None, note


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
