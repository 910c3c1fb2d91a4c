"""One request to a shop, with the retries every shop connector shares.

5xx, 408, 429 and network failures are retried with jittered exponential backoff (honouring
``Retry-After``, capped); any other answer is handed back for the connector to read. After the
last retry the batch fails with :class:`~voucherbot.shop.base.SinkError`. Nothing in a message
shows a URL's path or query, a code or a secret.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from typing import Any

import requests

from voucherbot.config.tables import origin
from voucherbot.connectif.session import Backoff, make_session
from voucherbot.shop.base import SinkError

log = logging.getLogger("voucherbot.sinks")  # its name in logs since before the subpackages

MAX_BACKOFF = 30.0


class ShopHttp:
    """Requests to one shop (``name`` starts its messages) through one session."""

    def __init__(
        self,
        name: str,
        *,
        timeout: float,
        retries: int,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        hand_back: Collection[int] = (),
    ) -> None:
        self.name = name
        self.hand_back = frozenset(hand_back)  #: statuses the connector waits out itself
        self.timeout = timeout
        self.retries = retries
        self.session = make_session(session)
        self._sleep = sleep
        self._backoff = Backoff(1.0, MAX_BACKOFF)

    def send(self, method: str, url: str, *, what: str, **kwargs: Any) -> requests.Response:
        """The shop's answer to one request (any status but 5xx, 408 and 429, which are
        retried, unless the connector takes them back: ``hand_back``); SinkError when no such
        answer came after the retries."""
        where = origin(url)
        timeout = (min(10.0, self.timeout), self.timeout)
        attempt = 0
        while True:
            retry_after = None
            try:
                response = self.session.request(
                    method, url, timeout=timeout, allow_redirects=False, **kwargs
                )
            except requests.Timeout:
                problem = f"no answer within {self.timeout:g} s"
            except requests.RequestException as exc:  # its text holds the URL: never show it
                problem = f"connection failed ({type(exc).__name__})"
            else:
                status = response.status_code
                if status in self.hand_back or (status < 500 and status not in (408, 429)):
                    return response
                problem = f"HTTP {response.status_code}"
                retry_after = _seconds(response.headers.get("Retry-After"))
            if attempt >= self.retries:
                raise SinkError(
                    f"{self.name}: {where} did not accept {what}: {problem} after "
                    f"{attempt + 1} attempt(s); the codes were not imported; run "
                    "again later (re-delivery is safe)"
                )
            attempt += 1
            wait = self._backoff.delay(attempt)
            if retry_after is not None:
                wait = min(MAX_BACKOFF, max(wait, retry_after))
            note = f"{where}: {problem} for {what}"
            log.warning(
                "%s: %s; retry %d/%d in %.1f s", self.name, note, attempt, self.retries, wait
            )
            self._sleep(wait)

    def wait(self, seconds: float) -> None:
        self._sleep(seconds)


def _seconds(value: str | None) -> float | None:
    return float(value) if value and value.strip().isdigit() else None
