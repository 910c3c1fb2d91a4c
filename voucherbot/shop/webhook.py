"""The ``webhook`` sink: each batch as signed JSON chunks POSTed to the shop's https URL,
retried on 5xx, 408, 429 and network failures; the shop deduplicates by ``Idempotency-Key``."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from collections.abc import Callable, Sequence

import requests

from voucherbot.config.settings import SinkSettings
from voucherbot.config.tables import origin
from voucherbot.errors import redact
from voucherbot.files import chunked
from voucherbot.shop.base import Refused, SinkBatch, SinkError, hide_codes, shorten
from voucherbot.shop.http import ShopHttp


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
        self._http = ShopHttp(
            "webhook sink",
            timeout=settings.timeout,
            retries=settings.retries,
            session=session,
            sleep=sleep,
        )
        self.session = self._http.session

    def __repr__(self) -> str:
        return f"WebhookSink({origin(self.url)}, secret=<hidden>)"

    def describe(self) -> str:
        return f"webhook sink to {origin(self.url)}"

    def deliver(self, batch: SinkBatch) -> Refused:
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
        return {}  # every chunk answered 2xx

    def sign(self, body: bytes) -> str:
        return "sha256=" + hmac.new(self._secret, body, hashlib.sha256).hexdigest()

    def _post(self, body: bytes, key: str, codes: Sequence[str], what: str) -> None:
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "X-Voucherbot-Signature": self.sign(body),
        }
        response = self._http.send("POST", self.url, what=what, data=body, headers=headers)
        status = response.status_code
        if not 200 <= status < 300:
            detail = _detail(response, codes, self._secret.decode())
            raise SinkError(
                f"webhook sink: {origin(self.url)} refused {what} (HTTP {status})"
                f"{detail}; the codes were not imported; fix the shop "
                "endpoint or [shop] settings and run again"
            )


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
