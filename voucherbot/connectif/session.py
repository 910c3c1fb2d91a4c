"""The one HTTP session factory and the one backoff, for every HTTP user: the Connectif
client, the webhook sink and the run notification.

Sessions carry voucherbot's User-Agent and no retries of their own (urllib3's are off), so a
request is retried only where its caller says, by its own rules: GETs in the client, the
import POST in :mod:`voucherbot.refill.posting`, webhook deliveries in the sink.
"""

from __future__ import annotations

import random

import requests
from requests.adapters import HTTPAdapter

from voucherbot import __version__

USER_AGENT = f"voucherbot/{__version__} python-requests/{requests.__version__}"


def make_session(session: requests.Session | None = None) -> requests.Session:
    """A new session with voucherbot's User-Agent and no adapter retries; a caller's own
    ``session`` gets the User-Agent and keeps its adapters (a test's, a proxy's)."""
    if session is None:
        session = requests.Session()
        for prefix in ("http://", "https://"):
            session.mount(prefix, HTTPAdapter(max_retries=0))
    session.headers["User-Agent"] = USER_AGENT
    return session


class Backoff:
    """Seconds to wait before retry ``attempt`` (1, 2, ...): doubling from ``base``, capped at
    ``cap``, each drawn between half and all of it so that clients do not retry in step."""

    def __init__(self, base: float = 1.0, cap: float = 30.0) -> None:
        self.base, self.cap = base, cap
        self._jitter = random.Random()  # noqa: S311 - spreads retries, not security

    def spread(self) -> float:
        """A random share of a second (0 to 1), added to a wait a server asked for."""
        return self._jitter.uniform(0.0, 1.0)

    def delay(self, attempt: int) -> float:
        return float(
            min(self.cap, self.base * 2.0 ** (attempt - 1)) * self._jitter.uniform(0.5, 1.0)
        )
