"""voucherbot: keeps Connectif coupon sets full.

The library works without the CLI::

    from pathlib import Path

    from voucherbot import ConnectifClient, refill_set
    from voucherbot.ledger import Ledger

    with ConnectifClient.from_env() as client, Ledger.open(Path("voucherbot.sqlite")) as ledger:
        result = refill_set(client, "5f0c...", count=1000, ledger=ledger)
        for line in result.all:
            print(line.summary())

The ledger is what makes a refill happen once: it records every code before it leaves the
process and refuses a set that already has a refill in flight.
"""

from __future__ import annotations

import importlib
from typing import Any

from voucherbot import _moved

__version__ = "0.1.0"

# Exports load on first use, so `voucherbot --help` does not pay for requests and friends.
_EXPORTS = {
    "ConnectifClient": "voucherbot.connectif.client",
    "VoucherbotError": "voucherbot.errors",
    "RefillResult": "voucherbot.refill.results",
    "refill_set": "voucherbot.app",
}

__all__ = [*_EXPORTS, "__version__"]

_moved.install()


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'voucherbot' has no attribute {name!r}")
