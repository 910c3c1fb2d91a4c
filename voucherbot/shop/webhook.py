"""The ``webhook`` sink: each batch as signed JSON chunks POSTed to the shop's https URL,
retried on 5xx, 408, 429 and network failures; the shop deduplicates by ``Idempotency-Key``."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import time
from collections.abc import Callable, Sequence

import requests

from voucherbot.config.settings import SinkSettings
from voucherbot.config.tables import origin
from voucherbot.connectif.session import Backoff, make_session
from voucherbot.errors import redact
from voucherbot.files import chunked
from voucherbot.shop.base import SinkBatch, SinkError, hide_codes, shorten

log = logging.getLogger("voucherbot.sinks")  # its name in logs since before the subpackages

MAX_BACKOFF = 30.0


class WebhookSink:
    """POSTs the batch as signed JSON in chunks; every chunk must be answered 2xx.

    Body (compact JSON, UTF-8): ``{"couponSetId", "couponSetName", "batchId", "chunk" (1-based),
    "chunks", "codes"}``. Headers: ``Content-Type: application/json``, ``Idempotency-Key:
    <batchId>-<chunk>`` and ``X-Voucherbot-Signature: sha256=<hex HMAC-SHA256 of the body
    bytes>``. 5xx, 408, 429 and network failures are retried with jittered exponential backoff; any
    other answer fails the batch at once.
    """

    kind = "webhook"
    registers_codes = True

    def __init__(
        self,
        settings: SinkSettings,
        secret: str,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        assert settings.url is not None
        self.url, self.settings, self._secret = settings.url, settings, secret.encode()
        self.session = make_session(session)
        self._sleep = sleep
        self._backoff = Backoff(1.0, MAX_BACKOFF)

    def __repr__(self) -> str:
        return f"WebhookSink({origin(self.url)}, secret=<hidden>)"

    def describe(self) -> str:
        return f"webhook sink to {origin(self.url)}"

    def deliver(self, batch: SinkBatch) -> None:
        size = self.settings.chunk_size
        chunks = math.ceil(len(batch.codes) / size)
        for index, codes in enumerate(chunked(batch.codes, size)):
            body = json.dumps(
                {
                    "couponSetId": batch.coupon_set_id,
                    "couponSetName": batch.coupon_set_name,
                    "batchId": batch.batch_id,
                    "chunk": index + 1,
                    "chunks": chunks,
                    "codes": codes,
                },
                separators=(",", ":"),
            ).encode()
            self._post(
                body,
                f"{batch.batch_id}-{index + 1}",
                codes,
                f"chunk {index + 1}/{chunks} of batch {batch.batch_id}",
            )

    def sign(self, body: bytes) -> str:
        return "sha256=" + hmac.new(self._secret, body, hashlib.sha256).hexdigest()

    def _post(self, body: bytes, key: str, codes: Sequence[str], what: str) -> None:
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "X-Voucherbot-Signature": self.sign(body),
        }
        where = origin(self.url)
        timeout = (min(10.0, self.settings.timeout), self.settings.timeout)
        attempt = 0
        while True:
            retry_after = None
            try:
                response = self.session.post(
                    self.url, data=body, headers=headers, timeout=timeout, allow_redirects=False
                )
            except requests.Timeout:
                problem = f"no answer within {self.settings.timeout:g} s"
            except requests.RequestException as exc:  # its text holds the URL: never show it
                problem = f"connection failed ({type(exc).__name__})"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return
                if status < 500 and status not in (408, 429):
                    detail = _detail(response, codes, self._secret.decode())
                    raise SinkError(
                        f"webhook sink: {where} refused {what} (HTTP {status})"
                        f"{detail}; the codes were not imported; fix the shop "
                        "endpoint or [shop] settings and run again"
                    )
                problem = f"HTTP {status}"
                retry_after = _seconds(response.headers.get("Retry-After"))
            if attempt >= self.settings.retries:
                raise SinkError(
                    f"webhook sink: {where} did not accept {what}: {problem} after "
                    f"{attempt + 1} attempt(s); the codes were not imported; run "
                    "again later (re-delivery is safe)"
                )
            attempt += 1
            wait = self._backoff.delay(attempt)
            if retry_after is not None:
                wait = min(MAX_BACKOFF, max(wait, retry_after))
            note, retries = f"{where}: {problem} for {what}", self.settings.retries
            log.warning("webhook sink: %s; retry %d/%d in %.1f s", note, attempt, retries, wait)
            self._sleep(wait)


def _detail(response: requests.Response, codes: Sequence[str], secret: str) -> str:
    """``": <server detail>"`` from a JSON error body (detail, message or error), or ""."""
    try:
        doc = response.json()
    except ValueError:
        return ""
    if not isinstance(doc, dict):
        return ""
    for key in ("detail", "message", "error"):
        if isinstance(doc.get(key), str) and doc[key].strip():
            text = " ".join(doc[key].split())
            return ": " + shorten(redact(hide_codes(text, codes), secret))
    return ""


def _seconds(value: str | None) -> float | None:
    return float(value) if value and value.strip().isdigit() else None
