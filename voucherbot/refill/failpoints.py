"""Failpoints: named places where a test can make voucherbot die on the spot.

Crash-safety tests set ``VOUCHERBOT_FAILPOINT`` to one of :data:`POINTS` and run voucherbot in
a subprocess; at that point the process sends itself SIGKILL, exactly as if the machine had
lost power there. Nothing happens when the variable is unset, which is always the case outside
tests.
"""

from __future__ import annotations

import os
import signal

POINTS = (
    "after-batch",  # batch and fingerprints committed; nothing sent anywhere
    "delivering",  # the batch marked 'delivering' to the shop's sink, before the sink is called
    "replacing",  # codes the shop refused recorded, their replacements drawn, not yet sent
    "shop-job",  # the shop's job for a part of the delivery committed; not yet followed
    "after-submitting",  # batch marked 'submitting'; the import POST not sent yet
    "post-answered",  # the POST created the import, its id not yet in the ledger
    "after-import-id",  # the import id committed; before the first poll
    "polling",  # during the poll loop
)


def hit(point: str) -> None:
    """Die here (SIGKILL) when ``VOUCHERBOT_FAILPOINT`` names this point."""
    if os.environ.get("VOUCHERBOT_FAILPOINT") == point:
        os.kill(os.getpid(), signal.SIGKILL)
