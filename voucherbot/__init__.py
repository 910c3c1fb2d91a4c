"""voucherbot: keeps Connectif coupon sets full.

The library works without the CLI::

    from voucherbot import ConnectifClient, refill_set

    with ConnectifClient.from_env() as client:
        result = refill_set(client, "5f0c...", count=1000)
        for line in result.all:
            print(line.summary())
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Exports load on first use, so `voucherbot --help` does not pay for requests and friends.
_EXPORTS = {
    "ConnectifClient": "voucherbot.connectif",
    "VoucherbotError": "voucherbot.errors",
    "RefillResult": "voucherbot.results",
    "refill_set": "voucherbot.runner",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'voucherbot' has no attribute {name!r}")
