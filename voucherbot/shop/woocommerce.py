"""The ``woocommerce`` sink: each code a WooCommerce coupon, with the rules of a template coupon.

The template is the shop's own coupon named by ``template`` (read once with ``GET
/wp-json/wc/v3/coupons?code=...``); each new coupon copies its rule fields (:data:`COPIED`:
amount, type, expiry, usage limits, products, restrictions) and carries the meta key
``voucherbot_batch`` with the batch's sink id. Coupons are created with ``POST
/wp-json/wc/v3/coupons/batch``, ``chunk_size`` a request (WooCommerce takes 100 by default:
more is answered 413); each item's answer is read: a code another coupon has
(``woocommerce_rest_coupon_code_already_exists``) is refused, unless that coupon is this
batch's own (a delivery made again after a crash), and any other item error refuses its code.
Refused codes are never imported and are replaced (:mod:`voucherbot.refill.delivery`). Then a
sample of the accepted codes is looked up: each must be this batch's coupon, published, and
not expired, or the batch fails, loudly.

Authentication is HTTP Basic with the consumer key and secret, read from the environment
variables ``key_env`` and ``secret_env``; the store URL must be https (http only for
loopback). WooCommerce stores codes lower-cased and matches them at checkout whatever their
case, so the code a customer gets from Connectif works as it is. References: docs/shops.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
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

#: The template coupon's fields each new coupon copies.
COPIED = (
    "amount",
    "discount_type",
    "description",
    "date_expires",
    "individual_use",
    "product_ids",
    "excluded_product_ids",
    "usage_limit",
    "usage_limit_per_user",
    "limit_usage_to_x_items",
    "free_shipping",
    "product_categories",
    "excluded_product_categories",
    "exclude_sale_items",
    "minimum_amount",
    "maximum_amount",
    "email_restrictions",
)
API = "/wp-json/wc/v3/coupons"
ORDERS = "/wp-json/wc/v3/orders"
#: orders whose coupons are not (or no longer) used: WooCommerce gives their usage back
NOT_REDEEMED = frozenset({"cancelled", "failed", "refunded", "trash", "checkout-draft"})
PAGE = 100  #: records a list request asks for (the REST API's largest page)
META_KEY = "voucherbot_batch"
TAKEN = "woocommerce_rest_coupon_code_already_exists"
SAMPLE = 3  #: accepted codes of each delivery looked up in the shop


def woocommerce_credentials(settings: SinkSettings, env: Mapping[str, str]) -> tuple[str, str]:
    """The consumer key and secret from ``env``; a missing one is a ConfigError naming its
    variable."""
    key, secret = (
        env_secret(
            env,
            name,
            f"the woocommerce sink reads the {what} from the environment variable {name} "
            "([shop] key_env / secret_env), which is not set or empty; create a REST API "
            "key with write access in WooCommerce > Settings > Advanced > REST API",
        )
        for name, what in ((settings.key_env, "consumer key"), (settings.secret_env, "secret"))
    )
    return key, secret


class WooCommerceSink:
    kind = "woocommerce"
    registers_codes = True

    def __init__(
        self,
        settings: SinkSettings,
        key: str,
        secret: str,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        assert settings.url is not None and settings.template is not None
        self.settings = settings
        self.api = settings.url.rstrip("/") + API
        self._auth = (key, secret)
        self._http = ShopHttp(
            "woocommerce sink",
            timeout=settings.timeout,
            retries=settings.retries,
            session=session,
            sleep=sleep,
        )
        self._template: dict[str, Any] | None = None
        self._now = now

    def __repr__(self) -> str:
        return f"WooCommerceSink({origin(self.api)}, key=<hidden>)"

    def describe(self) -> str:
        return f"WooCommerce sink to {origin(self.api)}"

    # --- reading the shop ----------------------------------------------------------------------

    def _answer(self, response: requests.Response, what: str, codes: Collection[str]) -> Any:
        """The JSON of a 2xx answer; SinkError (one line, cleaned) for anything else."""
        where = origin(self.api)
        status = response.status_code
        kind = response.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            doc = response.json() if "json" in kind else None
        except ValueError:
            doc = None
        if 200 <= status < 300 and doc is not None:
            return doc
        said = ""
        if isinstance(doc, dict) and isinstance(doc.get("message"), str):
            said = ": " + shorten(redact(hide_codes(clean(doc["message"]), codes), *self._auth))
        if doc is None:
            said = f": the answer is {kind or 'not JSON'}, not the WooCommerce REST API's JSON"
        if status in (401, 403):
            hint = (
                "check the consumer key and secret ([shop] key_env, secret_env) and that the "
                "key has read/write access"
            )
        elif status == 413:
            hint = "the shop takes fewer coupons a request: lower [shop] chunk_size"
        elif status == 404:
            hint = "check [shop] url: it is the store's address, and the REST API must be on"
        else:
            hint = "check the shop"
        raise SinkError(
            f"woocommerce sink: {where} refused {what} (HTTP {status}){said}; the codes were "
            f"not imported; {hint}"
        )

    def _find(self, code: str) -> list[dict[str, Any]]:
        response = self._http.send(
            "GET",
            self.api,
            what="a coupon lookup",
            params={"code": code},
            auth=self._auth,
        )
        found = self._answer(response, "a coupon lookup", ())
        if not isinstance(found, list):
            raise SinkError(f"woocommerce sink: {origin(self.api)} answered a lookup oddly")
        return [c for c in found if isinstance(c, dict)]

    def _template_coupon(self) -> dict[str, Any]:
        name = self.settings.template or ""
        found = self._find(name)
        if len(found) != 1:
            raise SinkError(
                f"woocommerce sink: the template coupon {name!r} ([shop] template) is not "
                f"in the shop at {origin(self.api)}; create it there with the rules every "
                "new code should have"
            )
        return found[0]

    def template(self) -> dict[str, Any]:
        """The template coupon's fields to copy (read once)."""
        if self._template is None:
            coupon = self._template_coupon()
            self._template = {k: coupon[k] for k in COPIED if k in coupon}
        return self._template

    # --- reading back --------------------------------------------------------------------------

    def terms(self) -> ShopTerms:
        """The template's expiry and status (read afresh): every new coupon copies them."""
        coupon = self._template_coupon()
        ends = shop_time(coupon.get("date_expires_gmt") or coupon.get("date_expires"))
        status = clean(str(coupon.get("status") or "publish"))
        expired = ends is not None and ends <= self._now()
        return ShopTerms(ends, status == "publish" and not expired, status)

    def usage(self, since: datetime | None, limit: int) -> ShopUsage:
        """The coupon codes of the shop's orders (``GET /orders``, newest first, created
        after ``since``), leaving out orders that give their coupons back (cancelled,
        failed, refunded); at most ``limit`` orders are read."""
        url = self.settings.url.rstrip("/") + ORDERS if self.settings.url else ORDERS
        params: dict[str, Any] = {"per_page": PAGE, "orderby": "date", "order": "desc"}
        if since is not None:
            params |= {
                "after": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "dates_are_gmt": "true",
            }
        redeemed: dict[str, None] = {}
        read = 0
        for page in range(1, limit // PAGE + 2):
            response = self._http.send(
                "GET",
                url,
                what="a read of orders",
                params={**params, "page": page},
                auth=self._auth,
            )
            orders = self._answer(response, "a read of orders", ())
            if not isinstance(orders, list):
                raise SinkError(f"woocommerce sink: {origin(url)} answered a read of orders oddly")
            for order in orders:
                if not isinstance(order, dict) or order.get("status") in NOT_REDEEMED:
                    continue
                for line in order.get("coupon_lines") or ():
                    if isinstance(line, dict) and line.get("code"):
                        redeemed[str(line["code"]).lower()] = None
            read += len(orders)
            pages = _int(response.headers.get("X-WP-TotalPages"))
            if len(orders) < PAGE or (pages is not None and page >= pages):
                return ShopUsage(tuple(redeemed), True, f"{read:,} orders")
            if read >= limit:
                break
        return ShopUsage(tuple(redeemed), False, f"the newest {read:,} orders only")

    def _ours(self, code: str, batch_id: str) -> bool:
        """Whether the coupon that has ``code`` is one this batch created (a re-delivery)."""
        for coupon in self._find(code):
            for meta in coupon.get("meta_data") or ():
                if isinstance(meta, dict) and meta.get("key") == META_KEY:
                    return bool(meta.get("value") == batch_id)
        return False

    # --- delivering ----------------------------------------------------------------------------

    def deliver(self, batch: SinkBatch) -> Refused:
        fields = self.template()
        meta = [{"key": META_KEY, "value": batch.batch_id}]
        refused: Refused = {}
        accepted = Sample(SAMPLE)
        for chunk in chunked(batch.codes, self.settings.chunk_size):
            body = {"create": [{"code": code, **fields, "meta_data": meta} for code in chunk]}
            what = f"{len(chunk)} coupons of batch {batch.batch_id}"
            response = self._http.send(
                "POST", self.api + "/batch", what=what, json=body, auth=self._auth
            )
            answer = self._answer(response, what, chunk)
            created = answer.get("create") if isinstance(answer, dict) else None
            if not isinstance(created, list) or len(created) != len(chunk):
                raise SinkError(
                    f"woocommerce sink: {origin(self.api)} did not answer for each of {what}; "
                    "the codes were not imported"
                )
            for code, item in zip(chunk, created, strict=True):
                error = item.get("error") if isinstance(item, dict) else None
                if not error and _created(item, code):
                    continue
                error = error or {"message": "the shop answered without creating it"}
                if isinstance(error, dict) and error.get("code") == TAKEN:
                    if not self._ours(code, batch.batch_id):
                        refused[code] = "another coupon has this code"
                    continue
                message = error.get("message") if isinstance(error, dict) else None
                text = clean(str(message or "refused"))
                refused[code] = shorten(redact(hide_codes(text, chunk), *self._auth), 120)
            for code in chunk:
                if code not in refused:
                    accepted.add(code)
        self._check(accepted.codes, batch.batch_id)
        return refused

    def _check(self, accepted: list[str], batch_id: str) -> None:
        """Proof from the shop's side: a sample of the accepted codes exists as this batch's
        coupons, published, and not expired."""
        for code in accepted:
            found = [c for c in self._find(code) if c.get("code") == code.lower()]
            ours = [
                c
                for c in found
                if any(
                    isinstance(m, dict) and m.get("key") == META_KEY and m.get("value") == batch_id
                    for m in c.get("meta_data") or ()
                )
            ]
            if not ours:
                raise SinkError(
                    "woocommerce sink: a code the shop said it created is not among its "
                    "coupons; the codes were not imported"
                )
            coupon = ours[0]
            if coupon.get("status") not in (None, "publish"):
                raise SinkError(
                    f"woocommerce sink: the new coupons are {clean(str(coupon['status']))}, not "
                    "published, so they would not redeem; the codes were not imported"
                )
            expires = shop_time(coupon.get("date_expires_gmt") or coupon.get("date_expires"))
            if expires is not None and expires <= self._now():
                raise SinkError(
                    f"woocommerce sink: the template coupon {self.settings.template!r} expired "
                    f"on {expires:%Y-%m-%d}, so the new coupons would not redeem; the codes were "
                    "not imported"
                )


def _created(item: object, code: str) -> bool:
    """Whether an item of a batch answer is the coupon made for ``code``."""
    return (
        isinstance(item, dict)
        and isinstance(item.get("id"), int)
        and item["id"] > 0
        and str(item.get("code", "")).lower() == code.lower()
    )


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None
