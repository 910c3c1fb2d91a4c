"""The ``shopify`` sink: a batch's codes become redeem codes of one Shopify code discount.

One code discount (``discount_id``, a ``gid://shopify/DiscountCodeNode/...``) holds many redeem
codes, as a Connectif ``multiple`` set holds many codes. Through the Admin GraphQL API
(``https://<store_domain>/admin/api/<api_version>/graphql.json``, header
``X-Shopify-Access-Token``; ``api_url`` points it at another origin, such as the local
sandbox):

1. ``discountRedeemCodeBulkAdd(discountId, codes)``, at most 250 codes a call, starts an
   asynchronous bulk creation; its id is committed to the ledger at once (a run cut off then
   follows that job instead of adding the codes again);
2. ``discountRedeemCodeBulkCreation(id)`` is read until ``done``, then its ``codes`` are read
   page by page: a code with ``errors`` is refused, unless the error says the code is taken
   ("must be unique") and this very discount has it (a delivery made again);
3. a sample of the accepted codes is looked up (``codeDiscountNodeByCode``): each must be in
   this discount, and the discount ``ACTIVE``; anything else fails the batch, loudly.

Throttling is cost-based: an answer ``THROTTLED`` (HTTP 200 or 429) waits until the bucket has
the points the call needs (``extensions.cost.throttleStatus``: ``currentlyAvailable``,
``restoreRate``) and asks again. References: docs/shops.md.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

import requests

from voucherbot.config.settings import SinkSettings
from voucherbot.config.shop import env_secret
from voucherbot.config.tables import origin
from voucherbot.errors import redact
from voucherbot.files import chunked
from voucherbot.shop.base import (
    Refused,
    Sample,
    ShopTerms,
    ShopUsage,
    SinkBatch,
    SinkError,
    hide_codes,
    shop_time,
    shorten,
)
from voucherbot.shop.http import ShopHttp
from voucherbot.text import clean

MAX_CODES = 250  #: codes a discountRedeemCodeBulkAdd takes
THROTTLE_TRIES = 20  #: THROTTLED answers in a row before a batch fails
SAMPLE = 3  #: accepted codes of each delivery looked up in the shop
FIRST_POLL = 0.25  #: seconds before a second look at a bulk creation, doubling each time...
MAX_POLL = 4.0  #: ...up to this
IN_FLIGHT = 20  #: bulk creations started before the first is read (the rest wait meanwhile)

ADD = """mutation voucherbotAdd($discountId: ID!, $codes: [DiscountRedeemCodeInput!]!) {
  discountRedeemCodeBulkAdd(discountId: $discountId, codes: $codes) {
    bulkCreation { id }
    userErrors { field message code }
  }
}"""
JOB = """query voucherbotJob($id: ID!, $first: Int!, $after: String) {
  discountRedeemCodeBulkCreation(id: $id) {
    id done codesCount importedCount failedCount
    codes(first: $first, after: $after) {
      nodes { code errors { field message code } discountRedeemCode { id } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""
#: the fields read of a code discount, whichever kind it is
_KINDS = ("DiscountCodeBasic", "DiscountCodeBxgy", "DiscountCodeFreeShipping")
_TERMS = " ".join(f"... on {kind} {{ status endsAt }}" for kind in _KINDS)
_USED = " ".join(
    f"... on {kind} {{ codes(first: $first, after: $after, query: $query) "
    "{ nodes { code asyncUsageCount } pageInfo { hasNextPage endCursor } } }"
    for kind in _KINDS
)
LOOKUP = f"""query voucherbotLookup($code: String!) {{
  codeDiscountNodeByCode(code: $code) {{ id codeDiscount {{ __typename {_TERMS} }} }}
}}"""
DISCOUNT = f"""query voucherbotDiscount($id: ID!) {{
  codeDiscountNode(id: $id) {{ id codeDiscount {{ __typename {_TERMS} }} }}
}}"""
#: the discount's redeem codes used at least once (the search syntax's ``times_used``)
USED = f"""query voucherbotUsed($id: ID!, $first: Int!, $after: String, $query: String) {{
  codeDiscountNode(id: $id) {{ id codeDiscount {{ __typename {_USED} }} }}
}}"""


def shopify_token(settings: SinkSettings, env: Mapping[str, str]) -> str:
    """The Admin API access token from ``env``."""
    return env_secret(
        env,
        settings.token_env,
        f"the shopify sink reads the Admin API access token from the environment variable "
        f"{settings.token_env} ([shop] token_env), which is not set or empty; create a "
        "custom app with the write_discounts scope and set its token there",
    )


class ShopifySink:
    kind = "shopify"
    registers_codes = True

    def __init__(
        self,
        settings: SinkSettings,
        token: str,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        base = settings.api_url or f"https://{settings.store_domain}"
        self.endpoint = f"{base.rstrip('/')}/admin/api/{settings.api_version}/graphql.json"
        self._token = token
        self._sleep, self._clock = sleep, clock
        self._http = ShopHttp(
            "shopify sink",
            timeout=settings.timeout,
            retries=settings.retries,
            session=session,
            sleep=sleep,
            hand_back=(429,),  # a throttled call is waited out by the bucket's numbers
        )

    def __repr__(self) -> str:
        return f"ShopifySink({origin(self.endpoint)}, token=<hidden>)"

    def describe(self) -> str:
        return f"Shopify sink to {origin(self.endpoint)}"

    # --- one GraphQL call ----------------------------------------------------------------------

    def _call(
        self, query: str, variables: dict[str, Any], what: str, codes: Collection[str] = ()
    ) -> dict[str, Any]:
        """The ``data`` of one call; throttling is waited out; SinkError for anything else."""
        body = {"query": query, "variables": variables}
        headers = {"X-Shopify-Access-Token": self._token}
        for _ in range(THROTTLE_TRIES):
            response = self._http.send("POST", self.endpoint, what=what, json=body, headers=headers)
            doc = self._answer(response, what, codes)
            errors = doc.get("errors")
            if errors and _throttled(errors):
                self._sleep(_throttle_wait(doc))
                continue
            if errors:
                raise self._fail(what, f"it answered {_first_message(errors)}", codes)
            data = doc.get("data")
            if not isinstance(data, dict):
                raise self._fail(what, "its answer had no data", codes)
            return data
        raise self._fail(what, f"it stayed throttled after {THROTTLE_TRIES} waits", codes)

    def _answer(
        self, response: requests.Response, what: str, codes: Collection[str]
    ) -> dict[str, Any]:
        kind = response.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            doc = response.json() if "json" in kind else None
        except ValueError:
            doc = None
        status = response.status_code
        if status == 429:  # throttled: what the bucket says, else a second's wait
            if isinstance(doc, dict) and _throttled(doc.get("errors")):
                return doc
            return {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]}
        if status in (401, 403):
            raise self._fail(
                what,
                f"it refused the access token (HTTP {status}); check [shop] token_env and the "
                "app's write_discounts and read_discounts scopes",
                codes,
            )
        if not isinstance(doc, dict):
            raise self._fail(
                what,
                f"HTTP {status}: the answer is {kind or 'not JSON'}, not the Admin API's JSON",
                codes,
            )
        if not 200 <= status < 300:
            raise self._fail(what, f"HTTP {status}: {_first_message(doc.get('errors'))}", codes)
        return doc

    def _fail(self, what: str, why: str, codes: Collection[str]) -> SinkError:
        text = shorten(redact(hide_codes(clean(why), codes), self._token), 240)
        return SinkError(
            f"shopify sink: {origin(self.endpoint)} did not take {what}: {text}; the codes were "
            "not imported"
        )

    # --- delivering ----------------------------------------------------------------------------

    def deliver(self, batch: SinkBatch) -> Refused:
        refused: Refused = {}
        accepted = Sample(SAMPLE)
        size = min(MAX_CODES, self.settings.chunk_size)
        window: deque[tuple[list[str], str, str]] = deque()  # started, not yet read
        for chunk in chunked(batch.codes, size):
            window.append(self._start(batch, chunk))
            if len(window) == IN_FLIGHT:
                self._read(*window.popleft(), accepted, refused)
        while window:
            self._read(*window.popleft(), accepted, refused)
        self._check(accepted.codes)
        return refused

    def _start(self, batch: SinkBatch, chunk: list[str]) -> tuple[list[str], str, str]:
        """The bulk creation of a chunk: the one an earlier delivery started, or a new one
        (committed to the journal at once)."""
        part = hashlib.sha256("\n".join(chunk).encode()).hexdigest()[:24]
        what = f"{len(chunk)} codes of batch {batch.batch_id}"
        job = batch.journal.job(part) if batch.journal is not None else None
        if job is None:
            job = self._add(chunk, what)
            if batch.journal is not None:
                batch.journal.record_job(part, job)
        return chunk, job, what

    def _read(
        self, chunk: list[str], job: str, what: str, accepted: Sample, refused: Refused
    ) -> None:
        """Wait for a chunk's bulk creation; sort its codes into accepted and refused."""
        for code, errors in self._results(job, what, chunk):
            if not errors:
                accepted.add(code)
            elif any(_taken(e) for e in errors) and self._ours(code):
                accepted.add(code)  # added by an earlier delivery of this batch
            else:
                message = clean(str(errors[0].get("message") or "refused"))
                refused[code] = shorten(redact(hide_codes(message, chunk), self._token), 120)

    def _add(self, chunk: list[str], what: str) -> str:
        variables = {
            "discountId": self.settings.discount_id,
            "codes": [{"code": code} for code in chunk],
        }
        data = self._call(ADD, variables, what, chunk)
        payload = data.get("discountRedeemCodeBulkAdd") or {}
        errors = payload.get("userErrors") or []
        if errors:
            why = _first_message(errors)
            hint = (
                "; check [shop] discount_id (a gid://shopify/DiscountCodeNode/... id)"
                if any("discountId" in (e.get("field") or []) for e in errors)
                else ""
            )
            raise self._fail(what, f"it answered {why}{hint}", chunk)
        job = (payload.get("bulkCreation") or {}).get("id")
        if not isinstance(job, str) or not job:
            raise self._fail(what, "it started no bulk creation", chunk)
        return job

    def _results(
        self, job: str, what: str, chunk: list[str]
    ) -> list[tuple[str, list[dict[str, Any]]]]:
        """Each code of a finished bulk creation with its errors (waits until it is done)."""
        deadline = self._clock() + self.settings.job_timeout
        wait = FIRST_POLL
        after: str | None = None
        found: list[tuple[str, list[dict[str, Any]]]] = []
        while True:
            data = self._call(JOB, {"id": job, "first": MAX_CODES, "after": after}, what, chunk)
            creation = data.get("discountRedeemCodeBulkCreation")
            if not isinstance(creation, dict):
                raise self._fail(what, f"it does not know its bulk creation {job}", chunk)
            if not creation.get("done"):
                if self._clock() >= deadline:
                    raise self._fail(
                        what,
                        f"its bulk creation was not done after {self.settings.job_timeout:g} s "
                        "(if it finishes later, its codes stay unused in the discount; raise "
                        "[shop] job_timeout for a slow store)",
                        chunk,
                    )
                self._sleep(wait)
                wait = min(MAX_POLL, wait * 2)
                continue
            page = creation.get("codes") or {}
            for node in page.get("nodes") or ():
                errors = [e for e in node.get("errors") or () if isinstance(e, dict)]
                found.append((str(node.get("code", "")), errors))
            info = page.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                break
            cursor = info.get("endCursor")
            if cursor == after or len(found) > len(chunk) or self._clock() >= deadline:
                raise self._fail(what, "its bulk creation's codes did not page on", chunk)
            after = cursor
        if len(found) != len(chunk) or {c for c, _ in found} != set(chunk):
            raise self._fail(what, "its bulk creation does not account for every code", chunk)
        return found

    def _lookup(self, code: str) -> dict[str, Any] | None:
        data = self._call(LOOKUP, {"code": code}, "a code lookup", [code])
        node = data.get("codeDiscountNodeByCode")
        return node if isinstance(node, dict) else None

    def _ours(self, code: str) -> bool:
        node = self._lookup(code)
        return node is not None and node.get("id") == self.settings.discount_id

    def _check(self, accepted: list[str]) -> None:
        """Proof from the shop's side: a sample of the accepted codes is in the discount, and
        the discount is active."""
        for code in accepted:
            node = self._lookup(code)
            if node is None or node.get("id") != self.settings.discount_id:
                raise SinkError(
                    "shopify sink: a code the shop said it created is not in the discount "
                    f"{self.settings.discount_id}; the codes were not imported"
                )
            status = (node.get("codeDiscount") or {}).get("status")
            if status != "ACTIVE":
                raise SinkError(
                    f"shopify sink: the discount {self.settings.discount_id} is "
                    f"{clean(str(status))}, not ACTIVE, so its codes would not redeem; the codes "
                    "were not imported"
                )

    # --- reading back --------------------------------------------------------------------------

    def _discount(self, query: str, variables: dict[str, Any], what: str) -> dict[str, Any]:
        """The discount's ``codeDiscount``; SinkError when the store has no such discount."""
        data = self._call(query, {"id": self.settings.discount_id, **variables}, what)
        node = data.get("codeDiscountNode")
        discount = node.get("codeDiscount") if isinstance(node, dict) else None
        if not isinstance(discount, dict):
            raise SinkError(
                f"shopify sink: the store at {origin(self.endpoint)} has no code discount "
                f"{self.settings.discount_id} ([shop] discount_id)"
            )
        return discount

    def terms(self) -> ShopTerms:
        discount = self._discount(DISCOUNT, {}, "a read of the discount")
        status = clean(str(discount.get("status") or "unknown"))
        return ShopTerms(shop_time(discount.get("endsAt")), status == "ACTIVE", status)

    def usage(self, since: datetime | None, limit: int) -> ShopUsage:
        """The discount's codes used at least once (``since`` is not used: the count is the
        code's, whenever it was used), ``MAX_CODES`` a page, ``limit`` at most."""
        redeemed: list[str] = []
        after: str | None = None
        variables = {"first": MAX_CODES, "query": "times_used:>0"}
        while True:
            discount = self._discount(USED, {**variables, "after": after}, "a read of used codes")
            page = discount.get("codes") or {}
            for node in page.get("nodes") or ():
                if isinstance(node, dict) and int(node.get("asyncUsageCount") or 0) > 0:
                    redeemed.append(str(node.get("code", "")))
            info = page.get("pageInfo") or {}
            cursor = info.get("endCursor")
            if not info.get("hasNextPage") or cursor in (None, after):
                return ShopUsage(tuple(redeemed), True, f"{len(redeemed):,} used codes")
            if len(redeemed) >= limit:
                return ShopUsage(
                    tuple(redeemed), False, f"the first {len(redeemed):,} used codes only"
                )
            after = str(cursor)


def _throttled(errors: Any) -> bool:
    return isinstance(errors, list) and any(
        isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED"
        for e in errors
    )


def _throttle_wait(doc: dict[str, Any]) -> float:
    """Seconds until the bucket holds what the call asked for (at least 0.5, at most 30)."""
    cost = (doc.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    try:
        need = float(cost.get("requestedQueryCost") or 0)
        have = float(status.get("currentlyAvailable") or 0)
        rate = float(status.get("restoreRate") or 0)
    except (TypeError, ValueError):
        return 1.0
    if rate <= 0:
        return 1.0
    return min(30.0, max(0.5, (need - have) / rate))


def _first_message(errors: Any) -> str:
    if isinstance(errors, str):
        return errors
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message") or "an error")
    return "an error"


def _taken(error: dict[str, Any]) -> bool:
    """Whether a code's error says another redeem code has it: Shopify's per-code errors
    carry no ``code``, only the message "must be unique. Please try a different code." (one
    within the same job says "must be unique within BulkDiscountCodeCreation": not taken)."""
    message = str(error.get("message") or "")
    return error.get("code") == "TAKEN" or (
        "must be unique" in message and "BulkDiscountCodeCreation" not in message
    )
