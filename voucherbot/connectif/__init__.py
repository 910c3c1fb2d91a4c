"""The Connectif API: the client (one session, rate budget, retries, deadlines, error
translation), its data models, the import upload body and import polling.

``ConnectifClient`` loads on first use, so importing the models does not pay for requests.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConnectifClient"]


def __getattr__(name: str) -> Any:
    if name == "ConnectifClient":
        from voucherbot.connectif.client import ConnectifClient

        return ConnectifClient
    raise AttributeError(f"module 'voucherbot.connectif' has no attribute {name!r}")
